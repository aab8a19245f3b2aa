"""Control of the interposer from inside a program it is preloaded into.

    >>> from mpicomm.interposer import Interposer
    >>> ip = Interposer()              # RuntimeError when not preloaded
    >>> with ip.method("pack"):
    ...     comm.Send([buf, 1, vector], 1)
    >>> ip.stat("send_fast"), ip.model

The symbols are the library's own (mpicomm_interposer_*), found with dlsym.
"""
import contextlib
import ctypes

__all__ = ["Interposer", "preloaded"]


def preloaded():
    """True when the interposer is loaded into this process."""
    return hasattr(ctypes.CDLL(None), "mpicomm_interposer_active")


class Interposer:
    """The preloaded interposer's switches and counters."""

    def __init__(self):
        self.lib = ctypes.CDLL(None)
        if not hasattr(self.lib, "mpicomm_interposer_active"):
            raise RuntimeError("the mpicomm interposer is not preloaded into this process "
                               "(launch with `mpicomm run`)")
        self.lib.mpicomm_interposer_stat.restype = ctypes.c_longlong
        self.lib.mpicomm_interposer_set_method.restype = ctypes.c_char_p
        self.lib.mpicomm_interposer_model.restype = ctypes.c_char_p
        self.lib.mpicomm_interposer_pipeline_chunk.restype = ctypes.c_longlong

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

    def stat(self, name):
        """A MPICOMM_STATS counter of this rank (KeyError for an unknown name)."""
        value = self.lib.mpicomm_interposer_stat(name.encode())
        if value < 0:
            raise KeyError(f"the interposer has no counter {name!r}")
        return value

    def set_enabled(self, on):
        """Switch every wrapper on or off (pass-through); returns the previous setting."""
        return bool(self.lib.mpicomm_interposer_set_enabled(1 if on else 0))

    def set_method(self, name):
        """Set the point-to-point method (auto, passthrough, pack, pipeline); returns the
        previous one. Every rank must switch to and from pipeline at the same point."""
        was = self.lib.mpicomm_interposer_set_method(name.encode())
        if was is None:
            raise ValueError(f"unknown method {name!r}: use auto, passthrough, pack or pipeline")
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
