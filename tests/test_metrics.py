import logging
import math
import re

import numpy as np
import pytest
import torch

from dancenow import metrics
from dancenow.errors import UserError
from dancenow.lpips import LPIPS, backbone_shapes, images_to_tensor, lin_shapes, load_lpips
from dancenow.metrics import flicker, frame_change, pose_distance, psnr, ssim, summary


def smooth_image(h=48, w=40, seed=0):
    """A uint8 RGB image with structure at several scales (gradients, a disc, some texture), away from 0 and 255."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 60 + 2 * xx + 1.5 * yy + 40 * ((yy - h / 2) ** 2 + (xx - w / 3) ** 2 < (h / 4) ** 2)
    img = np.stack([base, base[::-1] * 0.8 + 20, 255 - base], axis=-1) + rng.normal(0, 4, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def add_noise(img, sigma, seed=1):
    noise = np.random.default_rng(seed).normal(0, 1, img.shape)  # the same noise, scaled
    return np.clip(np.round(img + sigma * noise), 0, 255).astype(np.uint8)


# ---- SSIM and PSNR ---------------------------------------------------------------------------------------------

def reference_ssim(a, b):
    """Wang et al.'s mean SSIM, window by window: Gaussian 11x11 sigma 1.5 weights, valid region, 255 range."""
    x = np.arange(11) - 5
    g1 = np.exp(-x ** 2 / (2 * 1.5 ** 2))
    w = np.outer(g1, g1)
    w /= w.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    h, wd, ch = a.shape
    values = []
    for c in range(ch):
        A, B = a[..., c].astype(np.float64), b[..., c].astype(np.float64)
        for i in range(h - 10):
            for j in range(wd - 10):
                pa, pb = A[i:i + 11, j:j + 11], B[i:i + 11, j:j + 11]
                ma, mb = (w * pa).sum(), (w * pb).sum()
                va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
                cov = (w * (pa - ma) * (pb - mb)).sum()
                values.append((2 * ma * mb + c1) * (2 * cov + c2) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(values))


def test_ssim_matches_a_window_by_window_reference():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (17, 21, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-60, 60, a.shape), 0, 255).astype(np.uint8)
    got, want = ssim(a, b), reference_ssim(a, b)
    assert isinstance(got, float) and abs(got - want) < 1e-6, (got, want)
    assert 0 < got < 1
    assert abs(ssim(b, a) - got) < 1e-12  # symmetric
    img = smooth_image(24, 26)
    noisy = add_noise(img, 20)
    assert abs(ssim(img, noisy) - reference_ssim(img, noisy)) < 1e-6


def test_identical_images():
    img = smooth_image()
    assert ssim(img, img) == pytest.approx(1.0, abs=1e-12)
    assert psnr(img, img) == math.inf
    batch = np.stack([img, add_noise(img, 10)])
    assert np.array_equal(psnr(batch, batch), [math.inf, math.inf])
    assert np.allclose(ssim(batch, batch), 1.0, atol=1e-12)


def test_quality_falls_as_noise_grows():
    img = smooth_image()
    sigmas = [0, 2, 5, 10, 20, 40, 80]
    noisy = [add_noise(img, s) for s in sigmas]
    s = [ssim(img, n) for n in noisy]
    p = [psnr(img, n) for n in noisy]
    assert all(x > y for x, y in zip(s, s[1:])), s
    assert all(x > y for x, y in zip(p, p[1:])), p
    assert s[0] == pytest.approx(1.0) and s[-1] < 0.5 and p[-1] < 15


def test_psnr_closed_form():
    img = np.random.default_rng(0).integers(0, 200, (10, 12, 3), dtype=np.uint8)
    for offset in (1, 10, 55):
        assert psnr(img, img + np.uint8(offset)) == pytest.approx(20 * math.log10(255 / offset), abs=1e-9)
    # one pixel of one channel off by 255 in a 4x4x3 image: MSE = 255^2 / 48
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[1, 2, 0] = 255
    assert psnr(a, b) == pytest.approx(10 * math.log10(48))


