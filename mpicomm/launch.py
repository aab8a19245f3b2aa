"""Launch a command on N ranks with the interposer preloaded into the ranks only (never
into the launcher itself): through the installed MPI's mpiexec, or through Slurm's srun
inside an allocation.

The launcher is `--launcher` / MPICOMM_LAUNCHER: `auto` (the default) takes srun inside
a Slurm allocation (SLURM_JOB_ID set, srun on PATH) and mpiexec elsewhere; `--ft` always
takes mpiexec, because ULFM's failure detection lives in Open MPI's own runtime.
"""
import os
import shutil
import subprocess
import sys

from mpicomm import build, installation

LAUNCHERS = ("auto", "mpiexec", "srun")

# Open MPI's ULFM runs with these (other transports were seen to hang on a failure).
ULFM_ARGS = ("--with-ft", "ulfm", "--mca", "pml", "ob1", "--mca", "btl", "tcp,self")


def launcher_env(inst, nprocs, base=None):
    """Environment for mpiexec: what the MPI needs to start here, never overriding the user."""
    env = dict(os.environ if base is None else base)
    if inst.is_openmpi:
        if os.geteuid() == 0:
            env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
            env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        if nprocs > (os.cpu_count() or 1):
            # Open MPI 5 (PRRTE) ignores OMPI_MCA_rmaps_base_oversubscribe.
            env.setdefault("PRTE_MCA_rmaps_default_mapping_policy", ":oversubscribe")
    return env


def in_allocation(env=None):
    """True inside a Slurm allocation (a batch script, salloc, or a step of either)."""
    return bool((os.environ if env is None else env).get("SLURM_JOB_ID"))


def allocation_tasks(env=None):
    """The number of tasks of the Slurm allocation, or None outside one."""
    env = os.environ if env is None else env
    if not in_allocation(env):
        return None
    for name in ("SLURM_NTASKS", "SLURM_NPROCS"):
        if env.get(name, "").isdigit():
            return int(env[name])
    return None


def allocation_nodes(env=None):
    """The number of nodes of the Slurm allocation (0 outside one)."""
    env = os.environ if env is None else env
    if not in_allocation(env):
        return 0
    for name in ("SLURM_JOB_NUM_NODES", "SLURM_NNODES"):
        if env.get(name, "").isdigit():
            return int(env[name])
    return 1


def node_tasks(env=None):
    """The tasks the Slurm allocation may start on its first node (SLURM_TASKS_PER_NODE,
    e.g. "2(x2),1"), or None outside one or where Slurm does not say."""
    env = os.environ if env is None else env
    first = env.get("SLURM_TASKS_PER_NODE", "").split(",")[0].split("(")[0]
    return int(first) if in_allocation(env) and first.isdigit() else None


def choose(requested=None, ft=False, env=None):
    """The launcher to use: "mpiexec" or "srun" (see the module's docstring)."""
    env = os.environ if env is None else env
    source = "--launcher" if requested else "MPICOMM_LAUNCHER"
    requested = requested or env.get("MPICOMM_LAUNCHER") or "auto"
    if requested not in LAUNCHERS:
        raise ValueError(f"{source}={requested!r} is not a launcher: use one of "
                         f"{', '.join(LAUNCHERS)}")
    if requested == "auto":
        return "srun" if in_allocation(env) and shutil.which("srun") and not ft else "mpiexec"
    if requested == "srun":
        if ft:
            raise ValueError("--ft needs mpiexec (ULFM's failure detection is in Open MPI's "
                             "own runtime, which srun does not start); drop --launcher srun")
        if not shutil.which("srun"):
            raise ValueError(f"{source}=srun but srun is not on PATH (is Slurm installed here?)")
    return requested


# Slurm's PMI plugin each MPI family starts under (MPICH speaks PMI-1/2 over PMI_FD,
# Open MPI 5 only PMIx).
SRUN_PMI = {"MPICH": "pmi2", "Open MPI": "pmix"}


def srun_plugins():
    """The --mpi plugin types this srun offers (`srun --mpi=list`)."""
    out = subprocess.run(["srun", "--mpi=list"], capture_output=True, text=True, timeout=60)
    names = set()
    for line in (out.stdout + out.stderr).splitlines():
        word = line.strip().split(" ")[0]
        if word and ":" not in word and not line.startswith(("MPI plugin", "specific")):
            names.add(word)
    return names


