"""Filling short gaps in keypoint tracks by linear interpolation between the frames around them."""

import numpy as np


def missing_runs(present):
    """(start, stop) of each run of False in a bool array."""
    runs, start = [], None
    for i, p in enumerate(present):
        if not p and start is None:
            start = i
        elif p and start is not None:
            runs.append((start, i))
            start = None
    if start is not None:
        runs.append((start, len(present)))
    return runs


def fill_gaps(kps, present, max_gap):
    """Interpolate keypoints [N,K,3] over runs of absent frames no longer than max_gap that have frames on both sides.

    A keypoint is interpolated only where it is confident at both ends; its confidence becomes the lower of the two.
    Returns (filled keypoints, bool [N] of the frames that were filled).
    """
    kps = kps.copy()
    filled = np.zeros(len(kps), bool)
    for start, stop in missing_runs(present):
        if start == 0 or stop == len(kps) or stop - start > max_gap:
            continue
        a, b = kps[start - 1], kps[stop]
        ok = (a[:, 2] > 0) & (b[:, 2] > 0)
        for i in range(start, stop):
            t = (i - start + 1) / (stop - start + 1)
            kps[i, ok, :2] = (1 - t) * a[ok, :2] + t * b[ok, :2]
            kps[i, ok, 2] = np.minimum(a[ok, 2], b[ok, 2])
        filled[start:stop] = True
    return kps, filled
