"""Tests run under mpiexec with the interposer preloaded:

    mpicomm run -n 2 -- python -m pytest --with-mpi tests/mpi
"""
import pytest

from mpicomm import interposer as control


class Interposer(control.Interposer):
    """The preloaded library's switches: switch it off to get the real MPI's answer."""

    def __init__(self):
        if not control.preloaded():
            pytest.fail("the interposer is not preloaded: run these tests with `mpicomm run`")
        super().__init__()

    def real(self, fn, *args, **kwargs):
        """Call fn with every wrapper passing through to the MPI."""
        with self.disabled():
            return fn(*args, **kwargs)


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