def test_batches_give_per_image_values(monkeypatch):
    img = smooth_image(32, 36)
    a = np.stack([img, img, add_noise(img, 5, seed=2), add_noise(img, 30, seed=3)])
    b = np.stack([img, add_noise(img, 15), add_noise(img, 5, seed=4), img])
    s, p = ssim(a, b), psnr(a, b)
    assert s.shape == p.shape == (4,) and s.dtype == p.dtype == np.float64
    for i in range(4):
        assert s[i] == pytest.approx(ssim(a[i], b[i]), abs=1e-12)
        assert p[i] == pytest.approx(psnr(a[i], b[i])) or p[i] == psnr(a[i], b[i]) == math.inf
    monkeypatch.setattr(metrics, "SSIM_CHUNK", 1)  # one image per convolution
    assert np.allclose(ssim(a, b), s, rtol=0, atol=1e-12)


def test_bad_images():
    img = smooth_image(20, 20)
    with pytest.raises(ValueError, match="different shapes"):
        ssim(img, img[:-1])
    with pytest.raises(ValueError, match="uint8"):
        psnr(img.astype(np.float32), img.astype(np.float32))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(img[:10], img[:10])


# ---- video -----------------------------------------------------------------------------------------------------

def test_flicker_and_frame_change():
    rng = np.random.default_rng(0)
    real = rng.integers(20, 200, (5, 8, 6, 3), dtype=np.uint8)
    assert flicker(real, real) == 0.0
    assert flicker(real + np.uint8(30), real) == 0.0  # the same motion, brighter
    assert frame_change(real) > 0
    assert math.isnan(flicker(real[:1], real[:1])) and math.isnan(frame_change(real[:1]))

    # 3 frames of 1x2 pixels, one channel shown (the others equal): hand-computed
    g = np.array([[10, 20], [14, 20], [14, 26]], np.uint8)   # changes +4,0 then 0,+6
    r = np.array([[10, 20], [12, 20], [12, 20]], np.uint8)   # changes +2,0 then 0,0
    g, r = (np.repeat(v[:, None, :, None], 3, axis=3) for v in (g, r))  # [3,1,2,3]
    # t=1: |4-2|, |0-0| -> mean 1;  t=2: |0-0|, |6-0| -> mean 3;  mean 2
    assert flicker(g, r) == pytest.approx(2.0)
    assert flicker(r, g) == pytest.approx(2.0)
    # frame change of g: t=1: (4+0)/2 = 2; t=2: (0+6)/2 = 3 -> 2.5
    assert frame_change(g) == pytest.approx(2.5)
    # a value that would wrap in uint8: 0 -> 255 in the generated video, static real video
    a = np.array([0, 255, 0], np.uint8).reshape(3, 1, 1, 1)
    assert flicker(a, np.zeros_like(a)) == pytest.approx(255.0) and frame_change(a) == pytest.approx(255.0)
    with pytest.raises(ValueError, match="differ in shape"):
        flicker(g, r[:2])


def test_flicker_reads_frame_by_frame():
    class Video:  # like an h5py dataset: frames only by indexing, and a record of what was read
        def __init__(self, frames):
            self.frames, self.shape, self.read = frames, frames.shape, []

        def __getitem__(self, t):
            assert isinstance(t, int)
            self.read.append(t)
            return self.frames[t]

    frames = np.random.default_rng(1).integers(0, 256, (6, 4, 4, 3), dtype=np.uint8)
    video, real = Video(frames), Video(frames[::-1].copy())
    assert flicker(video, real) == pytest.approx(flicker(frames, frames[::-1]))
    assert video.read == list(range(6)) and real.read == list(range(6))


# ---- pose ------------------------------------------------------------------------------------------------------

