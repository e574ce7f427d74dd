"""OpenPose body-pose decoding: heatmaps (18 keypoints + background) and part affinity fields (19 limbs x (x, y)) ->
people of COCO-18 keypoints (Cao et al. 2017, "Realtime Multi-Person Pose Estimation").

The algorithm is the one of the public ports of the CMU model (the greedy bipartite matching per limb, then people
assembled from connections that share keypoints); what differs is where it runs:

- `decode` does the heavy parts in torch on the tensors' device, for a whole batch at once: the Gaussian blur
  (separable, in float64), the non-maximum suppression (max_pool2d), the sub-pixel refinement, and the PAF line
  integral of every candidate connection of every limb of every image (one gather for all of them). Only the short
  lists of peaks and of the connections that pass the criteria go to the CPU, where `assemble` does the greedy
  matching and builds the people (sequential by nature, and cheap).
- `decode_numpy` is the straightforward per-image NumPy decoder (loops per keypoint, per limb and per candidate pair
  as the public ports do). It is the baseline for benchmarks, and gives the same people as `decode`.

Conventions shared by both:
- Coordinates are (x, y) in the pixels of the grid that was passed in (pixel centres at integers). The thresholds
  are meant for maps at image resolution (the ports upsample the stride-8 network output by 8 first); on the raw
  stride-8 grid a comparable blur is sigma ~ 3 / 8.
- The blur is scipy's `gaussian_filter(sigma, truncate=4)` (kernel radius int(4 sigma + 0.5), 'reflect' borders).
  A peak is a pixel of the blurred map that equals the maximum of its 3x3 neighbourhood and is > `threshold`
  (the ports compare with the 4 direct neighbours only). Like the ports', the 'reflect' border pulls a keypoint
  within ~4 px (at sigma 3, and a target Gaussian of sigma ~3.5) of the map's edge onto the edge.
- A keypoint's confidence is the RAW heatmap value at the peak (as in the ports), at least 1e-6 so that 0 always means
  "missing". With `refine` (default) the reported position is refined to sub-pixel precision by fitting a Gaussian
  (a parabola to the log values; a parabola to the values where a neighbour is <= 0) through the blurred map at the
  peak and its two neighbours along each axis, an offset of at most half a pixel. The PAF is always sampled from the
  integer peak pixels, as in the ports.
- A candidate connection A -> B of a limb samples the PAF at `n_samples` points evenly spaced from A to B (nearest
  pixel), takes the dot product with the unit vector from A to B, and scores mean + min(0.5 * H / |AB| - 1, 0)
  (H = the map's height unless `height` is given). It is kept when more than `min_fraction` of the samples are
  > `paf_threshold` and the score is > 0. Per limb, connections are taken greedily by descending score, each peak
  at most once.
- People: connections are merged into people limb by limb in LIMBS order (the ports' "subset" logic); limbs 17 and
  18 (shoulder -> ear) only join or merge people, never start one. A connection looks at the first two people that
  hold one of its peaks (the ports would fail on a third). One deliberate difference from the ports: when a
  connection would give a person a keypoint it already has (only possible for the redundant shoulder -> ear limbs),
  the person keeps the one it has (the ports overwrite it and count the keypoint twice). People with fewer than
  `min_keypoints` keypoints or a mean score (the sum of its peaks' raw scores and its connections' scores over the
  number of keypoints) below `min_mean_score` are dropped; the others are sorted by the number of keypoints, then
  that total score, descending.
"""

import functools
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ...gaussian import gaussian_kernel as kernel

COCO18 = ("nose", "neck", "r_shoulder", "r_elbow", "r_wrist", "l_shoulder", "l_elbow", "l_wrist", "r_hip", "r_knee",
          "r_ankle", "l_hip", "l_knee", "l_ankle", "r_eye", "l_eye", "r_ear", "l_ear")
N_KEYPOINTS = 18

# (from, to) keypoints of the 19 limbs, 0-based, in the order of the ports (the order of the assembly).
LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13), (1, 0),
         (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17))
