"""Batch use under a real Slurm (munged, slurmctld, slurmd from Debian's packages, one
node on loopback; see tests/support/slurm_cluster.py): `mpicomm run` inside allocations, the sbatch
template, `mpicomm.interposer.load()` under a plain srun, and the warning for an srun
that starts every task as an MPI job of its own."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import helpers, slurm_cluster
from mpicomm import build, codegen, launch

HERE = Path(__file__).parent

JOB = str(HERE / "support" / "slurm_job.py")
MPICOMM = [sys.executable, "-m", "mpicomm"]

pytestmark = pytest.mark.skipif(slurm_cluster.missing() is not None,
                                reason=slurm_cluster.missing() or "")


SPANK_MISSING = None if Path("/usr/include/slurm/spank.h").exists() else \
    "Slurm's spank.h is not installed (Debian: libslurm-dev; scripts/prereqs.sh installs it)"


@pytest.fixture(scope="module")
def spank(tmp_path_factory):
    """The SPANK plugin, built with slurm/Makefile; None without spank.h."""
    if SPANK_MISSING:
        return None
    out = tmp_path_factory.mktemp("spank") / "mpicomm_spank.so"
    res = subprocess.run(["make", "-C", str(HERE.parent / "slurm"), f"OUT={out}"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    return out


@pytest.fixture(scope="module")
def cluster(spank):
    """One node; with the SPANK plugin loaded (off by default) when it could be built."""
    lib = helpers.cli("preload-path").stdout.strip()
    plugstack = [f"required {spank} lib={lib}"] if spank else []
    c = slurm_cluster.SlurmCluster(cpus=8, plugstack=plugstack).start()
    yield c
    c.stop()


@pytest.fixture(scope="module")
def pmi():
    return launch.SRUN_PMI[helpers.inst().vendor]


def job_result(res):
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("SLURMJOB ")]
    assert len(lines) == 1, f"status {res.returncode}\n{res.stdout}\n{res.stderr}"
    return json.loads(lines[0][len("SLURMJOB "):])


def launch_line(res):
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("mpicomm run: ")]
    assert len(lines) == 1, res.stderr
    return lines[0][len("mpicomm run: "):]


def test_run_in_an_allocation_takes_srun_and_its_task_count(cluster, pmi):
    res = cluster.run(["salloc", "-n", "3", *MPICOMM, "run", "-v", "--",
                       sys.executable, JOB])
    assert res.returncode == 0, res.stderr
    line = launch_line(res)
    assert line.startswith("srun -n 3 ") and f" --mpi={pmi} " in line, line
    ranks = job_result(res)
    assert [r["size"] for r in ranks] == [3, 3, 3]
    assert sorted(r["task"] for r in ranks) == ["0", "1", "2"]     # srun's own tasks
    for r in ranks:
        assert r["preload"] and r["loaded"] and r["correct"], r
        assert r["send_fast"] == 1 and r["recv_fast"] == 1, r


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_run_in_an_allocation_with_mpiexec(cluster, how):
    flag, env = (["--launcher", "mpiexec"], None) if how == "flag" else \
        ([], {"MPICOMM_LAUNCHER": "mpiexec"})
    res = cluster.run(["salloc", "-n", "3", *MPICOMM, "run", "-v", *flag, "--",
                       sys.executable, JOB], env=env)
    assert res.returncode == 0, res.stderr
    assert launch_line(res).startswith(helpers.inst().tool("mpiexec") + " -n 3 ")
    ranks = job_result(res)
    assert [r["size"] for r in ranks] == [3, 3, 3]
    assert all(r["preload"] and r["correct"] and r["send_fast"] == 1 for r in ranks), ranks


def test_run_in_an_allocation_honours_n_and_no_interposer(cluster):
    res = cluster.run(["salloc", "-n", "3", *MPICOMM, "run", "-n", "2", "--no-interposer",
                       "--", sys.executable, JOB])
    ranks = job_result(res)
    assert [r["size"] for r in ranks] == [2, 2]
    assert all(not r["preload"] and not r["loaded"] and r["correct"] for r in ranks), ranks


def test_a_failing_rank_ends_the_step_with_its_status(cluster):
    code = ("import os, time; from mpi4py import MPI; "
            "MPI.COMM_WORLD.Get_rank() == 1 and os._exit(5); time.sleep(120)")
    t = time.monotonic()
    res = cluster.run(["salloc", "-n", "2", *MPICOMM, "run", "--", sys.executable, "-c", code])
    assert res.returncode != 0, res.stderr
    assert time.monotonic() - t < 60, "the other rank was left waiting"


def test_sbatch_template(cluster, tmp_path):
    status, out = cluster.sbatch([str(HERE.parent / "slurm" / "mpicomm.sbatch"),
                                  sys.executable, JOB], ntasks=2, cwd=tmp_path)
    assert status == 0, out
    line = [ln for ln in out.splitlines() if ln.startswith("SLURMJOB ")]
    assert len(line) == 1, out
    ranks = json.loads(line[0][len("SLURMJOB "):])
    assert [r["size"] for r in ranks] == [2, 2]
    assert all(r["preload"] and r["correct"] and r["send_fast"] == 1 for r in ranks), ranks


def test_sbatch_template_without_a_command_says_how(cluster, tmp_path):
    status, out = cluster.sbatch([str(HERE.parent / "slurm" / "mpicomm.sbatch")], ntasks=1,
                                 cwd=tmp_path)
    assert status != 0 and "usage: sbatch slurm/mpicomm.sbatch CMD" in out, out


def test_load_from_python_under_a_plain_srun(cluster, pmi):
    res = cluster.run(["srun", "-n", "2", f"--mpi={pmi}", sys.executable, JOB, "--load"])
    assert res.returncode == 0, res.stderr
    ranks = job_result(res)
    assert [r["size"] for r in ranks] == [2, 2]
    for r in ranks:
        assert not r["preload"] and r["loaded"] and r["correct"], r
        assert r["send_fast"] == 1 and r["recv_fast"] == 1, r


def test_srun_without_the_mpi_plugin_is_named(cluster):
    lib = helpers.cli("preload-path").stdout.strip()
    code = "from mpi4py import MPI; print('size', MPI.COMM_WORLD.Get_size())"
    res = cluster.run(["srun", "-n", "2", "--mpi=none", "env", f"LD_PRELOAD={lib}",
                       sys.executable, "-c", code])
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["size", "1", "size", "1"]
    assert "MPI_COMM_WORLD has 1 rank, but this is task 1 of a Slurm step of 2" in res.stderr
    assert "srun --mpi=pmi2" in res.stderr and "srun --mpi=pmix" in res.stderr
    res = cluster.run(["srun", "-n", "2", "--mpi=none", "env", f"LD_PRELOAD={lib}",
                       "MPICOMM_DISABLE=1", sys.executable, "-c", code])
    assert res.returncode == 0 and "MPI_COMM_WORLD has 1 rank" not in res.stderr


def test_ft_in_an_allocation(cluster):
    code = "from mpi4py import MPI; MPI.COMM_WORLD.Barrier()"
    res = cluster.run(["salloc", "-n", "2", *MPICOMM, "run", "-v", "--ft", "--",
                       sys.executable, "-c", code])
    if helpers.inst().is_openmpi:
        assert res.returncode == 0, res.stderr
        line = launch_line(res)
        assert line.startswith(helpers.inst().tool("mpiexec")) and "--with-ft ulfm" in line
    else:
        assert res.returncode == 2 and "--ft needs Open MPI's ULFM" in res.stderr
    res = cluster.run(["salloc", "-n", "2", *MPICOMM, "run", "--ft", "--launcher", "srun",
                       "--", sys.executable, "-c", code])
    assert res.returncode == 2 and "--ft needs mpiexec" in res.stderr, res.stderr


def test_launcher_arguments_must_match_the_launcher(cluster):
    res = cluster.run(["salloc", "-n", "1", *MPICOMM, "run", "--mpiexec-args=-v", "--",
                       "true"])
    assert res.returncode == 2 and "--mpiexec-args given, but the launcher is srun" in res.stderr
    res = cluster.run(["salloc", "-n", "2", *MPICOMM, "run", "-v",
                       "--srun-args=--ntasks-per-node=2", "--", sys.executable, JOB])
    assert res.returncode == 0, res.stderr
    assert "--ntasks-per-node=2" in launch_line(res)


def test_info_names_the_launcher_run_would_take(cluster, pmi):
    res = cluster.run(["salloc", "-n", "1", *MPICOMM, "info", "--no-build"])
    assert res.returncode == 0, res.stderr
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("launcher")]
    assert len(line) == 1 and f"srun --mpi={pmi} (inside Slurm job " in line[0], res.stdout


def test_measure_in_an_allocation_keeps_to_one_node(cluster, tmp_path):
    out = tmp_path / "model.h5"
    res = cluster.run(["salloc", "-n", "2", *MPICOMM, "measure", "--quick", "--reps", "1",
                       "-v", "-o", str(out)])
    assert res.returncode == 0, res.stderr
    assert "srun -n 2 -N 1 " in res.stderr and out.exists()


# The SPANK plugin (slurm/mpicomm_spank.c): srun --mpicomm -------------------------------

needs_spank = pytest.mark.skipif(SPANK_MISSING is not None, reason=SPANK_MISSING or "")


@needs_spank
def test_spank_option_preloads_a_plain_srun(cluster, pmi):
    for flag, method in (("--mpicomm", None), ("--mpicomm=pipeline", "pipeline")):
        res = cluster.run(["srun", "-n", "2", f"--mpi={pmi}", flag, sys.executable, JOB])
        assert res.returncode == 0, res.stderr
        for r in job_result(res):
            assert r["preload"] and r["loaded"] and r["correct"], r
            assert r["send_fast"] == 1 and r["method"] == method, r
    res = cluster.run(["srun", "-n", "2", f"--mpi={pmi}", sys.executable, JOB])
    assert all(not r["preload"] and not r["loaded"] for r in job_result(res))


@needs_spank
def test_spank_option_refuses_an_unknown_method(cluster):
    res = cluster.run(["srun", "-n", "1", "--mpicomm=fast", "true"])
    assert res.returncode != 0
    assert "--mpicomm=fast is not a method: use auto, pack, passthrough, pipeline or off" \
        in res.stderr


@needs_spank
def test_spank_option_of_a_batch_job_reaches_its_steps_not_its_script(cluster, pmi, tmp_path):
    script = tmp_path / "job.sh"
    script.write_text(f"""#!/bin/bash
