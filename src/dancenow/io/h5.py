"""HDF5 conventions: provenance attributes, byte-reproducible files, the frames layout."""

import hashlib
import json
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

from .. import __version__
from ..errors import UserError
from . import integrity


def sha256_file(path, chunk=1 << 20):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def create(path):
    """Open a new HDF5 file whose bytes depend only on what is written (no timestamps)."""
    f = h5py.File(path, "w", libver=("v110", "v110"), track_order=False)
    return f


COMPRESSION = ("blosc-lz4", "gzip")
COMPRESSION_HELP = ("blosc-lz4: fast (a frame decompresses in a third of gzip's time); HDF5's own tools need the "
                    "plugin path (README) | gzip: level 1, about 25 % smaller, read by every HDF5 tool without plugins")


def frames_dataset(f, n, height, width, name="frames", compression="blosc-lz4"):
    """uint8 RGB frames [n,H,W,3], one frame per chunk, compressed (COMPRESSION_HELP). Readers of blosc-lz4 need
    `import hdf5plugin`; gzip is HDF5's built-in deflate."""
    filters = (hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE) if compression == "blosc-lz4"
               else {"compression": "gzip", "compression_opts": 1})
    return f.create_dataset(name, shape=(n, height, width, 3), maxshape=(None, height, width, 3), dtype=np.uint8,
                            chunks=(1, height, width, 3), track_times=False, fletcher32=True, **filters)


def dataset(f, name, data=None, **kw):
    """create_dataset without modification times, so reruns give the same bytes, with a Fletcher-32 checksum per
    chunk (io.integrity)."""
    return f.create_dataset(name, data=data, track_times=False, fletcher32=True, **kw)


def set_provenance(f, stage, config, video_sha256, outputs=("output",), **extra):
    """Record what made the file: the stage, the package version, its config and the source video's hash.

    The config's output paths (`outputs`) are left out, so the bytes do not depend on where the file is written."""
    f.attrs["stage"] = stage
    f.attrs["dancenow_version"] = __version__
    f.attrs["config"] = json.dumps({k: v for k, v in config.items() if k not in outputs}, sort_keys=True)
    f.attrs["video_sha256"] = video_sha256
    for k, v in extra.items():
        f.attrs[k] = v


def open_input(path, kind):
    """Open an input HDF5 file read-only once every dataset has read back whole (checksums, truncation); a clear
    message when it is missing, not HDF5 or damaged."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{kind} file not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise UserError(f"{kind} file {path} is not a readable HDF5 file ({str(e).splitlines()[0]})") from None
    why = integrity.problem(path)
    if why:
        f.close()
        raise UserError(f"{kind} file {path} is damaged ({why}): delete it; the workflow makes it again")
    return f


# ---- frames.h5 ---------------------------------------------------------------------------------------

class FrameGeometry:
    """How stored frames relate to the original video: stored = original * scale + offset."""

    def __init__(self, scale, offset_x, offset_y):
        self.scale, self.offset_x, self.offset_y = float(scale), float(offset_x), float(offset_y)

    @classmethod
    def from_attrs(cls, attrs):
        return cls(attrs["scale"], attrs["offset_x"], attrs["offset_y"])

    def to_attrs(self, attrs):
        attrs["scale"], attrs["offset_x"], attrs["offset_y"] = self.scale, self.offset_x, self.offset_y

    def to_original(self, xy):
        """Map stored-frame pixel coordinates [..., 2] back to the original video's pixels."""
        xy = np.asarray(xy, dtype=np.float64)
        out = np.empty_like(xy)
        out[..., 0] = (xy[..., 0] - self.offset_x) / self.scale
        out[..., 1] = (xy[..., 1] - self.offset_y) / self.scale
        return out


def read_frames_meta(f):
    a = f.attrs
    return dict(fps=float(a["fps"]), n=f["frames"].shape[0], height=f["frames"].shape[1],
                width=f["frames"].shape[2], video_sha256=str(a["video_sha256"]))
