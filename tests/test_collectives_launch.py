"""mpicomm.collectives at 3 and 4 ranks (make test runs tests/mpi at 1 and 2)."""
import re
import sys
from pathlib import Path

import pytest

import helpers

SUITE = Path(__file__).resolve().parent / "mpi" / "test_collectives_mpi.py"


@pytest.mark.parametrize("nprocs", [3, 4])
def test_collectives_at_more_ranks(nprocs):
    res = helpers.mpicomm_run(nprocs, [sys.executable, "-m", "pytest", "-q", "-p",
                                       "no:cacheprovider", "--with-mpi", str(SUITE)],
                              interposer=False, cwd=str(SUITE.parent))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    summaries = re.findall(r"^(\d+) passed(?:, (\d+) skipped)? in ", res.stdout, re.M)
    assert len(summaries) == nprocs, res.stdout[-2000:]
    assert all(int(p) >= 20 and not s for p, s in summaries), summaries
