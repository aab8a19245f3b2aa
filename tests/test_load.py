"""mpicomm.interposer.load(): the interposer from a Python import, without LD_PRELOAD."""
import json
import sys
from pathlib import Path

from support import helpers

JOB = str(Path(__file__).parent / "support" / "slurm_job.py")


def job_result(res):
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("SLURMJOB ")]
    assert len(lines) == 1, f"status {res.returncode}\n{res.stdout}\n{res.stderr}"
    return json.loads(lines[0][len("SLURMJOB "):])


def test_load_serves_a_job_started_without_the_preload():
    res = helpers.mpicomm_run(2, [sys.executable, JOB, "--load"], interposer=False)
    assert res.returncode == 0, res.stderr
    for r in job_result(res):
        assert not r["preload"] and r["loaded"] and r["correct"], r
        assert r["send_fast"] == 1 and r["recv_fast"] == 1, r


def test_without_load_the_job_runs_on_the_mpi_alone():
    res = helpers.mpicomm_run(2, [sys.executable, JOB], interposer=False)
    assert res.returncode == 0, res.stderr
    assert all(not r["loaded"] and r["correct"] for r in job_result(res))


def test_load_honours_disable():
    res = helpers.mpicomm_run(2, [sys.executable, JOB, "--load"], interposer=False,
                              env={"MPICOMM_DISABLE": "1"})
    assert res.returncode == 0, res.stderr
    for r in job_result(res):
        assert r["loaded"] and r["correct"] and r["send_fast"] == 0, r


def test_load_when_preloaded_returns_the_preloaded_library():
    code = ("import mpicomm.interposer as i; p = i.load(); from mpi4py import MPI; "
            "print('PATH', p)")
    res = helpers.mpicomm_run(1, [sys.executable, "-c", code])
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["PATH", helpers.cli("preload-path").stdout.strip()]


def test_load_after_mpi4py_started_is_refused():
    code = ("from mpi4py import MPI; import mpicomm.interposer as i\n"
            "try:\n    i.load()\nexcept RuntimeError as e:\n    print('REFUSED', e)")
    res = helpers.mpicomm_run(1, [sys.executable, "-c", code], interposer=False)
    assert res.returncode == 0, res.stderr
    assert "REFUSED mpicomm.interposer.load() must come before `from mpi4py import MPI`" \
        in res.stdout
