"""Image, video and pose metrics for the evaluate stage: pure functions of numpy arrays.

Images are uint8 RGB, [H,W,3] or batches [N,H,W,3], compared with a data range of 255. Videos are anything that
indexes frame by frame (numpy arrays, h5py datasets): the video metrics read two frames at a time.
"""

import math

import numpy as np
import torch

from .gaussian import gaussian_kernel
from .keypoints import MIN_CONFIDENCE

SSIM_SIGMA = 1.5
SSIM_WINDOW = 11  # skimage's 2 * int(3.5 * sigma + 0.5) + 1 for sigma 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03
DATA_RANGE = 255.0
SSIM_CHUNK = 1 << 21  # pixel values (N*H*W*C) per step of ssim: bounds its float64 working memory (~400 MB)


def _image_pair(a, b, min_size=1):
    """(a, b, batched) as uint8 arrays [N,H,W,C]; ValueError unless a and b are uint8 of the same shape."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"images of different shapes: {a.shape} and {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ValueError(f"expected uint8 images (data range 255), got {a.dtype} and {b.dtype}")
    if a.ndim not in (3, 4):
        raise ValueError(f"expected an image [H,W,3] or a batch [N,H,W,3], got shape {a.shape}")
    batched = a.ndim == 4
    if not batched:
        a, b = a[None], b[None]
    if min(a.shape[1:3]) < min_size:
        raise ValueError(f"images of {a.shape[1]}x{a.shape[2]} pixels: at least {min_size}x{min_size} needed")
    return a, b, batched


def _per_image(values, batched):
    """A float for one image, an array [N] for a batch."""
    return values if batched else float(values[0])


def gaussian_window(size=SSIM_WINDOW, sigma=SSIM_SIGMA):
    """The normalized 1-D Gaussian of `size` taps (the 2-D SSIM window is its outer product), float64."""
    return gaussian_kernel(sigma, (size - 1) // 2)


def _gaussian_valid(x):
    """x [..., H, W] filtered by the 2-D SSIM window over the last two axes, 'valid' region: [..., H-10, W-10].

    Separable, as weighted sums of shifted slices: exact in float64 and without the 11-fold im2col buffer that
    a float64 conv2d takes on the CPU.
    """
    g = gaussian_window().tolist()
    k = len(g)
    h, w = x.shape[-2:]
    rows = x[..., 0:h - k + 1, :] * g[0]
    for i in range(1, k):
        rows.add_(x[..., i:h - k + 1 + i, :], alpha=g[i])
    out = rows[..., 0:w - k + 1] * g[0]
    for i in range(1, k):
        out.add_(rows[..., i:w - k + 1 + i], alpha=g[i])
    return out


def _ssim_maps(x, y):
    """Mean SSIM of each image of x, y: float64 tensors [N,C,H,W] in 0..255. Returns a float64 array [N]."""
    # the five local statistics of every channel of every image, in one separable 'valid' Gaussian filtering
    mu_x, mu_y, xx, yy, xy = _gaussian_valid(torch.stack([x, y, x * x, y * y, x * y]))
    var_x, var_y, cov = xx - mu_x * mu_x, yy - mu_y * mu_y, xy - mu_x * mu_y
    c1, c2 = (SSIM_K1 * DATA_RANGE) ** 2, (SSIM_K2 * DATA_RANGE) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    return s.mean(dim=(1, 2, 3)).numpy()


def ssim(a, b):
    """Mean structural similarity (Wang et al. 2004) of two uint8 images [H,W,3], or of two batches [N,H,W,3].

    The statistics are weighted by an 11x11 Gaussian window of sigma 1.5, with K1 = 0.01, K2 = 0.03, a data range
    of 255 and population (not sample) variances, as in the paper. Only windows that lie wholly inside the image
    count (the 'valid' region: 5 pixels are cropped from every border), the same as skimage's
    structural_similarity(a, b, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=255). The SSIM map of every channel is averaged over its pixels, then over the channels.

    Returns a float for one image pair (1.0 for identical images), a float64 array [N] for a batch.
    Images must be uint8 of the same shape, at least 11x11 pixels (ValueError otherwise).
    """
    a, b, batched = _image_pair(a, b, min_size=SSIM_WINDOW)
    per_chunk = max(1, SSIM_CHUNK // int(np.prod(a.shape[1:])))
    out = []
    for i in range(0, len(a), per_chunk):
        x, y = (torch.from_numpy(np.ascontiguousarray(v[i:i + per_chunk])).permute(0, 3, 1, 2).double()
                for v in (a, b))
        out.append(_ssim_maps(x, y))
    return _per_image(np.concatenate(out) if out else np.zeros(0), batched)


def psnr(a, b):
    """Peak signal-to-noise ratio in dB, 10 log10(255^2 / MSE), of two uint8 images [H,W,3] or batches [N,H,W,3].

    The mean squared error is taken over all pixels and channels of each image. Identical images give +inf.
    Returns a float for one image pair, a float64 array [N] for a batch.
    """
    a, b, batched = _image_pair(a, b)
    mse = np.array([np.mean((x.astype(np.float64) - y) ** 2) for x, y in zip(a, b)])
    with np.errstate(divide="ignore"):
        values = 10 * np.log10(DATA_RANGE ** 2 / mse)
    return _per_image(values, batched)


def _check_video(video, name):
    shape = getattr(video, "shape", None)
    if shape is None or len(shape) != 4:
        raise ValueError(f"{name}: expected a video [N,H,W,3], got shape {shape}")
    return shape


def frame_change(video):
    """Mean absolute frame-to-frame change of a uint8 video [N,H,W,3]: mean over t = 1..N-1 of mean |v_t - v_{t-1}|.

    In 0..255 units; nan for fewer than 2 frames. Reads two frames at a time (numpy arrays, h5py datasets ...).
    """
    n = _check_video(video, "video")[0]
    if n < 2:
        return math.nan
    total, prev = 0.0, np.asarray(video[0]).astype(np.int16)
    for t in range(1, n):
        cur = np.asarray(video[t]).astype(np.int16)
        total += np.abs(cur - prev).mean()
        prev = cur
    return float(total / (n - 1))


def flicker(generated, real):
    """Temporal flicker of a generated uint8 video [N,H,W,3] against the real video [N,H,W,3] of the same frames.

    Mean over t = 1..N-1 of mean |(g_t - g_{t-1}) - (r_t - r_{t-1})|, in 0..255 units: the frame-to-frame change
    of the generated video that the real one does not have (0 when the generated video moves exactly as the real
    one, e.g. if it is the real video plus a constant). nan for fewer than 2 frames. Reads two frames of each video
    at a time, so long videos (h5py datasets) need no copy in memory.
    """
    shape = _check_video(generated, "generated")
    if tuple(_check_video(real, "real")) != tuple(shape):
        raise ValueError(f"generated video {tuple(shape)} and real video {tuple(real.shape)} differ in shape")
    n = shape[0]
    if n < 2:
        return math.nan
    total = 0.0
    g_prev, r_prev = np.asarray(generated[0]).astype(np.int16), np.asarray(real[0]).astype(np.int16)
    for t in range(1, n):
        g, r = np.asarray(generated[t]).astype(np.int16), np.asarray(real[t]).astype(np.int16)
        total += np.abs((g - g_prev) - (r - r_prev)).mean()  # |.| <= 510: int16 holds it
        g_prev, r_prev = g, r
    return float(total / (n - 1))


def pose_distance(reference, estimated, min_confidence=0.1):
    """Distance between two BODY_25 keypoint tracks, float [N,25,3] of (x, y in pixels, confidence).

    A keypoint counts where its confidence is >= min_confidence; a frame has a person where any keypoint counts.
    Returns a dict:
      mean_px: mean Euclidean distance in pixels over every keypoint that counts in both tracks, over all frames
               (nan if there is none);
      per_frame: float64 array [N], the same mean in each frame (nan where the two share no keypoint);
      missed: the number of frames where the reference has a person and the estimate has none;
      frames_with_person: the number of frames where the reference has a person;
      frames_compared: the number of frames where the two share a keypoint (what mean_px is computed over);
      mean_rel: mean_px divided by the mean body height of the reference, the height of a frame being the vertical
                extent max(y) - min(y) of its confident reference keypoints, averaged over the frames with a person
                (nan if there is none or the mean height is 0). A scale-free error: 0.05 is 5% of the body height.
    """
    ref, est = np.asarray(reference, dtype=np.float64), np.asarray(estimated, dtype=np.float64)
    if ref.shape != est.shape or ref.ndim != 3 or ref.shape[2] != 3:
        raise ValueError(f"expected two keypoint tracks [N,K,3] of the same shape, got {ref.shape} and {est.shape}")
    ref_ok, est_ok = ref[..., 2] >= min_confidence, est[..., 2] >= min_confidence
    both = ref_ok & est_ok
    dist = np.where(both, np.hypot(*(ref[..., :2] - est[..., :2]).transpose(2, 0, 1)), 0.0)
    shared = both.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_frame = np.where(shared > 0, dist.sum(axis=1) / shared, np.nan)
    n_shared = int(shared.sum())
    mean_px = float(dist.sum() / n_shared) if n_shared else math.nan

    person = ref_ok.any(axis=1)
    y = ref[..., 1]
    heights = (np.where(ref_ok, y, -np.inf).max(axis=1) - np.where(ref_ok, y, np.inf).min(axis=1))[person]
    mean_height = float(heights.mean()) if len(heights) else math.nan
    mean_rel = mean_px / mean_height if mean_height > 0 else math.nan
    return {
        "mean_px": mean_px,
        "per_frame": per_frame,
        "missed": int((person & ~est_ok.any(axis=1)).sum()),
        "frames_with_person": int(person.sum()),
        "frames_compared": int((shared > 0).sum()),
        "mean_rel": float(mean_rel),
    }


REDETECTION_WARNING = 0.9  # a re-detection rate below this is warned about and marked: the generator's person is
                           # not recognisable yet, and the pose distance speaks for few frames
HIGH_FREQUENCY = 0.375  # cycles per pixel (Nyquist: 0.5); a stride-2 checkerboard has its power at 0.5


def high_frequency_energy(video, cutoff=HIGH_FREQUENCY):
    """Per frame of a video of uint8 RGB frames, the fraction of the power spectrum of its grey image (the mean
    removed) at spatial frequencies with max(|fx|, |fy|) >= `cutoff` cycles per pixel: the checkerboard of
    transposed convolutions and pixel noise live there, edges of real images much less. float64 array [N]."""
    _check_video(video, "video")
    out = []
    for t in range(len(video)):
        grey = np.asarray(video[t], dtype=np.float64).mean(axis=2)
        power = np.abs(np.fft.fft2(grey - grey.mean())) ** 2
        fy, fx = np.meshgrid(np.fft.fftfreq(grey.shape[0]), np.fft.fftfreq(grey.shape[1]), indexing="ij")
        total = power.sum()
        out.append(power[np.maximum(np.abs(fx), np.abs(fy)) >= cutoff].sum() / total if total > 0 else 0.0)
    return np.asarray(out)


PERSON_MARGIN = 0.1  # of the body box's longer side: the limbs' width and the hair lie beyond the keypoints


def person_box(body, height, width, margin=PERSON_MARGIN):
    """(y0, y1, x0, x1) of the region of a frame's person: the box over its BODY_25 keypoints [25,3] at least
    MIN_CONFIDENCE confident, grown by `margin` times its longer side on every side, within the frame. None with
    fewer than two such keypoints or a region smaller than the SSIM window."""
    body = np.asarray(body, np.float64)
    xy = body[body[:, 2] >= MIN_CONFIDENCE, :2]
    if len(xy) < 2:
        return None
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    grow = margin * (hi - lo).max()
    x0, y0 = np.maximum(np.floor(lo - grow), 0).astype(int)
    x1, y1 = np.minimum(np.ceil(hi + grow) + 1, (width, height)).astype(int)
    if min(x1 - x0, y1 - y0) < SSIM_WINDOW:
        return None
    return int(y0), int(y1), int(x0), int(x1)


def person_region(generated, real, body):
    """SSIM and high-frequency power (as high_frequency_energy) of generated and real frames inside each frame's
    person_box of the input poses `body` [N,25,3]: what the whole-frame figures hide when an exact background
    fills most of the frame. (ssim [N], generated high frequencies [N], real [N]), nan where a frame has no box."""
    _check_video(generated, "generated")
    height, width = np.asarray(real[0]).shape[:2]
    out = np.full((3, len(body)), np.nan)
    for t, pose in enumerate(body):
        box = person_box(pose, height, width)
        if box is None:
            continue
        y0, y1, x0, x1 = box
        a, b = (np.asarray(v[t])[y0:y1, x0:x1] for v in (generated, real))
        out[0, t] = ssim(a, b)
        out[1:, t] = high_frequency_energy(np.stack([a, b]))
    return out[0], out[1], out[2]


def summary(values):
    """mean, median, min and max of a 1-D array of values, ignoring nan and +-inf, as plain floats (for JSON).

    Also `count`, the number of finite values. With none, the four statistics are None (null in JSON).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if not len(v):
        return {"mean": None, "median": None, "min": None, "max": None, "count": 0}
    return {"mean": float(v.mean()), "median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()),
            "count": int(len(v))}
