"""The normalised 1-D Gaussian kernel: one definition for the SSIM window (metrics) and the heatmap blur (OpenPose
decoding)."""

import numpy as np


def gaussian_kernel(sigma, radius):
    """exp(-x^2 / (2 sigma^2)) for x in -radius..radius, normalised to sum 1 (float64)."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * x * x / float(sigma) ** 2)
    return k / k.sum()
