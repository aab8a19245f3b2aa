"""The mpicomm command line, run for real: build, preload-path, run, info."""
import json
import os
import subprocess
import sys

import pytest

from support import helpers
from mpicomm import build, installation


cli = helpers.cli
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_preload_path_is_an_existing_library_built_for_this_mpi():
    res = cli("preload-path")
    assert res.returncode == 0, res.stderr
    path = res.stdout.strip()
    assert os.path.isabs(path) and os.path.isfile(path)
    assert cli("preload-path").stdout.strip() == path            # cached, stable
    symbols = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True,
                             text=True).stdout
    for fn in ("MPI_Pack", "MPI_Unpack", "MPI_Type_commit", "MPI_Type_free", "MPI_Init",
               "MPI_Init_thread", "MPI_Finalize", "MPI_Pack_size"):
        assert f" {fn}\n" in symbols
    if installation.probe().std_version >= (4, 0):
        for fn in ("MPI_Pack_c", "MPI_Unpack_c", "MPI_Pack_size_c"):
            assert f" {fn}\n" in symbols


def test_info_names_the_mpi_and_the_build():
    res = cli("info")
    assert res.returncode == 0, res.stderr
    inst = installation.probe()
    assert f"{inst.vendor} {inst.version}" in res.stdout
    assert "CPU kernels" in res.stdout and "yes (" in res.stdout
    assert "CUDA kernels" in res.stdout
    if inst.vendor in ("MPICH", "Open MPI"):          # both answer MPIX_Query_cuda_support
        aware = installation.cuda_aware()
        assert isinstance(aware, bool)
        assert f"CUDA-aware     {'yes' if aware else 'no'} (MPIX" in res.stdout
    assert cli("preload-path").stdout.strip() in res.stdout
    assert "mpiexec (outside a Slurm allocation)" in res.stdout


# Ranks' output interleaves in the launcher's forwarding, even within lines: rank 0
# gathers and prints once.
GATHER = ("import json, os; from mpi4py import MPI; c = MPI.COMM_WORLD; "
          "v = c.gather({expr}); c.Get_rank() or print('GATHERED', json.dumps(v))")


def gathered(res):
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("GATHERED ")]
    assert len(line) == 1, res.stdout + res.stderr
    return json.loads(line[0][len("GATHERED "):])


def test_run_preloads_into_the_ranks_only():
    code = GATHER.format(expr="os.environ.get('LD_PRELOAD', '')")
    lib = cli("preload-path").stdout.strip()
    res = helpers.mpicomm_run(2, [sys.executable, "-c", code])
    assert res.returncode == 0, res.stderr
    assert all(lib in v for v in gathered(res))
    res = helpers.mpicomm_run(2, [sys.executable, "-c", code], interposer=False)
    assert res.returncode == 0, res.stderr
    assert all(lib not in v for v in gathered(res))


def test_run_more_ranks_than_cores():
    n = (os.cpu_count() or 1) + 2
    res = helpers.mpicomm_run(n, [sys.executable, "-c", GATHER.format(expr="c.Get_size()")])
    assert res.returncode == 0, res.stderr
    assert gathered(res) == [n] * n


def test_run_passes_the_exit_status_through():
    res = helpers.mpicomm_run(1, [sys.executable, "-c", "raise SystemExit(3)"])
    assert res.returncode != 0


@pytest.mark.parametrize("args, message", [
    (["run", "-n", "0", "--", "true"], "-n must be at least 1"),
    (["run", "-n", "2"], "no command to run"),
    (["build", "--mpicc", "/nonexistent/mpicc"], "'/nonexistent/mpicc' is not an executable"),
    (["run", "--", "true"], "-n is required outside a Slurm allocation"),
    (["run", "-n", "1", "--srun-args=-N2", "--", "true"], "--srun-args given, but the "
                                                         "launcher is mpiexec"),
    (["run", "-n", "1", "--launcher", "bogus", "--", "true"], "invalid choice: 'bogus'"),
])
def test_bad_input_gets_a_clear_error(args, message):
    res = cli(*args, env={"MPICOMM_LAUNCHER": ""})
    assert res.returncode == 2 and message in res.stderr, res.stderr


def test_a_bad_launcher_variable_is_named():
    res = cli("run", "-n", "1", "--", "true", env={"MPICOMM_LAUNCHER": "slurm"})
    assert res.returncode == 2, res.stderr
    assert "MPICOMM_LAUNCHER='slurm' is not a launcher: use one of auto, mpiexec, srun" \
        in res.stderr


def test_refuses_to_hand_out_a_build_for_another_mpi(tmp_path):
    other = os.environ.get("MPICOMM_TEST_OTHER_MPICC")
    if not other or not os.access(other, os.X_OK):
        pytest.skip("MPICOMM_TEST_OTHER_MPICC (the other MPI's mpicc) not given; make test sets it")
    env = {"MPICOMM_CACHE_DIR": str(tmp_path)}
    res = cli("preload-path", "--mpicc", other, env=env)
    assert res.returncode == 2
    assert "refusing to preload" in res.stderr and installation.probe().vendor in res.stderr
    # Refused before anything was built: no message of a build, nothing in the cache.
    assert "building" not in res.stderr
    assert not list(tmp_path.glob("*/libmpicomm.so"))


