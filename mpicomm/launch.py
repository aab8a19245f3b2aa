"""Launch a command under the installed MPI's mpiexec, with the interposer preloaded
into the ranks only (not into mpiexec itself)."""
import os

from mpicomm import build, installation


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


# Open MPI's ULFM runs with these (other transports were seen to hang on a failure).
ULFM_ARGS = ("--with-ft", "ulfm", "--mca", "pml", "ob1", "--mca", "btl", "tcp,self")


def command(nprocs, argv, interposer=True, mpiexec_args=(), inst=None, env_vars=None, ft=False):
    """(argv, env) for running argv on nprocs ranks; ft: survive failed ranks (ULFM)."""
    if nprocs < 1:
        raise ValueError(f"-n must be at least 1, got {nprocs}")
    if not argv:
        raise ValueError("no command to run: give it after --")
    inst = inst or installation.probe()
    if ft and not inst.is_openmpi:
        raise ValueError(f"--ft needs Open MPI's ULFM (user-level failure mitigation); "
                         f"mpi4py loads {inst.vendor} {inst.version}, which does not provide it "
                         "here: without --ft a failed rank ends the whole job")
    mpiexec_args = (*ULFM_ARGS, *mpiexec_args) if ft else tuple(mpiexec_args)
    mpiexec = inst.tool("mpiexec")
    env = launcher_env(inst, nprocs)
    rank_env = [f"{k}={v}" for k, v in (env_vars or {}).items()]
    if interposer:
        lib = build.preload_path(inst=inst)
        preload = ":".join(p for p in (lib, os.environ.get("LD_PRELOAD", "")) if p)
        rank_env.append(f"LD_PRELOAD={preload}")
    prefix = ["env", *rank_env] if rank_env else []
    return [mpiexec, "-n", str(nprocs), *mpiexec_args, *prefix, *argv], env
