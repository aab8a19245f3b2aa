"""Device tests, run under mpiexec with the interposer preloaded, on the simulated device
(CI, any machine) or on a GPU:

    MPICOMM_DEVICE=sim mpicomm run -n 2 -- python -m pytest --with-mpi tests/device
    mpicomm run -n 2 -- python -m pytest --with-mpi tests/device        # with a GPU and CuPy

Without either, every test here skips and says why.
"""
import importlib.util
import os

import pytest

MPI_TESTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "mpi")
_spec = importlib.util.spec_from_file_location("mpi_conftest",
                                               os.path.join(MPI_TESTS, "conftest.py"))
_mpi = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mpi)
Interposer, outcome = _mpi.Interposer, _mpi.outcome


def _backend():
    if os.environ.get("MPICOMM_DEVICE", "").lower() == "sim":
        return "sim", None
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() > 0:
            return "cuda", None
        return None, "CuPy sees no GPU, and MPICOMM_DEVICE=sim is not set"
    except ImportError:
        return None, "no GPU (CuPy is not installed), and MPICOMM_DEVICE=sim is not set"
    except Exception as exc:                     # CUDA runtime errors: no driver, no device
        return None, f"no GPU ({exc}), and MPICOMM_DEVICE=sim is not set"


BACKEND, WHY_NOT = _backend()


@pytest.fixture(scope="session")
def interposer():
    if BACKEND is None:
        pytest.skip(WHY_NOT)
    ip = Interposer()
    assert ip.active, "the interposer is preloaded but not active (MPICOMM_DISABLE set?)"
    return ip


@pytest.fixture(scope="session")
def device(interposer):
    """mpicomm.device on the active backend."""
    from mpicomm import device as dev
    return dev
