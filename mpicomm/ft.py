"""Surviving failed ranks with Open MPI's ULFM (launch with `mpicomm run --ft`).

    >>> from mpicomm import ft
    >>> comm = ft.resilient(MPI.COMM_WORLD)          # a dup that returns errors
    >>> try:
    ...     comm.Allreduce(MPI.IN_PLACE, grads)
    ... except MPI.Exception as exc:
    ...     comm, failed = ft.recover(comm, exc)      # revoke, shrink; raises if not a failure
    ...     # redo the step on the survivors; `failed` are ranks of the old comm

Every survivor sees either MPI_ERR_PROC_FAILED (it talked to the dead rank) or
MPI_ERR_REVOKED (another survivor revoked the communicator), so every survivor
reaches recover() and the shrink is collective over the survivors.
"""
import atexit
import ctypes
import os
import sys
import threading

from mpi4py import MPI

__all__ = ["available", "resilient", "is_failure", "recover", "bound_finalize"]


def _classes():
    return {getattr(MPI, name) for name in ("ERR_PROC_FAILED", "ERR_PROC_FAILED_PENDING",
                                            "ERR_REVOKED") if hasattr(MPI, name)}


def available(comm=None):
    """True when the MPI offers ULFM's revoke and shrink on this communicator."""
    comm = comm or MPI.COMM_WORLD
    try:
        comm.Is_revoked()
    except (NotImplementedError, MPI.Exception, AttributeError):
        return False
    return True


def resilient(comm):
    """A duplicate of comm whose errors are returned (raised in Python), not fatal."""
    finalize_timeout()             # a bad MPICOMM_FT_FINALIZE_S is named now, not at a failure
    dup = comm.Dup()
    dup.Set_errhandler(MPI.ERRORS_RETURN)
    return _settled(dup)


def _settled(comm):
    """comm once every rank holds it. Open MPI 5.0.11 crashes a rank (a segfault in
    ompi_comm_revoke_local) when another rank fails while it still builds a new
    communicator, so nobody leaves a Dup or a Shrink before all have it. A failure in
    this barrier revokes comm: its next operation reports it and recover() shrinks it."""
    try:
        comm.Barrier()
    except MPI.Exception as exc:
        if not is_failure(exc):
            raise
        comm.Revoke()
    return comm


def is_failure(exc):
    """Whether an MPI exception reports a failed rank or a revoked communicator."""
    return isinstance(exc, MPI.Exception) and exc.Get_error_class() in _classes()


def recover(comm, exc):
    """After a failure on comm: revoke it, shrink it to the survivors, and return
    (new communicator, sorted ranks of comm that failed). Any other error is re-raised."""
    if not is_failure(exc):
        raise exc
    if not available(comm):
        raise RuntimeError("a rank failed but this MPI has no ULFM (launch with "
                           "`mpicomm run --ft` under Open MPI)") from exc
    comm.Revoke()
    bound_finalize()
    new = comm.Shrink()
    new.Set_errhandler(MPI.ERRORS_RETURN)
    _settled(new)
    old_group, new_group = comm.Get_group(), new.Get_group()
    kept = MPI.Group.Translate_ranks(new_group, list(range(new.Get_size())), old_group)
    failed = sorted(set(range(comm.Get_size())) - set(kept))
    old_group.Free()
    new_group.Free()
    return new, failed


_armed = False


def finalize_timeout():
    """Seconds a recovered process waits in MPI_Finalize at exit (MPICOMM_FT_FINALIZE_S)."""
    raw = os.environ.get("MPICOMM_FT_FINALIZE_S", "10")
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"MPICOMM_FT_FINALIZE_S={raw!r}: expected a positive number of seconds")
    return value


def bound_finalize():
    """Open MPI 5.0's MPI_Finalize can wait forever for a dead peer (now and then after a
    recovery: benchmarks/ft_bench.py, docs/limits.md). Leaving without it is no cure: a survivor that exits while
    another still waits on its last message looks to that one like a new failure. So
    a process that lived through a failure calls MPI_Finalize itself at exit (its fence
    keeps every survivor alive until all are done communicating) and a watchdog ends
    the process if that has not returned within finalize_timeout() seconds: status 1
    after an uncaught exception, else 0. recover() arms it; a program that handles
    failures its own way (acknowledging them rather than shrinking) calls it."""
    global _armed
    if _armed:
        return
    _armed = True
    timeout = finalize_timeout()
    status = [0]
    hook = sys.excepthook

    def excepthook(*info):
        status[0] = 1
        hook(*info)

    def watchdog(done):
        if not done.wait(timeout):
            sys.stdout.flush()
            sys.stderr.write(f"mpicomm: MPI_Finalize did not return within {timeout:g} s "
                             f"after a recovery (MPICOMM_FT_FINALIZE_S); ending this process "
                             f"with status {status[0]}\n")
            sys.stderr.flush()
            os._exit(status[0])

    def finalize():
        # atexit runs last-registered first, so this precedes mpi4py's own finalize.
        if MPI.Is_finalized():
            return
        sys.stdout.flush()
        sys.stderr.flush()
        done = threading.Event()
        threading.Thread(target=watchdog, args=(done,), daemon=True).start()
        _mpi_finalize_releasing_gil()
        done.set()

    sys.excepthook = excepthook
    atexit.register(finalize)


def _mpi_finalize_releasing_gil():
    """MPI_Finalize through ctypes, which lets go of the GIL (mpi4py's Finalize keeps
    it, so no watchdog thread could run while it waits). The symbol is looked up
    globally first, so a preloaded interposer's MPI_Finalize is the one called."""
    fn = getattr(ctypes.CDLL(None), "MPI_Finalize", None)
    if fn is None:
        with open("/proc/self/maps") as maps:
            libs = [ln.split()[-1] for ln in maps if "/libmpi.so" in ln]
        if not libs:
            MPI.Finalize()
            return
        fn = ctypes.CDLL(libs[0]).MPI_Finalize
    fn.restype = ctypes.c_int
    fn()
