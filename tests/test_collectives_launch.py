"""mpicomm.collectives (fused, algorithms, shared, partial) and mpicomm.torch at 3 and 4
ranks, and partial aggregation at 8, where its tree has three levels (make test runs
tests/mpi at 1 and 2)."""
import re
import sys
from pathlib import Path

import pytest

from support import helpers

MPI_TESTS = Path(__file__).resolve().parent / "mpi"
SUITES = [str(MPI_TESTS / f"test_{name}_mpi.py")
          for name in ("collectives", "algorithms", "torch", "shared", "partial")]


@pytest.mark.parametrize("nprocs, suites", [(3, SUITES), (4, SUITES), (8, SUITES[4:])],
                         ids=["3", "4", "8-partial"])
def test_collectives_at_more_ranks(nprocs, suites):
    # The GPU's test of mpicomm.torch is left out: it skips without a GPU, and skips are
    # counted as failures here (scripts/gpu_run.sh runs it on a GPU).
    res = helpers.mpicomm_run(nprocs, [sys.executable, "-m", "pytest", "-q", "--color=no",
                                       "-p", "no:cacheprovider", "--with-mpi", "-k",
                                       "not test_cuda_gradients", *suites],
                              interposer=False, cwd=str(MPI_TESTS))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = re.sub(r"\x1b\[[0-9;]*m", "", res.stdout)      # colour, should a rank force it
    summaries = re.findall(r"^(\d+) passed(?:, (\d+) skipped)?(?:, \d+ deselected)? in ", out,
                           re.M)
    # mpiexec fails when any rank's pytest fails; ranks' lines may interleave, so the
    # summaries are checked where they came through whole.
    assert summaries and " failed" not in out, out[-2000:]
    assert all(int(p) >= 20 and not s for p, s in summaries), summaries