def test_a_build_of_this_environment_is_found_from_another_cache_directory(tmp_path):
    """`make` builds into .cache/build; a shell without its MPICOMM_CACHE_DIR (here: an
    empty one) gets that build, not a new one."""
    made = cli("preload-path")
    assert made.returncode == 0, made.stderr
    res = cli("preload-path", env={"MPICOMM_CACHE_DIR": str(tmp_path / "empty")})
    assert res.returncode == 0, res.stderr
    assert res.stdout == made.stdout and "building" not in res.stderr
    assert not list(tmp_path.glob("**/libmpicomm.so"))


def other_mpi_program(tmp_path):
    """halo3d built with the other MPI's mpicc (skips where that cannot run here)."""
    other = os.environ.get("MPICOMM_TEST_OTHER_MPICC")
    if not other or not os.access(other, os.X_OK):
        pytest.skip("MPICOMM_TEST_OTHER_MPICC (the other MPI's mpicc) not given; make test sets it")
    if installation.probe().vendor == "Open MPI":
        pytest.skip("an MPICH program cannot start under Open MPI's launcher (its MPI_Init "
                    "refuses PMIx before any interposer code runs); the MPICH run tests this")
    exe = tmp_path / "halo3d"
    subprocess.run([other, "-O2", "-o", str(exe), os.path.join(ROOT, "examples", "halo3d.c")],
                   check=True)
    return exe


def test_mpicomm_run_starts_a_program_of_another_mpi_without_the_interposer(tmp_path):
    """Linked against another libmpi (another ABI): said before launching, and the program
    runs as it would without mpicomm."""
    exe = other_mpi_program(tmp_path)
    res = helpers.mpicomm_run(1, [str(exe), "--n", "8", "--iters", "1"], timeout=120)
    assert "another MPI than" in res.stderr and "without the interposer" in res.stderr
    assert res.returncode == 0 and "check OK" in res.stdout, res.stdout + res.stderr[-2000:]


def test_a_program_of_another_mpi_preloaded_by_hand_is_told_why(tmp_path):
    """The same program with the interposer preloaded by hand (mpiexec env LD_PRELOAD=…):
    MPI_Init says which MPI it was built for and how to run the program, without touching
    the other MPI's handles (its log asked the wrong MPI for the rank and crashed there)."""
    exe = other_mpi_program(tmp_path)
    lib = build.preload_path()
    res = subprocess.run([installation.probe().tool("mpiexec"), "-n", "1", "env",
                          f"LD_PRELOAD={lib}", str(exe), "--n", "8", "--iters", "1"],
                         capture_output=True, text=True, timeout=120)
    assert "whose handles it cannot pass on" in res.stderr, res.stderr[-3000:]
    assert "mpicomm run --no-interposer" in res.stderr
    assert "mpiw_log" not in res.stderr


# Finds the interposer the way `mpicomm run` does, with every child process and compiler
# forbidden: the kept answers (mpicomm.memo) must serve it.
NO_CHILDREN = """
import subprocess, sys
from mpicomm import build
def refuse(*args, **kwargs):
    raise AssertionError(f"ran {args[0]!r}")
subprocess.run = subprocess.Popen = refuse
print(build.preload_path())
"""


def test_a_second_launch_finds_the_interposer_without_probing():
    first = cli("preload-path")
    assert first.returncode == 0, first.stderr
    res = subprocess.run([sys.executable, "-c", NO_CHILDREN], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == first.stdout.strip()


def test_kept_answers_go_stale_with_their_files(tmp_path, monkeypatch):
    from mpicomm import memo
    monkeypatch.setenv("MPICOMM_CACHE_DIR", str(tmp_path))
    dep = tmp_path / "libmpi.so"
    dep.write_bytes(b"1")
    memo.put("probe", "k", {"libmpi": str(dep)}, files=[dep])
    assert memo.get("probe", "k") == {"libmpi": str(dep)}
    assert memo.get("probe", "other") is None
    dep.write_bytes(b"22")                        # reinstalled: another size
    assert memo.get("probe", "k") is None
    monkeypatch.setenv("MPI4PY_LIBMPI", "/elsewhere/libmpi.so")
    assert memo.key(memo.environment()) != memo.key(
        [*memo.environment()[:2], {}])
    (tmp_path / memo.MEMO).write_text("{not json")
    assert memo.get("probe", "k") is None          # a damaged file: found again
    memo.put("probe", "k", 1)
    assert memo.get("probe", "k") == 1


def test_the_allocations_nodes_and_tasks_per_node_are_read_from_slurm():
    """What `mpicomm measure` plans by: nodes (a second run between two of them) and the
    tasks the first node may hold (the all-to-alls at 4 ranks need 4 there)."""
    from mpicomm import launch
    env = {"SLURM_JOB_ID": "7", "SLURM_JOB_NUM_NODES": "2", "SLURM_TASKS_PER_NODE": "2(x2)"}
    assert launch.allocation_nodes(env) == 2 and launch.node_tasks(env) == 2
    assert launch.node_tasks({"SLURM_JOB_ID": "7", "SLURM_TASKS_PER_NODE": "4,1"}) == 4
    assert launch.allocation_nodes({"SLURM_JOB_ID": "7"}) == 1
    assert launch.allocation_nodes({}) == 0 and launch.node_tasks({}) is None
