"""The HDF5 files mpicomm keeps (models, straggler traces, checkpoints).

Each is marked by an attribute naming its kind (mpicomm_model, mpicomm_trace,
mpicomm_checkpoint) and is read only when the mark is there. Traces and checkpoints
are written beside their target and moved over it only when complete and flushed,
so a crash while writing leaves the previous file as it was.
"""
import contextlib
import datetime
import os
import platform
import tempfile
from pathlib import Path

__all__ = ["open_marked", "replaced"]


def open_marked(path, marker, what, error):
    """(open h5py.File, its attributes with bytes decoded) for a file carrying the
    marker attribute; error (an exception class) naming what is wrong otherwise."""
    import h5py
    path = Path(path)
    if not path.exists():
        raise error(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise error(f"{path}: not an HDF5 file ({exc})") from exc
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    if marker not in attrs:
        f.close()
        raise error(f"{path}: not an mpicomm {what} (no {marker} attribute)")
    return f, attrs


@contextlib.contextmanager
def replaced(path, marker, version):
    """An h5py.File to fill, already marked (marker = version) and stamped (created,
    host, mpicomm_version); moved over path when the block completes."""
    import h5py

    from mpicomm import __version__
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{marker}-", suffix=".h5")
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs[marker] = version
            f.attrs["created"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
            f.attrs["host"] = platform.node()
            f.attrs["mpicomm_version"] = __version__
            yield f
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