def test_pose_distance():
    n = 4
    ref = np.zeros((n, 25, 3))
    ref[:, :, 0] = np.arange(25) * 3.0 + 100
    ref[:, :, 1] = np.linspace(50, 250, 25)  # 200 px tall
    ref[:, :, 2] = 0.9
    est = ref.copy()
    est[:, :, 0] += 3
    est[:, :, 1] -= 4          # every shared keypoint 5 px off
    est[0, 7] = [1000, 1000, 0.05]   # low confidence in the estimate: not counted
    ref[1, 3] = [-500, -500, 0.0]    # low confidence in the reference: not counted
    ref[1, 24, 1] = 900
    ref[1, 24, 2] = 0.05            # an unconfident outlier: not part of the height either
    est[2, :, 2] = 0.0               # the estimate lost the person in frame 2
    ref[3, :, 2] = 0.0               # nobody in the reference in frame 3
    est[3, 0, 2] = 0.8

    d = pose_distance(ref, est)
    assert d["mean_px"] == pytest.approx(5.0)
    assert np.allclose(d["per_frame"][:2], 5.0) and np.isnan(d["per_frame"][2:]).all()
    assert d["missed"] == 1 and d["frames_with_person"] == 3
    heights = [200, 200 - 200 / 24, 200]  # frame 1 lost its lowest keypoint (y = 250)
    assert d["mean_rel"] == pytest.approx(5.0 / np.mean(heights))
    assert isinstance(d["mean_px"], float) and isinstance(d["missed"], int)

    d = pose_distance(ref, est, min_confidence=0.01)  # now the 0.05 points count: the outlier at (1000, 1000) too
    far0 = math.hypot(1000 - ref[0, 7, 0], 1000 - ref[0, 7, 1])
    far1 = math.hypot(3, 900 - (250 - 4))
    assert d["per_frame"][0] == pytest.approx((24 * 5 + far0) / 25)
    assert d["per_frame"][1] == pytest.approx((23 * 5 + far1) / 24)
    assert d["mean_px"] == pytest.approx((47 * 5 + far0 + far1) / 49)
    nobody = pose_distance(np.zeros((2, 25, 3)), est[:2])
    assert math.isnan(nobody["mean_px"]) and math.isnan(nobody["mean_rel"]) and nobody["frames_with_person"] == 0
    with pytest.raises(ValueError, match="same shape"):
        pose_distance(ref, est[:2])


def test_summary():
    s = summary([1.0, 3.0, float("nan"), float("inf"), 2.0, 10.0, -float("inf")])
    assert s == {"mean": 4.0, "median": 2.5, "min": 1.0, "max": 10.0, "count": 4}
    assert all(type(v) is float for k, v in s.items() if k != "count")
    assert summary(np.array([np.nan, np.inf]))["mean"] is None


# ---- LPIPS -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lpips_files(tmp_path_factory):
    """Random weights saved under the exact names and shapes of vgg16-397923af.pth and LPIPS's v0.1 vgg.pth."""
    import torchvision
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("lpips")
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])  # torchvision's vgg16 layout
    for m in features:  # vgg16()'s own initialization: deep features that still tell images apart
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            torch.nn.init.normal_(m.bias, 0, 0.01)
    backbone = {f"features.{k}": v for k, v in features.state_dict().items()}
    backbone["classifier.6.bias"] = torch.zeros(1000)  # more keys than needed are fine
    torch.save(backbone, d / "vgg16.pth")
    lins = {f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) / c for k, c in enumerate([64, 128, 256, 512, 512])}
    torch.save(lins, d / "vgg.pth")
    return d / "vgg.pth", d / "vgg16.pth", features, lins


