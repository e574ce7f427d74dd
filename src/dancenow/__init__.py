"""dancenow: Everybody Dance Now motion transfer as a reproducible batch workflow."""

from . import openmp

# How torch's idle OpenMP threads wait: spinning briefly on idle cores, sleeping on busy ones (dancenow/openmp.py).
# Must be chosen before torch loads its OpenMP runtime; the stages log the line.
OPENMP_POLICY = openmp.choose()

__version__ = "0.1.0"
