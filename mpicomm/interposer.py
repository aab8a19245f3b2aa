"""The interposer inside a Python program: load it without LD_PRELOAD, and control it.

    >>> import mpicomm.interposer
    >>> mpicomm.interposer.load()      # before `from mpi4py import MPI`; a plain
    >>> from mpi4py import MPI         # `srun python train.py` then goes through it

    >>> from mpicomm.interposer import Interposer
    >>> ip = Interposer()              # RuntimeError when not preloaded
    >>> with ip.method("pack"):
    ...     comm.Send([buf, 1, vector], 1)
    >>> ip.stat("send_fast"), ip.model

The symbols are the library's own (mpicomm_interposer_*), found with dlsym.
"""
import contextlib
import ctypes
import os
import sys

__all__ = ["Interposer", "load", "preloaded"]


def preloaded():
    """True when the interposer is loaded into this process."""
    return hasattr(ctypes.CDLL(None), "mpicomm_interposer_active")


def _loaded_path():
    """Path of the interposer library mapped into this process."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if os.path.basename(path).startswith("libmpicomm"):
                return path
    return None


def load(path=None):
    """Load the interposer into this process, as LD_PRELOAD would: call it before mpi4py
    starts MPI (`from mpi4py import MPI`). Returns the library's path; a no-op when it is
    already loaded. path: the library (default: the build for the MPI mpi4py loads,
    built on first use). MPICOMM_DISABLE and the other variables work as under a preload.

    RuntimeError when mpi4py has already started MPI, or when the MPI's library is
    already loaded for the whole process (its functions would come first)."""
    if preloaded():
        return _loaded_path()
    if "mpi4py.MPI" in sys.modules:
        raise RuntimeError("mpicomm.interposer.load() must come before `from mpi4py import "
                           "MPI`: mpi4py has already bound this process to the MPI's own "
                           "functions")
    if path is None:
        from mpicomm import build
        path = build.preload_path(quiet=True)
    lib = ctypes.CDLL(path, mode=os.RTLD_NOW | os.RTLD_GLOBAL)
    first = ctypes.cast(ctypes.CDLL(None).MPI_Init, ctypes.c_void_p).value
    if first != ctypes.cast(lib.MPI_Init, ctypes.c_void_p).value:
        raise RuntimeError(f"loaded {path}, but the MPI's own MPI_Init comes first in this "
                           "process (its library was loaded for the whole process before): "
                           "launch with `mpicomm run` (LD_PRELOAD) instead")
    return path


class Interposer:
    """The preloaded interposer's switches and counters."""

    def __init__(self):
        self.lib = ctypes.CDLL(None)
        if not hasattr(self.lib, "mpicomm_interposer_active"):
            raise RuntimeError("the mpicomm interposer is not loaded into this process "
                               "(launch with `mpicomm run`, or call "
                               "mpicomm.interposer.load() first)")
        self.lib.mpicomm_interposer_stat.restype = ctypes.c_longlong
        self.lib.mpicomm_interposer_set_method.restype = ctypes.c_char_p
        self.lib.mpicomm_interposer_model.restype = ctypes.c_char_p
        self.lib.mpicomm_interposer_pipeline_chunk.restype = ctypes.c_longlong

    @property
    def cuda_aware(self):
        """Whether the MPI takes CUDA device pointers (MPIX_Query_cuda_support)."""
        return bool(self.lib.mpicomm_interposer_cuda_aware())

    @property
    def active(self):
        """Initialized, not disabled and not switched off."""
        return bool(self.lib.mpicomm_interposer_active())

    @property
    def model(self):
        """The model file MPICOMM_METHOD=auto decides with, or "builtin"."""
        return self.lib.mpicomm_interposer_model().decode()

    @property
    def pipeline_chunk(self):
        """The pipelined method's smallest chunk in bytes (MPICOMM_PIPELINE_CHUNK)."""
        return int(self.lib.mpicomm_interposer_pipeline_chunk())

    def describe(self, datatype):
        """The interposer's own decoding of an mpi4py datatype (what it records at
        MPI_Type_commit), as a mpicomm.datatypes.Description: the same answer as
        mpicomm.datatypes.describe, which decodes in Python."""
        from mpi4py import MPI
        from mpicomm import datatypes
        from mpicomm._core import ffi
        out = ffi.new("mpic_desc *")
        fn = self.lib.mpicomm_interposer_describe
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        fn(MPI._addressof(datatype), int(ffi.cast("uintptr_t", out)))
        return datatypes._from_c(out)

    def stat(self, name):
        """A MPICOMM_STATS counter of this rank, or "requests_live" (requests the
        interposer created that are not yet completed and freed); KeyError for an
        unknown name."""
        value = self.lib.mpicomm_interposer_stat(name.encode())
        if value < 0:
            raise KeyError(f"the interposer has no counter {name!r}")
        return value

    def set_enabled(self, on):
        """Switch every wrapper on or off (pass-through); returns the previous setting."""
        return bool(self.lib.mpicomm_interposer_set_enabled(1 if on else 0))

    def set_method(self, name):
        """Set the point-to-point method (auto, passthrough, pack, pipeline; for device
        buffers device, staged, oneshot); returns the previous one. Every rank must switch
        to and from pipeline at the same point."""
        was = self.lib.mpicomm_interposer_set_method(name.encode())
        if was is None:
            raise ValueError(f"unknown method {name!r}: use auto, passthrough, pack, pipeline, "
                             "device, staged or oneshot")
        return was.decode()

    @contextlib.contextmanager
    def method(self, name):
        """Run the block with this point-to-point method."""
        was = self.set_method(name)
        try:
            yield
        finally:
            self.set_method(was)

    @contextlib.contextmanager
    def disabled(self):
        """Run the block with every wrapper passing through to the MPI."""
        was = self.set_enabled(False)
        try:
            yield
        finally:
            self.set_enabled(was)