def test_lpips_layout_is_torchvisions_vgg16():
    import torchvision
    with torch.device("meta"):  # no memory, no weights: only the names and shapes
        vgg = torchvision.models.vgg16()
    full = {k: v.shape for k, v in vgg.state_dict().items()}
    assert all(full[k] == s for k, s in backbone_shapes().items())
    assert len(backbone_shapes()) == 26  # the 13 convolutions' weight and bias
    assert all(isinstance(vgg.features[i], torch.nn.ReLU) for i in (3, 8, 15, 22, 29))  # relu1_2 .. relu5_3
    assert list(lin_shapes().values()) == [torch.Size([1, c, 1, 1]) for c in (64, 128, 256, 512, 512)]


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_lpips(lpips_files, one_thread):
    lin_path, backbone_path, features, lins = lpips_files
    model = load_lpips(lin_path, backbone_path)
    assert isinstance(model, LPIPS) and not model.training
    model.train()
    assert not model.training and not any(p.requires_grad for p in model.parameters())

    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    x = images_to_tensor(imgs)
    assert x.shape == (3, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert torch.allclose(images_to_tensor(imgs[0]), x[:1])
    y = images_to_tensor(add_noise(imgs, 25))
    with torch.no_grad():
        same, diff = model(x, x), model(x, y)
    assert same.shape == diff.shape == (3,)
    assert (same.abs() < 1e-7).all() and (diff > 0).all()
    with torch.no_grad():
        assert torch.allclose(model(x[1:2], y[1:2]), diff[1:2], rtol=1e-5, atol=0)  # per pair, not per batch

    # the definition, written out: scaling layer, five relu outputs, unit norm, squared difference, lin, mean, sum
    def reference(a, b):
        shift, scale = torch.tensor([-.030, -.088, -.188]).view(1, 3, 1, 1), torch.tensor([.458, .448, .450])
        a, b = (a - shift) / scale.view(1, 3, 1, 1), (b - shift) / scale.view(1, 3, 1, 1)
        total = torch.zeros(len(a))
        for k, end in enumerate([4, 9, 16, 23, 30]):
            fa, fb = features[:end](a), features[:end](b)
            fa = fa / (fa.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            fb = fb / (fb.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            w = lins[f"lin{k}.model.1.weight"]
            total += ((fa - fb) ** 2 * w).sum(1).mean(dim=(1, 2))
        return total

    with torch.no_grad():
        assert torch.allclose(diff, reference(x, y), rtol=1e-5, atol=0)
        z = x[[1, 2, 0]]  # unrelated images
        assert torch.allclose(model(x, z), reference(x, z), rtol=1e-5, atol=0)


def test_lpips_bad_files(lpips_files, tmp_path, caplog):
    lin_path, backbone_path, _, lins = lpips_files
    with caplog.at_level(logging.WARNING, logger="dancenow"):
        assert load_lpips(None, backbone_path) is None
        assert load_lpips(None, None) is None
    off = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(off) == 2  # one per call
    for key in ("evaluate.lpips_weights", "evaluate.lpips_backbone", "vgg16-397923af.pth", "vgg.pth", "OFF"):
        assert key in off[1], off[1]

    missing = tmp_path / "nowhere" / "vgg.pth"
    with pytest.raises(UserError, match=r"evaluate\.lpips_weights: file not found: " + re.escape(str(missing))):
        load_lpips(missing, backbone_path)
    no_key = tmp_path / "no_key.pth"
    torch.save({k: v for k, v in lins.items() if not k.startswith("lin3")}, no_key)
    with pytest.raises(UserError, match=re.escape(str(no_key)) + r".*LPIPS v0.1.*missing keys.*lin3\.model\.1\.weight"):
        load_lpips(no_key, backbone_path)
    shaped = tmp_path / "shaped.pth"
    torch.save({**lins, "lin2.model.1.weight": torch.zeros(1, 128, 1, 1)}, shaped)
    with pytest.raises(UserError, match=re.escape(str(shaped)) + r".*wrong shapes.*lin2\.model\.1\.weight"):
        load_lpips(shaped, backbone_path)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(UserError, match=r"evaluate\.lpips_backbone: " + re.escape(str(junk)) + " could not be read"):
        load_lpips(lin_path, junk)
    model = tmp_path / "model.pth"
    torch.save([torch.zeros(1)], model)  # a list, not a state dict
    with pytest.raises(UserError, match=re.escape(str(model)) + " holds a list"):
        load_lpips(model, backbone_path)
    bad_backbone = tmp_path / "bad_backbone.pth"
    torch.save({"features.28.weight": torch.zeros(1)}, bad_backbone)
    with pytest.raises(UserError, match=r"evaluate\.lpips_backbone: .*vgg16 state dict.*missing keys"):
        load_lpips(lin_path, bad_backbone)


def test_high_frequency_energy_sees_a_checkerboard_not_a_smooth_image():
    y, x = np.mgrid[0:64, 0:64]
    smooth = np.repeat((128 + 100 * np.sin(x / 10.0) * np.cos(y / 13.0)).astype(np.uint8)[None, :, :, None], 3, 3)
    board = smooth.copy()
    board[0, (x + y) % 2 == 1] = np.clip(board[0, (x + y) % 2 == 1].astype(int) + 40, 0, 255).astype(np.uint8)
    flat = np.full((1, 64, 64, 3), 90, np.uint8)
    e = metrics.high_frequency_energy(np.concatenate([smooth, board, flat]))
    assert e[0] < 0.01 and e[1] > 0.1 and e[2] == 0.0
    with pytest.raises(ValueError):
        metrics.high_frequency_energy(np.zeros((64, 64, 3), np.uint8))


def test_the_table_marks_a_low_redetection_rate_and_says_over_how_many_frames(tmp_path):
    from dancenow.stages.compare import write_csv, write_html

    def result(rate, compared):
        return dict(frames_with_person=82, redetection_rate=rate, missed_detections=round(82 * (1 - rate)),
                    ssim={"mean": 0.47}, psnr={"mean": 15.8}, pose_distance_px=6.57, pose_distance_rel=0.054,
                    pose_distance_frames=compared, flicker=3.1, generated_change=4.0, real_change=2.0,
                    high_frequency={"ratio": 3.2})

    rows = [("man", result(1 / 82, 1)), ("woman", result(0.95, 78))]
    write_html(rows, tmp_path / "m.html")
    write_csv(rows, tmp_path / "m.csv")
    page = (tmp_path / "m.html").read_text()
    assert "re-detected the generated person in fewer than 90% of the held-out frames of: man." in page
    assert page.count("&#9888; 1%") == 1 and "&#9888; 95%" not in page
    header, man, woman = (tmp_path / "m.csv").read_text().splitlines()
    assert "person re-detected" in header and "pose distance over frames" in header
    assert man.split(",")[1:3] == ["82", "1%"] and ",1," in man and ",78," in woman


def _body_at(points):
    body = np.zeros((25, 3))
    body[:len(points), :2], body[:len(points), 2] = points, 0.9
    return body


def test_person_box_grows_the_keypoints_box_and_stays_in_the_frame():
    body = _body_at([(100, 50), (140, 150)])  # 40 x 100 px: grown by 10 px on every side
    assert metrics.person_box(body, 256, 256) == (40, 161, 90, 151)
    assert metrics.person_box(_body_at([(2, 3), (60, 250)]), 256, 128) == (0, 256, 0, 86)
    assert metrics.person_box(_body_at([(100, 50)]), 256, 256) is None  # one keypoint
    assert metrics.person_box(_body_at([(100, 50), (103, 52)]), 256, 256) is None  # smaller than the SSIM window
    unsure = _body_at([(100, 50), (140, 150)])
    unsure[1, 2] = 0.05
    assert metrics.person_box(unsure, 256, 256) is None


def test_the_person_region_sees_noise_on_the_person_that_an_exact_room_hides():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:256, 0:256]  # a room of 8 px tiles and some grain, generated exactly
    room = (100 + 50 * ((yy // 8 + xx // 8) % 2) + rng.integers(-10, 11, (256, 256))).astype(np.uint8)
    real = np.repeat(np.repeat(room[None, :, :, None], 3, 3), 4, 0)
    y, x = np.mgrid[0:80, 0:40]
    real[:, 60:140, 100:140] = (120 + 40 * np.sin(y / 9.0) * np.cos(x / 7.0)).astype(np.uint8)[None, :, :, None]
    generated = real.copy()
    noise = rng.integers(-30, 31, (4, 80, 40, 3))
    generated[:, 60:140, 100:140] = np.clip(generated[:, 60:140, 100:140] + noise, 0, 255).astype(np.uint8)
    body = np.stack([_body_at([(104, 64), (135, 135)])] * 3 + [np.zeros((25, 3))])  # nobody in the last frame

    whole = metrics.high_frequency_energy(generated).mean() / metrics.high_frequency_energy(real).mean()
    s, high_generated, high_real = metrics.person_region(generated, real, body)
    assert whole < 1.2  # the room's edges and grain hide the noise
    assert (high_generated[:3] / high_real[:3] > 2).all() and np.isnan(high_generated[3])
    assert (s[:3] < 0.5).all() and metrics.ssim(generated, real).min() > 0.9
    same, *_ = metrics.person_region(real, real, body)
    np.testing.assert_allclose(same[:3], 1.0)