echo "script LD_PRELOAD=[$LD_PRELOAD]"
srun --mpi={pmi} {sys.executable} {JOB}
srun -n 1 --mpicomm=off printenv LD_PRELOAD || echo "off: none"
""")
    status, out = cluster.sbatch(["--mpicomm", str(script)], ntasks=2, cwd=tmp_path)
    assert status == 0, out
    assert "script LD_PRELOAD=[]" in out and "off: none" in out, out
    line = [ln for ln in out.splitlines() if ln.startswith("SLURMJOB ")]
    ranks = json.loads(line[0][len("SLURMJOB "):])
    assert all(r["preload"] and r["correct"] and r["send_fast"] == 1 for r in ranks), ranks


@needs_spank
def test_spank_plugin_default_on_and_a_missing_library(spank):
    plugstack = [f"required {spank} lib=/nonexistent/libmpicomm.so default=on"]
    with slurm_cluster.SlurmCluster(cpus=2, plugstack=plugstack) as other:
        res = other.run(["srun", "-n", "1", "printenv", "LD_PRELOAD"])
        assert res.returncode == 1 and res.stdout == "", res.stdout    # ran, no preload
        assert "the interposer /nonexistent/libmpicomm.so is not readable on this node " \
            "(plugstack.conf lib=); the task runs without it" in res.stderr
        res = other.run(["srun", "-n", "1", "--mpicomm=off", "true"])
        assert res.returncode == 0 and "not readable" not in res.stderr, res.stderr


@needs_spank
def test_spank_plugin_refuses_a_bad_plugstack_line(spank):
    with slurm_cluster.SlurmCluster(cpus=2, plugstack=[f"required {spank} library=x"]) as other:
        # Slurm 22.05 goes on without a plugin whose init failed, even a required one.
        res = other.run(["srun", "-n", "1", "true"])
        assert "mpicomm: unknown plugstack.conf argument 'library=x' (use lib=PATH and " \
            "default=on|off)" in res.stderr, res.stderr
        res = other.run(["srun", "-n", "1", "--mpicomm", "true"])
        assert res.returncode != 0 and "mpicomm" in res.stderr       # no such option


# Two nodes: slurmd in network and UTS namespaces of their own (node1, node2) ------------

MULTINODE_MISSING = slurm_cluster.multinode_missing()
needs_two_nodes = pytest.mark.skipif(MULTINODE_MISSING is not None,
                                     reason=MULTINODE_MISSING or "")


@pytest.fixture(scope="module")
def two_nodes(spank):
    lib = helpers.cli("preload-path").stdout.strip()
    plugstack = [f"required {spank} lib={lib}"] if spank else []
    c = slurm_cluster.SlurmCluster(cpus=4, nodes=2, plugstack=plugstack).start()
    yield c
    c.stop()


@needs_two_nodes
def test_run_spans_the_nodes_of_an_allocation(two_nodes, pmi):
    res = two_nodes.run(["salloc", "-N", "2", "--ntasks-per-node=2", *MPICOMM, "run", "-v",
                         "--", sys.executable, JOB])
    assert res.returncode == 0, res.stderr
    assert launch_line(res).startswith("srun -n 4 ") and f"--mpi={pmi}" in launch_line(res)
    ranks = job_result(res)
    assert sorted(r["host"] for r in ranks) == ["node1", "node1", "node2", "node2"], ranks
    for r in ranks:            # the ring crosses between the nodes: packed, and right
        assert r["size"] == 4 and r["preload"] and r["correct"], r
        assert r["send_fast"] == 1 and r["recv_fast"] == 1, r


@needs_two_nodes
def test_a_rank_failing_on_the_other_node_ends_the_step(two_nodes):
    code = ("import os, socket, time; from mpi4py import MPI; MPI.COMM_WORLD.Barrier(); "
            "socket.gethostname() == 'node2' and os._exit(5); time.sleep(120)")
    t = time.monotonic()
    res = two_nodes.run(["salloc", "-N", "2", "--ntasks-per-node=1", *MPICOMM, "run", "--",
                         sys.executable, "-c", code])
    assert res.returncode != 0 and time.monotonic() - t < 60, res.stderr


@needs_two_nodes
def test_measure_in_a_two_node_allocation_keeps_to_one_node(two_nodes, tmp_path):
    out = tmp_path / "model.h5"
    res = two_nodes.run(["salloc", "-N", "2", "--ntasks-per-node=2", *MPICOMM, "measure",
                         "--quick", "--reps", "1", "-v", "-o", str(out)])
    assert res.returncode == 0, res.stderr
    assert "srun -n 2 -N 1 " in res.stderr and out.exists()


@needs_two_nodes
@needs_spank
def test_spank_option_preloads_every_node(two_nodes, pmi):
    res = two_nodes.run(["srun", "-N", "2", "-n", "2", f"--mpi={pmi}", "--mpicomm",
                         sys.executable, JOB])
    assert res.returncode == 0, res.stderr
    ranks = job_result(res)
    assert sorted(r["host"] for r in ranks) == ["node1", "node2"], ranks
    assert all(r["preload"] and r["correct"] and r["send_fast"] == 1 for r in ranks), ranks


# A site MPI's Fortran program, unchanged, under a plain srun --mpicomm ----------------------

FTOOLS, _, NO_FORTRAN = helpers.site_fortran()


@needs_spank
@pytest.mark.skipif(NO_FORTRAN is not None, reason=NO_FORTRAN or "")
def test_site_fortran_program_under_srun_mpicomm(spank, pmi, tmp_path):
    """Debian's MPI of the family under test (a site MPI), a generated Fortran halo
    exchange built with its mpif90, and the SPANK plugin offering the interposer built
    for that MPI: srun --mpicomm packs its faces, with the results of a plain srun."""
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    (tmp_path / "halo.f90").write_text(codegen.halo(3, 1, "faces", "float64", "fortran"))
    for cmd in (["-c", "halo.f90"], ["-DFTYPE=real(8)", str(HERE / "codegen" / "halo_check.F90"),
                                     "halo.o", "-o", "check"]):
        subprocess.run([FTOOLS["mpif90"], "-O1", *cmd], check=True, cwd=tmp_path, env=env)
    lib = build.build(mpicc=FTOOLS["mpicc"], quiet=True)["library"]
    with slurm_cluster.SlurmCluster(cpus=4, plugstack=[f"required {spank} lib={lib}"]) as c:
        argv = [str(tmp_path / "check"), "111", "4", "4", "4"]
        plain = c.run(["srun", "-n", "4", f"--mpi={pmi}", *argv])
        assert plain.returncode == 0 and "halo_check OK" in plain.stdout, plain.stderr
        res = c.run(["srun", "-n", "4", f"--mpi={pmi}", "--mpicomm=pack",
                     "--export=ALL,MPICOMM_STATS=1", *argv])
        assert res.returncode == 0 and res.stdout == plain.stdout, res.stdout + res.stderr
        stats = helpers.stats_lines(res.stderr)
        assert len(stats) == 4 and all(s["send_fast"] > 0 for s in stats), res.stderr
