"""Framing the person: the stored frames show the region the person moves in, and keypoints map back to the original
pixels (16:9, 9:16 and square videos)."""

import cv2
import h5py
import numpy as np
import pytest

from conftest import real_data, run_stage
from dancenow.framing import fit_frame, fit_geometry, person_geometry, person_region
from dancenow.io import h5
from dancenow.io.video import VideoWriter
from dancenow.synth import render_frames


def marker_centroid(image):
    """The centroid (x, y) of the magenta of an RGB image, weighted by how magenta each pixel is."""
    img = image.astype(np.float64)
    w = np.clip(np.minimum(img[..., 0], img[..., 2]) - img[..., 1], 0, None)
    ys, xs = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    return np.array([(w * xs).sum() / w.sum(), (w * ys).sum() / w.sum()])


@pytest.mark.parametrize("src_w, src_h, region", [
    (1280, 720, (700, 200, 900, 650)),    # 16:9, a person right of centre
    (1280, 720, (1150, 100, 1279, 700)),  # 16:9, at the right edge: the view moves inside the frame
    (720, 1280, (200, 300, 520, 1200)),   # 9:16
    (720, 1280, (0, 0, 720, 1280)),       # 9:16, the person fills it: letterboxed whole
    (600, 600, (150, 50, 450, 590)),      # square
])
def test_framing_maps_points_back_to_the_original_pixels_within_a_pixel(src_w, src_h, region):
    out_w, out_h = 256, 256
    geo = person_geometry(region, src_w, src_h, out_w, out_h)
    pad = fit_geometry(src_w, src_h, out_w, out_h, "pad")
    assert geo.scale >= pad.scale - 1e-9  # never smaller than the whole frame letterboxed
    x0, y0, x1, y1 = region
    corners = np.array([[x0, y0], [x1, y1]], float) * geo.scale + [geo.offset_x, geo.offset_y]
    assert (corners >= -1).all() and (corners <= [out_w + 1, out_h + 1]).all()  # the region is in view, whole
    rng = np.random.default_rng(0)
    for _ in range(4):
        x, y = rng.uniform(x0 + 15, x1 - 15), rng.uniform(y0 + 15, y1 - 15)
        frame = np.full((src_h, src_w, 3), 90, np.uint8)
        cv2.circle(frame, (int(round(x * 16)), int(round(y * 16))), 12 * 16, (255, 0, 255), -1, cv2.LINE_AA, 4)
        stored = fit_frame(frame, geo, out_w, out_h)
        # keypoints are in continuous pixel coordinates (a pixel's centre at +0.5, as mediapipe's x * width)
        back = geo.to_original(marker_centroid(stored) + 0.5) - 0.5
        assert np.hypot(*(back - [x, y])) <= 1.0, (back, (x, y))


def test_person_region_covers_every_confident_keypoint_with_a_margin():
    body = np.zeros((3, 25, 3))
    body[:, :, 2] = 0.9
    body[:, :, 0] = np.linspace(100, 200, 25)
    body[:, :, 1] = np.linspace(300, 700, 25)
    body[1, 4] = (900, 500, 0.1)  # a keypoint of low confidence does not count
    x0, y0, x1, y1 = person_region([body], 1280, 720)
    assert x0 < 100 and x1 > 200 and x1 < 300 and y0 < 300 - 0.08 * 400 and y1 == 720  # clipped to the frame
    assert person_region([np.zeros((3, 25, 3))], 1280, 720) is None


@pytest.fixture(scope="module")
def wide_video(tmp_path_factory):
    """A 16:9 video (640x360) of a procedural performer 160 px tall over a textured room, off centre."""
    path = tmp_path_factory.mktemp("wide") / "wide.mp4"
    rng = np.random.default_rng(0)
    room = cv2.resize(rng.integers(40, 200, (36, 64, 3)).astype(np.uint8), (640, 360), interpolation=cv2.INTER_NEAREST)
    with VideoWriter(path, 640, 360, 15) as w:
        for person in render_frames("target_a", 0, 30, 15, 160, 160):
            frame = room.copy()
            frame[180:340, 400:560] = person
            w.write(frame)
    return path


def test_extract_frames_the_person_and_the_poses_map_back(wide_video, tmp_path):
    outs = {}
    for fit in ("person", "pad"):
        d = tmp_path / fit
        run_stage("extract", "preset=tiny", f"extract.input={wide_video}", f"extract.output={d}/frames.h5",
                  f"extract.audio={d}/a.m4a", f"extract.fit={fit}")
        run_stage("pose", "preset=tiny", f"pose.input={d}/frames.h5", f"pose.output={d}/poses.h5")
        with h5py.File(d / "frames.h5") as f:
            geo = h5.FrameGeometry.from_attrs(f.attrs)
            region = f.attrs.get("person_region")
        with h5py.File(d / "poses.h5") as f:
            body = f["body"][()]
        ok = body[:, :, 2] >= 0.5
        outs[fit] = geo, region, body, ok
    geo, region, body, ok = outs["person"]
    assert region is not None and 390 < region[0] and region[2] < 570  # the performer's columns, not the room's
    # the person fills the stored frames: twice as tall as letterboxed
    tall = lambda b, k: np.median([np.ptp(b[i, k[i], 1]) for i in range(len(b)) if k[i].sum() > 5])  # noqa: E731
    assert tall(body, ok) > 2.5 * tall(outs["pad"][2], outs["pad"][3])
    assert ok.any(axis=1).mean() > 0.9
    # keypoints mapped back to the original land on the performer (where it was pasted)
    xy = geo.to_original(body[..., :2])[ok]
    assert (xy[:, 0] > 390).all() and (xy[:, 0] < 570).all() and (xy[:, 1] > 170).all() and (xy[:, 1] < 350).all()


def test_nobody_to_frame_falls_back_to_letterboxing(tmp_path):
    video = tmp_path / "empty.mp4"
    with VideoWriter(video, 320, 180, 10) as w:
        for i in range(12):
            w.write(np.full((180, 320, 3), 60 + i, np.uint8))
    res = run_stage("extract", "preset=tiny", f"extract.input={video}", f"extract.output={tmp_path}/f.h5",
                    f"extract.audio={tmp_path}/a.m4a")
    assert "letterboxing the whole frame instead" in res.stderr
    with h5py.File(tmp_path / "f.h5") as f:
        pad = fit_geometry(320, 180, 128, 128, "pad")
        assert f.attrs["scale"] == pad.scale and f.attrs["offset_y"] == pad.offset_y and "person_region" not in f.attrs


def test_a_real_clip_is_framed_on_its_person(tmp_path):
    """target_woman.mp4 is 9:16 (720x1280): framed, the woman fills more of the stored frames than letterboxed."""
    video = real_data("video", "target_woman.mp4")
    run_stage("extract", "preset=tiny", f"extract.input={video}", f"extract.output={tmp_path}/f.h5",
              f"extract.audio={tmp_path}/a.m4a")
    with h5py.File(tmp_path / "f.h5") as f:
        pad = fit_geometry(720, 1280, 128, 128, "pad")
        assert f.attrs["scale"] > 1.2 * pad.scale and "person_region" in f.attrs
