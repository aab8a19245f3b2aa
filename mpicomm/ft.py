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
import os
import sys

from mpi4py import MPI

__all__ = ["available", "resilient", "is_failure", "recover"]


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
    dup = comm.Dup()
    dup.Set_errhandler(MPI.ERRORS_RETURN)
    return dup


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
    _skip_finalize_at_exit()
    new = comm.Shrink()
    new.Set_errhandler(MPI.ERRORS_RETURN)
    old_group, new_group = comm.Get_group(), new.Get_group()
    kept = MPI.Group.Translate_ranks(new_group, list(range(new.Get_size())), old_group)
    failed = sorted(set(range(comm.Get_size())) - set(kept))
    old_group.Free()
    new_group.Free()
    return new, failed


_armed = False


def _skip_finalize_at_exit():
    """Open MPI 5.0's MPI_Finalize can wait forever for a dead peer (seen here in about
    one run in three), so a process that lived through a failure leaves without it: at
    exit it flushes its output and ends with status 1 after an uncaught exception, else
    0 (a status given to sys.exit is not kept)."""
    global _armed
    if _armed:
        return
    _armed = True
    status = [0]
    hook = sys.excepthook

    def excepthook(*info):
        status[0] = 1
        hook(*info)

    def leave():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status[0])

    sys.excepthook = excepthook
    atexit.register(leave)
