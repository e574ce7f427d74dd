"""Files: atomic writes, HDF5 conventions (frames.h5, poses.h5), videos in and out, JSON results, weight files."""
