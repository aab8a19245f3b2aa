"""Shared helpers for tests that launch MPI jobs themselves."""
import json
import os
import shutil
import signal
import subprocess
import sys

from mpicomm import installation


def inst():
    return installation.probe()


def cli(*args, env=None, timeout=600):
    """`python -m mpicomm ARGS` with env added to ours; returns CompletedProcess."""
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "mpicomm", *args], capture_output=True,
                          text=True, env=full, timeout=timeout)


def mpicomm_run(nprocs, argv, interposer=True, env=None, timeout=600, cwd=None, ft=False,
                attempts=1):
    """Run argv on nprocs ranks through `mpicomm run` (--ft when ft); returns
    CompletedProcess. A job past its timeout is killed with all its processes (no rank
    is left spinning) and, with attempts > 1, run again; the last timeout raises."""
    cmd = [sys.executable, "-m", "mpicomm", "run", "-n", str(nprocs)]
    if not interposer:
        cmd.append("--no-interposer")
    if ft:
        cmd.append("--ft")
    full_env = dict(os.environ)
    full_env.update(env or {})
    for attempt in range(attempts):
        proc = subprocess.Popen(cmd + ["--", *argv], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=full_env, cwd=cwd,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=timeout)
            return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            if attempt == attempts - 1:
                raise


def stats_lines(stderr):
    """The MPICOMM_STATS=1 JSON objects printed at MPI_Finalize, one per rank."""
    out = []
    for line in stderr.splitlines():
        if line.startswith("mpicomm-stats "):
            out.append(json.loads(line[len("mpicomm-stats "):]))
    return sorted(out, key=lambda s: s["rank"])


def mpicc():
    return inst().tool("mpicc")


def compile_c(source, target):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    subprocess.run([mpicc(), "-O2", "-o", str(target), str(source), "-ldl"], check=True, env=env)
    return target


def site_fortran():
    """Debian's MPI of the family under test, with Fortran bindings (the PyPI wheels have
    none): ({"mpicc", "mpif90", "mpiexec": path or None}, suffix, skip reason or None)."""
    suffix = {"MPICH": "mpich", "Open MPI": "openmpi"}[inst().vendor]
    tools = {name: shutil.which(f"{name}.{suffix}") for name in ("mpicc", "mpif90", "mpiexec")}
    reason = None
    if not all(tools.values()) or not shutil.which("gfortran"):
        reason = (f"no Fortran-capable {suffix} (Debian's lib{suffix}-dev and gfortran; "
                  "`make test` installs them)")
    return tools, suffix, reason
