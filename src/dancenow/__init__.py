"""dancenow: Everybody Dance Now motion transfer as a reproducible batch workflow."""

__version__ = "0.1.0"