# (x, y) channels of each limb in the 38-channel PAF tensor (the ports' mapIdx minus 19).
PAF_CHANNELS = ((12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5), (6, 7), (8, 9),
                (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27))
N_TREE_LIMBS = 17  # limbs that may start a person; the last two (shoulder -> ear) only join or merge people

THRESHOLD = 0.1        # heatmap peak threshold (on the blurred map)
SIGMA = 3.0            # Gaussian blur of the heatmaps, in pixels of the grid passed in
PAF_THRESHOLD = 0.05   # a PAF sample passes when its dot product with the limb's direction is above this
N_SAMPLES = 10         # PAF samples per candidate connection
MIN_FRACTION = 0.8     # a connection is kept when more than this fraction of its samples pass
MIN_KEYPOINTS = 4      # people with fewer keypoints are dropped
MIN_MEAN_SCORE = 0.4   # people whose total score per keypoint is lower are dropped
MIN_CONFIDENCE = 1e-6  # reported confidences are at least this (0 means a missing keypoint)

_LIMB_A = np.array([a for a, _ in LIMBS])
_LIMB_B = np.array([b for _, b in LIMBS])


class LimbCandidates(NamedTuple):
    """Candidate connections that pass the PAF criteria (1-D tensors of equal length C), ordered by image, limb, then
    (peak_a, peak_b) in the order of the peaks (the order the ports enumerate their candidate pairs)."""
    image: torch.Tensor     # long [C]
    limb: torch.Tensor      # long [C], index into LIMBS
    peak_a: torch.Tensor    # long [C], row of the limb's "from" keypoint in the peaks tensor
    peak_b: torch.Tensor    # long [C], row of the "to" keypoint
    score: torch.Tensor     # float [C], mean PAF score along the segment + distance prior
    fraction: torch.Tensor  # float [C], fraction of the samples above paf_threshold


# ---- shared helpers --------------------------------------------------------------------------------------------------

def gaussian_kernel(sigma, truncate=4.0):
    """scipy.ndimage's 1-D Gaussian kernel: radius int(truncate * sigma + 0.5), normalised to sum 1 (float64)."""
    return kernel(sigma, int(truncate * float(sigma) + 0.5))


def _reflect_index(n, r):
    """Indices of 0..n-1 padded by r on both sides with scipy's 'reflect' (d c b a | a b c d | d c b a), any r."""
    i = np.mod(np.arange(-r, n + r), 2 * n)
    return np.where(i >= n, 2 * n - 1 - i, i)


def _subpixel(lo, mid, hi, xp):
    """Offset (in [-0.5, 0.5]) of the maximum of a Gaussian (parabola of the logs; of the values where one is <= 0)
    through (-1, lo), (0, mid), (1, hi). xp is np or torch."""
    positive = (lo > 0) & (mid > 0) & (hi > 0)
    if xp is np:
        safe = lambda v: np.log(np.where(positive, v, 1.0))  # noqa: E731
    else:
        safe = lambda v: torch.log(torch.where(positive, v, torch.ones_like(v)))  # noqa: E731
    lo2, mid2, hi2 = (xp.where(positive, safe(v), v) for v in (lo, mid, hi))
    den = lo2 - 2 * mid2 + hi2
    ok = den < 0
    den = xp.where(ok, den, -xp.ones_like(den))
    off = xp.where(ok, 0.5 * (lo2 - hi2) / den, xp.zeros_like(den))
    return xp.clip(off, -0.5, 0.5)


def _check_thresholds(n_samples, sigma):
    if int(n_samples) < 1:
        raise ValueError(f"n_samples must be >= 1, got {n_samples}")
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")


