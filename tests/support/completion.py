"""Completing a point-to-point exchange through each family of MPI completion calls
(the host and the device tests run their exchanges through every one)."""
import time

from mpi4py import MPI

COMPLETIONS = ["wait", "waitall", "waitall_ignore", "waitany", "waitsome", "test", "testall",
               "testany", "testsome", "get_status", "free_send"]


def complete(how, r, s):
    """Complete receive r and send s with one family of completion calls."""
    st = MPI.Status()
    deadline = time.monotonic() + 30
    if how == "wait":
        s.Wait()
        r.Wait(st)
    elif how == "waitall":
        sts = [MPI.Status(), MPI.Status()]
        MPI.Request.Waitall([r, s], sts)
        st = sts[0]
    elif how == "waitall_ignore":
        MPI.Request.Waitall([r, s])
        st = None
    elif how in ("waitany", "testany"):
        reqs, got = [r, s], set()
        while len(got) < 2:
            assert time.monotonic() < deadline
            one = MPI.Status()
            if how == "waitany":
                i = MPI.Request.Waitany(reqs, one)
            else:
                i, flag = MPI.Request.Testany(reqs, one)
                if not flag:
                    continue
            got.add(i)
            if i == 0:
                st = one
    elif how in ("waitsome", "testsome"):
        reqs, got = [r, s], set()
        while len(got) < 2:
            assert time.monotonic() < deadline
            sts = [MPI.Status(), MPI.Status()]
            fn = MPI.Request.Waitsome if how == "waitsome" else MPI.Request.Testsome
            idx = fn(reqs, sts) or []
            for j, i in enumerate(idx):
                got.add(i)
                if i == 0:
                    st = sts[j]
    elif how == "test":
        while not s.Test():
            assert time.monotonic() < deadline
        while not r.Test(st):
            assert time.monotonic() < deadline
    elif how == "testall":
        while not MPI.Request.Testall([r, s]):
            assert time.monotonic() < deadline
        st = None
    elif how == "get_status":
        while not r.Get_status(st):         # MPI_Request_get_status: data must be there now
            assert time.monotonic() < deadline
        s.Wait()
        return st, "peek"
    elif how == "free_send":
        s.Free()                            # MPI_Request_free on an active packed send
        r.Wait(st)
    return st, None
