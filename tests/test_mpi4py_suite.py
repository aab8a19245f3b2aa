"""mpi4py's own datatype, pack, p2p and collective tests give the same results with the
interposer preloaded as without it, on 1 and 2 ranks.

The suite ships only in mpi4py's sdist: `make test` fetches it with
tests/support/fetch_mpi4py_suite.py into .cache/ (or set MPICOMM_MPI4PY_SUITE)."""
import os
import re
import sys
from pathlib import Path

import mpi4py
import pytest

from support import helpers

HERE = Path(__file__).resolve().parent

SELECT = "datatype|pack|p2p|cco_buf|cco_nb_buf|cco_ngh"


def suite_dir():
    path = os.environ.get("MPICOMM_MPI4PY_SUITE") or \
        Path(__file__).resolve().parents[1] / ".cache" / f"mpi4py-{mpi4py.__version__}"
    main = Path(path) / "test" / "main.py"
    if not main.exists():
        pytest.fail(f"mpi4py's test suite is not at {path}: run "
                    f"`python tests/support/fetch_mpi4py_suite.py .cache` (make test does)")
    return Path(path)


def summary(outdir, nprocs):
    """Per rank: tests run and the verdict line (each rank's stderr is its own file)."""
    out = []
    for r in range(nprocs):
        text = (outdir / f"rank{r}.err").read_text()
        ran = re.search(r"^Ran (\d+) tests? in", text, re.M)
        verdict = re.search(r"^(OK.*|FAILED.*)$", text, re.M)
        assert ran and verdict, text[-3000:]
        out.append((int(ran.group(1)), verdict.group(1)))
    return out


def run_suite(nprocs, interposer, outdir, env=None):
    root = suite_dir()
    argv = [sys.executable, str(HERE / "support" / "rank_output.py"), str(outdir), "--",
            sys.executable, "test/main.py", "-q", "-i", SELECT]
    res = helpers.mpicomm_run(nprocs, argv, interposer=interposer, cwd=root, env=env)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:] + "".join(
        p.read_text()[-2000:] for p in sorted(outdir.glob("rank*.err")))
    return summary(outdir, nprocs)


@pytest.mark.parametrize("nprocs", [1, 2])
def test_mpi4py_suite_same_with_and_without_interposer(nprocs, tmp_path):
    plain = run_suite(nprocs, False, tmp_path / "plain")
    pre = run_suite(nprocs, True, tmp_path / "pre", env={"MPICOMM_STATS": "1"})
    assert pre == plain
    assert all(ran > 300 and verdict.startswith("OK") for ran, verdict in pre)
    stats = [helpers.stats_lines((tmp_path / "pre" / f"rank{r}.err").read_text())
             for r in range(nprocs)]
    assert all(len(s) == 1 and s[0]["enabled"] and s[0]["types_committed"] > 50
               for s in stats)


def test_mpi4py_suite_under_the_pipelined_method(tmp_path):
    """MPICOMM_METHOD=pipeline leaves messages under two chunks as auto would: the
    suite's probes, wildcards and larger-than-sent receives all keep working."""
    plain = run_suite(2, False, tmp_path / "plain")
    piped = run_suite(2, True, tmp_path / "piped",
                      env={"MPICOMM_METHOD": "pipeline", "MPICOMM_STATS": "1"})
    assert piped == plain
    stats = [helpers.stats_lines((tmp_path / "piped" / f"rank{r}.err").read_text())[0]
             for r in range(2)]
    assert all(s["enabled"] and s["method_pipeline"] == 0 for s in stats)