# ---- device decoding (torch) -----------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=16)
def _blur_matrix(size, sigma):
    """[size, size] float64 matrix B with B @ v = the 1-D Gaussian blur of v (scipy's kernel, 'reflect' borders)."""
    k = gaussian_kernel(sigma)
    idx = _reflect_index(size, (len(k) - 1) // 2)
    rows = np.arange(size)
    b = np.zeros((size, size))
    for i, weight in enumerate(k):
        np.add.at(b, (rows, idx[rows + i]), weight)
    return b


def blur(maps, sigma=SIGMA):
    """Gaussian blur of every channel of maps [N,C,H,W] on their device, returned in float64: scipy's
    gaussian_filter(sigma, truncate=4, mode='reflect'), separable, as two matrix products with banded matrices that
    fold the borders in (B_H @ map @ B_W^T). float64 keeps it free of TF32 and equal to blur_numpy's to ~1e-15.
    sigma 0 returns maps unchanged (as float64)."""
    maps = maps.double()
    if sigma == 0:
        return maps
    h, w = maps.shape[-2:]
    bh = torch.as_tensor(_blur_matrix(h, float(sigma)), device=maps.device)
    bw = torch.as_tensor(_blur_matrix(w, float(sigma)), device=maps.device)
    return bh @ maps @ bw.T


def _detect(heatmaps, threshold, sigma):
    """(raw maps [N,18,H,W] float32, blurred maps, integer peak indices [P,4] (image, keypoint, y, x))."""
    if heatmaps.dim() != 4 or heatmaps.shape[1] < N_KEYPOINTS:
        raise ValueError(f"heatmaps must be [N,18 or 19,H,W], got {tuple(heatmaps.shape)}")
    raw = heatmaps[:, :N_KEYPOINTS].float()
    blurred = blur(raw, sigma)  # float64: peaks and ties as in decode_numpy
    is_peak = (blurred == F.max_pool2d(blurred, 3, stride=1, padding=1)) & (blurred > threshold)
    return raw, blurred, is_peak.nonzero()


def _refine(blurred, idx):
    """Sub-pixel (y, x) [P] (float32) of the integer peaks idx [P,4] in the blurred maps."""
    n, k, y, x = idx.unbind(1)
    h, w = blurred.shape[-2:]
    mid = blurred[n, k, y, x]
    ys = (y.float(), _subpixel(blurred[n, k, (y - 1).clamp(min=0), x], mid, blurred[n, k, (y + 1).clamp(max=h - 1), x],
                               torch))
    xs = (x.float(), _subpixel(blurred[n, k, y, (x - 1).clamp(min=0)], mid, blurred[n, k, y, (x + 1).clamp(max=w - 1)],
                               torch))
    # a peak on the border has no neighbour outside the map: no refinement across it
    oy = torch.where((y > 0) & (y < h - 1), ys[1], torch.zeros_like(ys[1]))
    ox = torch.where((x > 0) & (x < w - 1), xs[1], torch.zeros_like(xs[1]))
    return ys[0] + oy.float(), xs[0] + ox.float()


def find_peaks(heatmaps, threshold=THRESHOLD, sigma=SIGMA, refine=False):
    """Keypoint peaks of heatmaps [N,18 or 19,H,W] (any float dtype, any device; channels past 18 are ignored).

    The maps are blurred (see `blur`); a peak is a pixel of the blurred map equal to the max of its 3x3 neighbourhood
    and > threshold. Returns a float32 tensor [P,5] on the maps' device, rows (image, keypoint, y, x, score) ordered
    by image, keypoint, y, x; score = the RAW heatmap value at the peak. y and x are the integer peak pixels, or with
    refine=True the sub-pixel refined positions (see the module's docstring).
    """
    with torch.no_grad():
        raw, blurred, idx = _detect(torch.as_tensor(heatmaps), threshold, sigma)
        n, k, y, x = idx.unbind(1)
        yx = _refine(blurred, idx) if refine else (y.float(), x.float())
        return torch.stack([n.float(), k.float(), yx[0], yx[1], raw[n, k, y, x]], 1)


def score_limbs(pafs, peaks, n_samples=N_SAMPLES, paf_threshold=PAF_THRESHOLD, min_fraction=MIN_FRACTION,
                height=None):
    """Scores every candidate connection of every limb of every image at once, on the PAFs' device.

    pafs: [N,38,H,W]; peaks: [P,5] rows (image, keypoint, y, x, score) as `find_peaks` returns them (y, x are rounded
    to the nearest pixel). All pairs (A of the limb's "from" keypoint, B of its "to" keypoint, same image) are
    sampled with one gather. height: H of the distance prior (default: the maps' height).
    Returns the LimbCandidates that pass the criteria (more than min_fraction of the samples > paf_threshold, and
    score > 0), on the device.
    """
    _check_thresholds(n_samples, 0)
    pafs = torch.as_tensor(pafs)
    if pafs.dim() != 4 or pafs.shape[1] != 2 * len(LIMBS):
        raise ValueError(f"pafs must be [N,38,H,W], got {tuple(pafs.shape)}")
    dev = pafs.device
    n_img, n_ch, h, w = pafs.shape
    height = h if height is None else height
    peaks = torch.as_tensor(peaks, device=dev)
    empty = torch.zeros(0, dtype=torch.long, device=dev)
    with torch.no_grad():
        img, kp = peaks[:, 0].long(), peaks[:, 1].long()
        group = img * N_KEYPOINTS + kp
        order = torch.sort(group, stable=True).indices          # peaks grouped by (image, keypoint)
        counts = torch.bincount(group, minlength=n_img * N_KEYPOINTS)
        starts = (counts.cumsum(0) - counts).view(n_img, N_KEYPOINTS)
        counts = counts.view(n_img, N_KEYPOINTS)
        la, lb = torch.as_tensor(_LIMB_A, device=dev), torch.as_tensor(_LIMB_B, device=dev)
        n_a, n_b = counts[:, la], counts[:, lb]                  # [N,19]
        pairs = (n_a * n_b).flatten()                            # candidates of each (image, limb) block
        total = int(pairs.sum())
        if total == 0:
            return LimbCandidates(empty, empty, empty, empty, torch.zeros(0, device=dev), torch.zeros(0, device=dev))
        block = torch.repeat_interleave(torch.arange(len(pairs), device=dev), pairs, output_size=total)
        local = torch.arange(total, device=dev) - (pairs.cumsum(0) - pairs)[block]
        bi, bl = block // len(LIMBS), block % len(LIMBS)
        nb = n_b.flatten()[block]
        pa = order[starts[bi, la[bl]] + local // nb]
        pb = order[starts[bi, lb[bl]] + local % nb]

        ya, xa = peaks[pa, 2].round().double(), peaks[pa, 3].round().double()
        yb, xb = peaks[pb, 2].round().double(), peaks[pb, 3].round().double()
        den = max(int(n_samples) - 1, 1)
        t = torch.arange(int(n_samples), device=dev, dtype=torch.float64)
        # (a * den + (b - a) * i) / den: exact integers over den, so ties round the same way as in decode_numpy
        xs = ((xa * den)[:, None] + (xb - xa)[:, None] * t) / den
        ys = ((ya * den)[:, None] + (yb - ya)[:, None] * t) / den
        xs = xs.round().long().clamp(0, w - 1)
        ys = ys.round().long().clamp(0, h - 1)
        ch = torch.as_tensor(PAF_CHANNELS, device=dev)[bl]      # [T,2]
        flat_x = ((bi * n_ch + ch[:, 0])[:, None] * h + ys) * w + xs
        flat_y = flat_x + ((ch[:, 1] - ch[:, 0]) * h * w)[:, None]
        v = pafs.reshape(-1)[torch.stack([flat_x, flat_y])].float()  # one gather: [2,T,S]

        dx, dy = (xb - xa).float(), (yb - ya).float()
        norm = torch.sqrt(dx * dx + dy * dy).clamp(min=1e-8)
        along = v[0] * (dx / norm)[:, None] + v[1] * (dy / norm)[:, None]   # [T,S]
        score = along.mean(1) + (0.5 * height / norm - 1).clamp(max=0)
        passed = (along > paf_threshold).sum(1)
        keep = ((passed > min_fraction * int(n_samples)) & (score > 0)).nonzero()[:, 0]
        return LimbCandidates(bi[keep], bl[keep], pa[keep], pb[keep], score[keep],
                              passed[keep].float() / int(n_samples))


def assemble(peaks, candidates, n_images, min_keypoints=MIN_KEYPOINTS, min_mean_score=MIN_MEAN_SCORE):
    """People from peaks [P,5] (image, keypoint, y, x, score; y, x are the reported positions) and the
    LimbCandidates of `score_limbs` (their peak rows index peaks): per image and limb the greedy matching, then the
    people assembled limb by limb. Runs on the CPU (tensors are moved there).

    Returns a list of n_images float32 arrays [P,18,3] of (x, y, confidence), 0 for missing keypoints, sorted by the
    number of keypoints, then the total score, descending.
    """
    as_np = lambda v: v.detach().cpu().numpy() if torch.is_tensor(v) else np.asarray(v)  # noqa: E731
    peaks = as_np(peaks).astype(np.float64).reshape(-1, 5)
    image, limb, pa, pb, score = (as_np(v) for v in candidates[:5])
    image, limb, pa, pb = (v.astype(np.int64) for v in (image, limb, pa, pb))
    score = score.astype(np.float64)
    # stable sorts: by image and limb, within them by descending score, ties in candidate order
    order = np.argsort(-score, kind="stable")
    order = order[np.argsort((image * len(LIMBS) + limb)[order], kind="stable")]
    bounds = np.searchsorted((image * len(LIMBS) + limb)[order], np.arange(n_images * len(LIMBS) + 1))

    out = []
    for n in range(n_images):
        people = []  # [ids (18,) int, total score, keypoint count]
        for k, (A, B) in enumerate(LIMBS):
            used_a, used_b = set(), set()
            for c in order[bounds[n * len(LIMBS) + k]:bounds[n * len(LIMBS) + k + 1]]:
                a, b, s = int(pa[c]), int(pb[c]), float(score[c])
                if a in used_a or b in used_b:
                    continue
                used_a.add(a)
                used_b.add(b)
                _join(people, k, A, B, a, b, s, peaks[:, 4])
        people = [p for p in people if p[2] >= min_keypoints and p[1] / p[2] >= min_mean_score]
        people.sort(key=lambda p: (-p[2], -p[1]))
        arr = np.zeros((len(people), N_KEYPOINTS, 3), np.float32)
        for i, (ids, _, _) in enumerate(people):
            has = ids >= 0
            rows = peaks[ids[has]]
            arr[i, has] = np.stack([rows[:, 3], rows[:, 2], np.maximum(rows[:, 4], MIN_CONFIDENCE)], 1)
        out.append(arr)
    return out


def _join(people, k, A, B, a, b, s, peak_score):
    """Adds connection (a -> b, score s) of limb k (keypoints A -> B) to the people (the ports' subset logic)."""
    found = [i for i, p in enumerate(people) if p[0][A] == a or p[0][B] == b][:2]
    if len(found) == 2 and not np.any((people[found[0]][0] >= 0) & (people[found[1]][0] >= 0)):  # disjoint: merge
        p, q = people[found[0]], people.pop(found[1])
        p[0] = np.maximum(p[0], q[0])
        p[1] += q[1] + s
        p[2] += q[2]
    elif found:
        p = people[found[0]]
        if p[0][B] < 0:
            p[0][B] = b
            p[1] += peak_score[b] + s
            p[2] += 1
    elif k < N_TREE_LIMBS:
        ids = np.full(N_KEYPOINTS, -1, np.int64)
        ids[A], ids[B] = a, b
        people.append([ids, peak_score[a] + peak_score[b] + s, 2])


def decode(heatmaps, pafs, threshold=THRESHOLD, sigma=SIGMA, paf_threshold=PAF_THRESHOLD, n_samples=N_SAMPLES,
           min_fraction=MIN_FRACTION, min_keypoints=MIN_KEYPOINTS, min_mean_score=MIN_MEAN_SCORE, refine=True,
           height=None):
    """People in a batch: heatmaps [N,18 or 19,H,W] and pafs [N,38,H,W] (torch tensors on any device, or arrays).

    Blur, peaks, refinement and PAF scoring run on the device for the whole batch; the assembly on the CPU.
    Returns a list of N float32 arrays [P,18,3]: (x, y) in pixels of the H x W grid, confidence = the peak's raw
    heatmap value, 0 for a missing keypoint; people sorted by number of keypoints, then total score, descending.
    """
    _check_thresholds(n_samples, sigma)
    heatmaps = torch.as_tensor(heatmaps)
    pafs = torch.as_tensor(pafs, device=heatmaps.device)
    if pafs.dim() != 4 or heatmaps.dim() != 4 or pafs.shape[0] != heatmaps.shape[0] \
            or pafs.shape[2:] != heatmaps.shape[2:]:
        raise ValueError(f"heatmaps {tuple(heatmaps.shape)} and pafs {tuple(pafs.shape)} must be [N,19,H,W] and "
                         f"[N,38,H,W]")
    with torch.no_grad():
        raw, blurred, idx = _detect(heatmaps, threshold, sigma)
        n, k, y, x = idx.unbind(1)
        score = raw[n, k, y, x]
        peaks = torch.stack([n.float(), k.float(), y.float(), x.float(), score], 1)
        cands = score_limbs(pafs, peaks, n_samples, paf_threshold, min_fraction, height)
        if refine:
            ry, rx = _refine(blurred, idx)
            peaks = torch.stack([n.float(), k.float(), ry, rx, score], 1)
    return assemble(peaks, cands, heatmaps.shape[0], min_keypoints, min_mean_score)


# ---- the straightforward per-image NumPy decoder (the benchmark baseline) --------------------------------------------

def blur_numpy(m, sigma=SIGMA):
    """Gaussian blur of one map [H,W] (float64): scipy's gaussian_filter(sigma, truncate=4), 'reflect' borders, as
    two 1-D convolutions."""
    if sigma == 0:
        return m
    k = gaussian_kernel(sigma)
    r = (len(k) - 1) // 2
    h, w = m.shape
    p = m[_reflect_index(h, r)]
    col = sum(k[i] * p[i:i + h] for i in range(len(k)))
    p = col[:, _reflect_index(w, r)]
    return sum(k[i] * p[:, i:i + w] for i in range(len(k)))


def decode_numpy(heatmap, paf, threshold=THRESHOLD, sigma=SIGMA, paf_threshold=PAF_THRESHOLD, n_samples=N_SAMPLES,
                 min_fraction=MIN_FRACTION, min_keypoints=MIN_KEYPOINTS, min_mean_score=MIN_MEAN_SCORE, refine=True,
                 height=None):
    """People in one image: heatmap [H,W,18 or 19] and paf [H,W,38] (channels last, as the ports hold them), in plain
    NumPy with loops per keypoint, limb and candidate pair. Returns a float32 array [P,18,3] like one item of
    `decode`, which it matches on the same inputs."""
    _check_thresholds(n_samples, sigma)
    heatmap, paf = np.asarray(heatmap), np.asarray(paf)
    if heatmap.ndim != 3 or heatmap.shape[2] < N_KEYPOINTS or paf.shape != heatmap.shape[:2] + (2 * len(LIMBS),):
        raise ValueError(f"heatmap {heatmap.shape} and paf {paf.shape} must be [H,W,19] and [H,W,38]")
    h, w = heatmap.shape[:2]
    height = h if height is None else height

    # peaks: per keypoint, (x, y, raw score, id, reported x, reported y)
    all_peaks, candidate = [], []
    for part in range(N_KEYPOINTS):
        raw = heatmap[:, :, part].astype(np.float64)
        blurred = blur_numpy(raw, sigma)
        padded = np.pad(blurred, 1, constant_values=-np.inf)
        is_peak = blurred > threshold
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy or dx:
                    is_peak &= blurred >= padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
        peaks = []
        for y, x in zip(*np.nonzero(is_peak)):
            rx, ry = float(x), float(y)
            if refine:
                if 0 < x < w - 1:
                    rx += float(_subpixel(blurred[y, x - 1], blurred[y, x], blurred[y, x + 1], np))
                if 0 < y < h - 1:
                    ry += float(_subpixel(blurred[y - 1, x], blurred[y, x], blurred[y + 1, x], np))
            peaks.append((int(x), int(y), float(raw[y, x]), len(candidate), rx, ry))
            candidate.append(peaks[-1])
        all_peaks.append(peaks)

    # connections per limb: all candidate pairs, then greedy by score
    den = max(int(n_samples) - 1, 1)
    connection_all = []
    for k, ((A, B), (cx, cy)) in enumerate(zip(LIMBS, PAF_CHANNELS)):
        cand_a, cand_b = all_peaks[A], all_peaks[B]
        scored = []
        for i, pa in enumerate(cand_a):
            for j, pb in enumerate(cand_b):
                vx, vy = pb[0] - pa[0], pb[1] - pa[1]
                norm = max(np.sqrt(vx * vx + vy * vy), 1e-8)
                along = np.zeros(int(n_samples))
                for s in range(int(n_samples)):
                    sx = int(np.rint((pa[0] * den + vx * s) / den))
                    sy = int(np.rint((pa[1] * den + vy * s) / den))
                    along[s] = paf[sy, sx, cx] * vx / norm + paf[sy, sx, cy] * vy / norm
                score = along.mean() + min(0.5 * height / norm - 1, 0)
                if np.count_nonzero(along > paf_threshold) > min_fraction * int(n_samples) and score > 0:
                    scored.append((i, j, score))
        scored.sort(key=lambda c: c[2], reverse=True)
        connection = []  # (id a, id b, score)
        used_i, used_j = set(), set()
        for i, j, score in scored:
            if i not in used_i and j not in used_j:
                used_i.add(i)
                used_j.add(j)
                connection.append((cand_a[i][3], cand_b[j][3], score))
                if len(connection) >= min(len(cand_a), len(cand_b)):
                    break
        connection_all.append(connection)

    # people: rows of 18 peak ids, total score, keypoint count (the ports' "subset")
    subset = np.zeros((0, N_KEYPOINTS + 2))
    for k, (A, B) in enumerate(LIMBS):
        for a, b, s in connection_all[k]:
            found = [j for j in range(len(subset)) if subset[j][A] == a or subset[j][B] == b][:2]
            if len(found) == 2 and not np.any((subset[found[0], :-2] >= 0) & (subset[found[1], :-2] >= 0)):
                j1, j2 = found
                subset[j1][:-2] += subset[j2][:-2] + 1
                subset[j1][-2:] += subset[j2][-2:]
                subset[j1][-2] += s
                subset = np.delete(subset, j2, 0)
            elif found:
                j = found[0]
                if subset[j][B] < 0:
                    subset[j][B] = b
                    subset[j][-1] += 1
                    subset[j][-2] += candidate[b][2] + s
            elif k < N_TREE_LIMBS:
                row = -np.ones(N_KEYPOINTS + 2)
                row[A], row[B] = a, b
                row[-1] = 2
                row[-2] = candidate[a][2] + candidate[b][2] + s
                subset = np.vstack([subset, row])
    keep = [row for row in subset if row[-1] >= min_keypoints and row[-2] / row[-1] >= min_mean_score]
    keep.sort(key=lambda row: (-row[-1], -row[-2]))
    out = np.zeros((len(keep), N_KEYPOINTS, 3), np.float32)
    for p, row in enumerate(keep):
        for part in range(N_KEYPOINTS):
            if row[part] >= 0:
                c = candidate[int(row[part])]
                out[p, part] = (c[4], c[5], max(c[2], MIN_CONFIDENCE))
    return out
