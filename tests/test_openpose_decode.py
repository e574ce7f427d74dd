"""OpenPose decoding (dancenow.pose.openpose.decode) on constructed heatmaps and PAFs shaped like the network's training
targets: a Gaussian of peak 1 per keypoint, background = 1 - max, and the limb's unit vector on the pixels near it."""

import numpy as np
import pytest
import torch

from dancenow.pose.openpose import decode as D

H, W = 96, 128

# a standing person facing the camera (its right on the image's left), offsets from (centre x, top y)
TEMPLATE = np.array([
    (0, 0), (0, 8), (-8, 8), (-12, 20), (-14, 31), (8, 8), (12, 20), (14, 31), (-5, 30), (-6, 44), (-6, 57),
    (5, 30), (6, 44), (6, 57), (-2, -2), (2, -2), (-4, 0), (4, 0)], np.float64)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def person(cx, top, scale=1.0, jitter=None, **moves):
    """[18,2] keypoints; moves: COCO-18 name -> (x, y) absolute positions; jitter: rng for sub-pixel offsets."""
    kps = TEMPLATE * scale + (cx, top)
    if jitter is not None:
        kps = kps + jitter.uniform(-0.4, 0.4, kps.shape)
    for name, xy in moves.items():
        kps[D.COCO18.index(name)] = xy
    return kps


