"""Tests run under mpiexec with the interposer preloaded:

    mpicomm run -n 2 -- python -m pytest --with-mpi tests/mpi
"""
import contextlib
import ctypes

import pytest


class Interposer:
    """The preloaded library's control symbols: switch it off to get the real MPI's answer."""

    def __init__(self):
        self.lib = ctypes.CDLL(None)
        try:
            self.lib.mpicomm_interposer_active
        except AttributeError:
            pytest.fail("the interposer is not preloaded: run these tests with `mpicomm run`")
        self.lib.mpicomm_interposer_stat.restype = ctypes.c_longlong
        self.lib.mpicomm_interposer_set_method.restype = ctypes.c_char_p

    @property
    def active(self):
        return bool(self.lib.mpicomm_interposer_active())

    def stat(self, name):
        value = self.lib.mpicomm_interposer_stat(name.encode())
        assert value >= 0, f"no counter {name}"
        return value

    @contextlib.contextmanager
    def method(self, name):
        """Run the block with this point-to-point method (auto, passthrough, pack)."""
        was = self.lib.mpicomm_interposer_set_method(name.encode())
        assert was is not None, f"unknown method {name}"
        try:
            yield
        finally:
            self.lib.mpicomm_interposer_set_method(was)

    def real(self, fn, *args, **kwargs):
        """Call fn with every wrapper passing through to the MPI."""
        was = self.lib.mpicomm_interposer_set_enabled(0)
        try:
            return fn(*args, **kwargs)
        finally:
            self.lib.mpicomm_interposer_set_enabled(was)


def outcome(fn):
    """The error class the MPI raised, or what fn returned."""
    from mpi4py import MPI
    try:
        return fn()
    except MPI.Exception as exc:
        return ("error", exc.Get_error_class())


@pytest.fixture(scope="session")
def interposer():
    ip = Interposer()
    assert ip.active, "the interposer is preloaded but not active (MPICOMM_DISABLE set?)"
    return ip
