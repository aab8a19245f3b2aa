"""mpi4py's own datatype, pack, p2p and collective tests give the same results with the
interposer preloaded as without it, on 1 and 2 ranks.

The suite ships only in mpi4py's sdist: `make test` fetches it with
tests/fetch_mpi4py_suite.py into .cache/ (or set MPICOMM_MPI4PY_SUITE)."""
import os
import re
import sys
from pathlib import Path

import mpi4py
import pytest

import helpers

SELECT = "datatype|pack|p2p|cco_buf|cco_nb_buf|cco_ngh"


def suite_dir():
    path = os.environ.get("MPICOMM_MPI4PY_SUITE") or \
        Path(__file__).resolve().parents[1] / ".cache" / f"mpi4py-{mpi4py.__version__}"
    main = Path(path) / "test" / "main.py"
    if not main.exists():
        pytest.fail(f"mpi4py's test suite is not at {path}: run "
                    f"`python tests/fetch_mpi4py_suite.py .cache` (make test does)")
    return Path(path)


def summary(output, nprocs):
    """Per-rank test counts and verdicts. Ranks share the stream and their lines may
    interleave, so match tokens rather than lines."""
    ran = sorted(int(n) for n in re.findall(r"Ran (\d+) tests?", output))
    assert len(ran) == nprocs, output[-3000:]
    assert "FAILED" not in output, output[-3000:]
    return ran, len(re.findall(r"\bOK\b", output))


@pytest.mark.parametrize("nprocs", [1, 2])
def test_mpi4py_suite_same_with_and_without_interposer(nprocs):
    root = suite_dir()
    argv = [sys.executable, "test/main.py", "-q", "-i", SELECT]
    plain = helpers.mpicomm_run(nprocs, argv, interposer=False, cwd=root)
    pre = helpers.mpicomm_run(nprocs, argv, env={"MPICOMM_STATS": "1"}, cwd=root)
    assert plain.returncode == 0, plain.stderr[-3000:]
    assert pre.returncode == 0, pre.stderr[-3000:]
    assert summary(pre.stderr, nprocs) == summary(plain.stderr, nprocs)
    assert min(summary(pre.stderr, nprocs)[0]) > 300
    stats = helpers.stats_lines(pre.stderr)
    assert len(stats) == nprocs and all(s["enabled"] and s["types_committed"] > 50
                                        for s in stats)