def render(people, h=H, w=W, sigma=3.5, width=2.0):
    """(heatmaps [19,h,w], pafs [38,h,w]) float32 of people ([18,2] arrays; NaN or outside the map = not labelled).
    Keypoint channels take the max over people; PAFs are averaged where people overlap (as OpenPose's targets)."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    heat = np.zeros((19, h, w))
    paf_sum, paf_n = np.zeros((38, h, w)), np.zeros((38, h, w))
    for kps in people:
        vis = visible(kps, h, w)
        for k in np.nonzero(vis)[0]:
            g = np.exp(-((xs - kps[k, 0]) ** 2 + (ys - kps[k, 1]) ** 2) / (2 * sigma ** 2))
            heat[k] = np.maximum(heat[k], g)
        for (a, b), (cx, cy) in zip(D.LIMBS, D.PAF_CHANNELS):
            if not (vis[a] and vis[b]):
                continue
            d = kps[b] - kps[a]
            length = np.hypot(*d)
            u = d / length
            px, py = xs - kps[a, 0], ys - kps[a, 1]
            along, across = px * u[0] + py * u[1], np.abs(px * u[1] - py * u[0])
            on = (along >= -width) & (along <= length + width) & (across <= width)  # a bit past the ends
            paf_sum[cx][on] += u[0]
            paf_sum[cy][on] += u[1]
            paf_n[cx][on] += 1
            paf_n[cy][on] += 1
    heat[18] = 1 - heat[:18].max(0)
    pafs = paf_sum / np.maximum(paf_n, 1)
    return heat.astype(np.float32), pafs.astype(np.float32)


def visible(kps, h=H, w=W):
    return np.isfinite(kps).all(1) & (kps[:, 0] >= 0) & (kps[:, 0] <= w - 1) & (kps[:, 1] >= 0) & (kps[:, 1] <= h - 1)


def decode_one(heat, pafs, device="cpu", **kw):
    return D.decode(torch.from_numpy(heat)[None].to(device), torch.from_numpy(pafs)[None].to(device), **kw)[0]


def decode_np(heat, pafs, **kw):
    return D.decode_numpy(heat.transpose(1, 2, 0), pafs.transpose(1, 2, 0), **kw)


def assert_recovers(found, people, tol=1.0):
    """Each constructed person is one recovered person: visible keypoints within tol px, the others missing."""
    assert found.shape == (len(people), 18, 3), found.shape
    unused = list(range(len(found)))
    for kps in people:
        vis = visible(kps)
        errs = [np.abs(found[i, vis, :2] - kps[vis]).max() for i in unused]
        best = unused.pop(int(np.argmin(errs)))
        got = found[best]
        assert (got[vis, 2] > 0).all(), np.nonzero(got[:, 2] == 0)[0]
        assert (got[~vis, 2] == 0).all() and (got[~vis, :2] == 0).all()
        assert np.abs(got[vis, :2] - kps[vis]).max() <= tol, np.abs(got[vis, :2] - kps[vis]).max(1)


def assert_same_people(a, b, tol=1e-3):
    """Same people (any order): same keypoints present, positions and confidences within tol."""
    assert a.shape == b.shape, (a.shape, b.shape)
    unused = list(range(len(b)))
    for p in a:
        for i in unused:
            q = b[i]
            if ((p[:, 2] > 0) == (q[:, 2] > 0)).all() and np.abs(p - q).max() <= tol:
                unused.remove(i)
                break
        else:
            raise AssertionError(f"no match for person {p}")


def scene(name):
    rng = np.random.default_rng(0)
    if name == "one":
        return [person(64, 20, jitter=rng)]
    if name == "two":
        return [person(36, 18, jitter=rng), person(90, 24, jitter=rng)]
    if name == "three":
        return [person(22, 20, jitter=rng), person(64, 14, jitter=rng), person(106, 26, jitter=rng)]
    if name == "cross":  # A's left forearm crosses B's right forearm
        return [person(44.2, 20.3, l_elbow=(58.3, 42.2), l_wrist=(74.1, 52.3)),
                person(84.1, 20.2, r_elbow=(78.2, 42.1), r_wrist=(56.3, 52.2))]
    if name == "cross_same":  # both left forearms cross (B reaches across its body)
        return [person(44.2, 20.3, l_elbow=(58.3, 42.2), l_wrist=(74.1, 54.3)),
                person(84.1, 20.2, l_shoulder=(92.1, 28.2), l_elbow=(74.3, 40.1), l_wrist=(58.2, 54.1))]
    if name == "cut":  # ankles below the frame, another person's right forearm past the left edge
        # (visible keypoints >= 6 px inside: the blur's 'reflect' border pulls peaks closer to it onto the edge)
        return [person(70, 40, jitter=rng), person(16, 16, jitter=rng, r_elbow=(-3, 30), r_wrist=(-12, 36))]
    raise KeyError(name)


SCENES = ["one", "two", "three", "cross", "cross_same", "cut"]


def random_scene(seed):
    """2 to 4 people of random size, some keypoints not labelled, low noise and a few stray single keypoints."""
    rng = np.random.default_rng(seed)
    people = []
    for i in range(rng.integers(2, 5)):
        kps = person(rng.uniform(10, 118), rng.uniform(-10, 40), scale=rng.uniform(0.7, 1.1), jitter=rng)
        kps[rng.random(18) < 0.1] = np.nan
        people.append(kps)
    heat, pafs = render(people)
    strays = render([np.where(rng.random((18, 1)) < 0.15, rng.uniform(0, 96, (18, 2)), np.nan)])[0]
    heat[:18] = np.maximum(heat[:18], strays[:18]) + rng.uniform(0, 0.05, heat[:18].shape).astype(np.float32)
    pafs += rng.normal(0, 0.02, pafs.shape).astype(np.float32)
    return heat, pafs


# ---- tests ---------------------------------------------------------------------------------------------------------

def test_constants_match_the_published_tables():
    limbs_1based = [[2, 3], [2, 6], [3, 4], [4, 5], [6, 7], [7, 8], [2, 9], [9, 10], [10, 11], [2, 12], [12, 13],
                    [13, 14], [2, 1], [1, 15], [15, 17], [1, 16], [16, 18], [3, 17], [6, 18]]
    paf_idx = [[31, 32], [39, 40], [33, 34], [35, 36], [41, 42], [43, 44], [19, 20], [21, 22], [23, 24], [25, 26],
               [27, 28], [29, 30], [47, 48], [49, 50], [53, 54], [51, 52], [55, 56], [37, 38], [45, 46]]
    assert D.LIMBS == tuple((a - 1, b - 1) for a, b in limbs_1based)
    assert D.PAF_CHANNELS == tuple((a - 19, b - 19) for a, b in paf_idx)
    assert sorted(c for pair in D.PAF_CHANNELS for c in pair) == list(range(38))
    assert len(D.COCO18) == 18 and D.COCO18[1] == "neck" and D.COCO18[17] == "l_ear"


def test_blur_is_scipys_gaussian_filter_and_peaks_are_found():
    rng = np.random.default_rng(1)
    m = rng.random((9, 13))
    # scipy.ndimage.gaussian_filter(m, 1.5) with mode 'reflect', computed the slow way
    k = D.gaussian_kernel(1.5)
    r = len(k) // 2
    pad = np.pad(m, r, mode="symmetric")
    ref = np.array([[(np.outer(k, k) * pad[y:y + 2 * r + 1, x:x + 2 * r + 1]).sum() for x in range(13)]
                    for y in range(9)])
    np.testing.assert_allclose(D.blur_numpy(m, 1.5), ref, rtol=1e-12)
    np.testing.assert_allclose(D.blur(torch.from_numpy(m)[None, None], 1.5)[0, 0].numpy(), ref, rtol=1e-12)
    # a radius larger than the map reflects again
    np.testing.assert_allclose(D.blur(torch.from_numpy(m)[None, None], 3.0)[0, 0].numpy(), D.blur_numpy(m, 3.0),
                               rtol=1e-12)

    heat, _ = render([person(40, 20), person(90, 20)])
    peaks = D.find_peaks(torch.from_numpy(heat)[None].repeat(2, 1, 1, 1))
    assert peaks.shape == (2 * 2 * 18, 5)
    first = peaks[peaks[:, 0] == 0]
    np.testing.assert_array_equal(first[:, 1].numpy(), np.repeat(np.arange(18), 2))
    nose = first[first[:, 1] == 0]
    np.testing.assert_array_equal(nose[:, 2:4].numpy(), [[20, 40], [20, 90]])  # (y, x)
    np.testing.assert_allclose(nose[:, 4].numpy(), 1.0)  # the raw heatmap's value


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ["one", "two", "three"])
def test_recovers_separate_people(name, device):
    people = scene(name)
    found = decode_one(*render(people), device=device)
    assert_recovers(found, people)
    assert np.allclose(found[:, :, 2], 1.0, atol=0.02)  # confidence = the raw heatmap at the peak


def test_subpixel_refinement():
    people = scene("three")  # keypoints at random sub-pixel positions
    heat, pafs = render(people)
    err = {}
    for refine in (True, False):
        found = decode_one(heat, pafs, refine=refine)
        err[refine] = np.mean([min(np.abs(f[:, :2] - p).mean() for f in found) for p in people])
    assert err[True] < 0.1 < err[False], err


@pytest.mark.parametrize("name", ["cross", "cross_same"])
def test_crossing_forearms_go_to_the_right_person(name):
    people = scene(name)
    heat, pafs = render(people)
    for found in (decode_one(heat, pafs), decode_np(heat, pafs)):
        assert_recovers(found, people)
        for p in found:  # elbows and wrists stay on the side of their own shoulders' person
            neck = p[1, 0]
            truth = min(people, key=lambda t: abs(t[1, 0] - neck))
            for k in (3, 4, 6, 7):
                assert np.abs(p[k, :2] - truth[k]).max() <= 1.0, (D.COCO18[k], p[k], truth[k])


def test_person_cut_off_at_the_frame_edge():
    people = scene("cut")
    found = decode_one(*render(people))
    assert_recovers(found, people)
    legs, arm = people
    assert not visible(legs)[[10, 13]].any() and visible(legs)[[9, 12]].all()
    assert not visible(arm)[[3, 4]].any() and visible(arm)[2]
    low = found[np.argmax(found[:, 1, 1])]
    assert low[10, 2] == 0 and low[13, 2] == 0 and low[9, 2] > 0 and low[12, 2] > 0


@pytest.mark.parametrize("name", SCENES + ["random0", "random1", "random2"])
def test_decode_numpy_gives_the_same_people(name):
    if name.startswith("random"):
        heat, pafs = random_scene(int(name[-1]))
    else:
        heat, pafs = render(scene(name))
    fast, slow = decode_one(heat, pafs), decode_np(heat, pafs)
    assert len(fast) >= (1 if name.startswith("random") else len(scene(name)))
    assert_same_people(fast, slow)
    assert_same_people(decode_one(heat, pafs, refine=False), decode_np(heat, pafs, refine=False))


@pytest.mark.parametrize("device", DEVICES)
def test_batch_equals_one_image_at_a_time(device):
    maps = [render(scene(n)) for n in ["one", "three", "cut", "cross"]]
    maps.insert(2, (np.zeros((19, H, W), np.float32), np.zeros((38, H, W), np.float32)))
    maps.append(random_scene(3))
    heat = torch.from_numpy(np.stack([m[0] for m in maps])).to(device)
    pafs = torch.from_numpy(np.stack([m[1] for m in maps])).to(device)
    batch = D.decode(heat, pafs)
    assert len(batch) == len(maps)
    for (h, p), got in zip(maps, batch):
        alone = decode_one(h, p, device=device)
        assert got.dtype == np.float32
        assert_same_people(got, alone, tol=1e-4)
    assert batch[2].shape == (0, 18, 3)
    assert [len(b) for b in batch[:2]] == [1, 3]


def test_nothing_above_threshold_gives_no_people():
    heat = np.zeros((19, H, W), np.float32)
    heat[18] = 1
    heat[:18] = np.random.default_rng(2).uniform(0, 0.09, (18, H, W))  # the blur keeps it under 0.1
    pafs = np.zeros((38, H, W), np.float32)
    found = D.decode(torch.from_numpy(heat)[None].repeat(3, 1, 1, 1), torch.from_numpy(pafs)[None].repeat(3, 1, 1, 1))
    assert [f.shape for f in found] == [(0, 18, 3)] * 3
    assert decode_np(heat, pafs).shape == (0, 18, 3)
    assert D.find_peaks(torch.from_numpy(heat)[None]).shape == (0, 5)
    cands = D.score_limbs(torch.from_numpy(pafs)[None], torch.zeros(0, 5))
    assert len(cands.score) == 0


def test_people_with_few_keypoints_or_no_limbs_are_dropped():
    kps = np.full((18, 2), np.nan)
    kps[[1, 2, 3]] = [(60, 30), (52, 30), (48, 42)]  # neck, r-shoulder, r-elbow: 3 keypoints < 4
    heat, pafs = render([kps])
    assert len(decode_one(heat, pafs)) == 0
    assert len(decode_one(heat, pafs, min_keypoints=3)) == 1
    heat, _ = render([person(64, 20)])  # keypoints but no PAFs: no connections, no people
    assert len(decode_one(heat, np.zeros((38, H, W), np.float32))) == 0


def test_score_limbs_scores_every_pair():
    people = [person(36, 18), person(90, 24)]
    heat, pafs = render(people)
    peaks = D.find_peaks(torch.from_numpy(heat)[None])
    c = D.score_limbs(torch.from_numpy(pafs)[None], peaks)
    # two people, every limb kept for its own person only
    assert len(c.score) == 2 * 19
    same = (peaks[c.peak_a, 3] - peaks[c.peak_b, 3]).abs() < 20
    assert bool(same.all())
    assert bool((c.fraction > 0.8).all()) and bool((c.score > 0.5).all())
    np.testing.assert_array_equal(np.bincount(c.limb.numpy(), minlength=19), 2)