def srun_pmi(inst, srun_args=()):
    """The --mpi=... argument srun needs for this MPI; none when the user gave one."""
    if any(a == "--mpi" or a.startswith("--mpi=") for a in srun_args):
        return []
    plugin = SRUN_PMI.get(inst.vendor)
    if plugin is None:
        return []          # another MPI: Slurm's MpiDefault, as a plain srun would
    offered = srun_plugins()
    if plugin not in offered:
        raise ValueError(f"{inst.vendor} starts under srun --mpi={plugin}, which this Slurm "
                         f"does not offer (srun --mpi=list: {', '.join(sorted(offered))}); "
                         "use --launcher mpiexec")
    return [f"--mpi={plugin}"]


def _needed(path):
    """The shared libraries an ELF executable names (DT_NEEDED), [] for anything else."""
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"\x7fELF":
                return []
        out = subprocess.run(["readelf", "-d", path], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [ln.split("[", 1)[1].rstrip("]") for ln in out.splitlines() if "(NEEDED)" in ln]


def other_mpi(program, inst):
    """Whether program is an executable linked against another libmpi than the one the
    interposer is built for (another soname: another ABI); says so on stderr."""
    path = shutil.which(program) or program
    mine = os.path.basename(inst.libmpi)
    theirs = [n for n in _needed(path) if n.startswith("libmpi.so")]
    if not theirs or not mine.startswith("libmpi.so") or theirs[0] == mine:
        return False
    print(f"mpicomm run: {program} is linked against {theirs[0]}, another MPI than "
          f"{inst.vendor} {inst.version} ({mine}), which the interposer is built for: "
          "starting it without the interposer. To serve it, run it from the environment "
          "of its own MPI (mpicomm build --mpicc <its mpicc>).", file=sys.stderr)
    return True


def command(nprocs, argv, interposer=True, mpiexec_args=(), inst=None, env_vars=None, ft=False,
            launcher=None, srun_args=(), one_node=False, spread=False):
    """(argv, env) for running argv on nprocs ranks (None: the allocation's task count);
    ft: survive failed ranks (ULFM); one_node: keep every rank on one node; spread: one
    rank on each of nprocs nodes (srun only)."""
    # 1. How many ranks, and under which launcher.
    which = choose(launcher, ft=ft)
    if nprocs is None:
        nprocs = allocation_tasks()
        if nprocs is None:
            raise ValueError("-n is required outside a Slurm allocation (inside one it "
                             "defaults to SLURM_NTASKS)")
    if nprocs < 1:
        raise ValueError(f"-n must be at least 1, got {nprocs}")
    if not argv:
        raise ValueError("no command to run: give it after --")
    if which == "srun" and mpiexec_args:
        raise ValueError("--mpiexec-args given, but the launcher is srun (inside a Slurm "
                         "allocation): use --srun-args, or --launcher mpiexec")
    if which == "mpiexec" and srun_args:
        raise ValueError("--srun-args given, but the launcher is mpiexec: use --mpiexec-args, "
                         "or --launcher srun")
    inst = inst or installation.probe()
    if ft and not inst.is_openmpi:
        raise ValueError(f"--ft needs Open MPI's ULFM (user-level failure mitigation); "
                         f"mpi4py loads {inst.vendor} {inst.version}, which does not provide it "
                         "here: without --ft a failed rank ends the whole job")

    # 2. What the ranks get: the preload and the caller's variables, through env(1) so
    # that neither launcher loads the interposer itself; none for a program linked
    # against another MPI, which no build for this one can serve.
    rank_env = [f"{k}={v}" for k, v in (env_vars or {}).items()]
    if interposer and other_mpi(argv[0], inst):
        interposer = False
    if interposer:
        lib = build.preload_path(inst=inst)
        preload = ":".join(p for p in (lib, os.environ.get("LD_PRELOAD", "")) if p)
        rank_env.append(f"LD_PRELOAD={preload}")
    prefix = ["env", *rank_env] if rank_env else []

    # 3. The launcher's own command line.
    if which == "srun":
        srun_args = tuple(srun_args)
        nodes = ["-N", "1"] if one_node else \
            ["-N", str(nprocs), "--ntasks-per-node=1"] if spread else []
        # A rank that fails ends the step, as under mpiexec (else the others wait on it).
        return (["srun", "-n", str(nprocs), *nodes, "--kill-on-bad-exit=1",
                 *srun_pmi(inst, srun_args), *srun_args, *prefix, *argv],
                dict(os.environ))
    mpiexec_args = (*ULFM_ARGS, *mpiexec_args) if ft else tuple(mpiexec_args)
    return ([inst.tool("mpiexec"), "-n", str(nprocs), *mpiexec_args, *prefix, *argv],
            launcher_env(inst, nprocs))
