"""Interposed persistent requests and send modes, against the MPI itself.

Runs at any rank count, around the ring of test_p2p_mpi (rank r sends to r+1 and
receives from r-1). Persistent requests (MPI_Send_init, MPI_Ssend_init, MPI_Rsend_init,
MPI_Recv_init) are made once and started several times with new data each time; the
packed method must pack afresh at each MPI_Start, unpack at each completion, leave
the request inactive between starts as the MPI does, and give the same data and
statuses as the MPI.
"""
import time

import numpy as np
import pytest
from mpi4py import MPI

import test_p2p_mpi
from test_p2p_mpi import COMM, DEST, RANK, SRC, complete, vector

INITS = {"send": MPI.Comm.Send_init, "ssend": MPI.Comm.Ssend_init,
         "rsend": MPI.Comm.Rsend_init}
# Every completion call; "free_send" frees the send, which is tested on its own below.
COMPLETIONS = [how for how in test_p2p_mpi.COMPLETIONS if how != "free_send"]


def data(rank, k):
    return np.arange(22, dtype="f8") + 1000 * rank + 100 * k


def received(out, rank, k):
    """The 16 doubles of vector() x 2 from rank's round-k data landed, nothing else."""
    theirs = data(rank, k)
    mask = out != -1
    return mask.sum() == 16 and np.array_equal(out[mask], theirs[mask])


def status_of(st):
    return None if st is None else (st.Get_source(), st.Get_tag(), st.Get_count(MPI.DOUBLE),
                                    st.Is_cancelled())


def rounds(interposer, method, run):
    """run() under `method`, or with the interposer off ("mpi")."""
    if method == "mpi":
        return interposer.real(run)
    with interposer.method(method):
        return run()


def persistent_rounds(mode, how, startall, n=3):
    """A Recv_init from SRC and a <mode>_init to DEST, started n times with new data and
    completed by `how`: the receive buffer and status after each round."""
    v = vector()
    out, src = np.full(22, -1.0), np.zeros(22)
    r = COMM.Recv_init([out, 2, v], SRC, 40)
    s = INITS[mode](COMM, [src, 2, v], DEST, 40)
    got = []
    for k in range(n):
        src[:] = data(RANK, k)
        out[:] = -1
        if startall:
            MPI.Prequest.Startall([r, s])
        else:
            r.Start()
            COMM.Barrier()          # ready mode: every receive is posted before a send starts
            s.Start()
        st, peek = complete(how, r, s)
        if peek:
            r.Wait()                # the request is still active after get_status
        got.append((out.copy(), status_of(st)))
        COMM.Barrier()
    r.Free()
    s.Free()
    v.Free()
    return got


@pytest.mark.mpi
@pytest.mark.parametrize("how", COMPLETIONS)
def test_persistent_rounds_every_completion_call(interposer, how):
    live = interposer.stat("requests_live")
    with interposer.method("pack"):
        before = interposer.stat("recv_fast"), interposer.stat("bytes_packed")
        mine = persistent_rounds("send", how, startall=False)
        assert interposer.stat("recv_fast") == before[0] + 1          # one Recv_init
        assert interposer.stat("bytes_packed") >= before[1] + 3 * 128   # packed at each start
    theirs = rounds(interposer, "mpi", lambda: persistent_rounds("send", how, startall=False))
    for k, ((out, st), (ref, ref_st)) in enumerate(zip(mine, theirs)):
        assert received(out, SRC, k), (k, out)
        assert np.array_equal(out, ref) and st == ref_st
        if st is not None:
            assert st[:3] == (SRC, 40, 16)
    assert interposer.stat("requests_live") == live


@pytest.mark.mpi
@pytest.mark.parametrize("mode", sorted(INITS))
@pytest.mark.parametrize("method", ["pack", "auto", "passthrough"])
def test_persistent_send_modes_and_startall(interposer, mode, method):
    """Each send mode, started one by one (a ready send only after its receive is
    posted) or with MPI_Startall, under each method and against the MPI."""
    startall = mode != "rsend"
    mine = rounds(interposer, method, lambda: persistent_rounds(mode, "waitall", startall))
    theirs = rounds(interposer, "mpi", lambda: persistent_rounds(mode, "waitall", startall))
    for k, ((out, _), (ref, _)) in enumerate(zip(mine, theirs)):
        assert received(out, SRC, k) and np.array_equal(out, ref)


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["pack", "mpi"])
def test_inactive_persistent_requests_complete_at_once(interposer, method):
    """Before the first start and after each completion a persistent request is
    inactive: Wait returns at once with an empty status, Waitany/Testany give
    MPI_UNDEFINED, Testall is true, and nothing is unpacked."""
    v = vector()

    def run():
        out, src = np.full(22, -1.0), data(RANK, 0)
        r = COMM.Recv_init([out, 2, v], SRC, 41)
        s = COMM.Send_init([src, 2, v], DEST, 41)
        seen = []
        for k in range(2):
            st = MPI.Status()
            r.Wait(st)
            seen.append((status_of(st), MPI.Request.Waitany([r, s]),
                         MPI.Request.Testany([r, s]), MPI.Request.Testall([r, s]),
                         MPI.Request.Waitsome([r, s]), r.Get_status(), s.Test()))
            seen.append((out != -1).sum())
            MPI.Prequest.Startall([r, s])
            MPI.Request.Waitall([r, s])
            seen.append(received(out, SRC, 0))
            out[:] = -1
        r.Free()
        s.Free()
        return seen

    seen = rounds(interposer, method, run)
    assert seen == rounds(interposer, "mpi", run)
    assert seen[1] == 0 and seen[2] is True
    assert seen[0][1] == MPI.UNDEFINED and seen[0][2] == (MPI.UNDEFINED, True)
    v.Free()
    COMM.Barrier()


@pytest.mark.mpi
def test_freed_persistent_requests(interposer):
    """MPI_Request_free on an inactive persistent request frees it at once; on an active
    one (a started receive, a started send) the message still completes, the receive
    is unpacked on a later MPI call, and every record of ours goes."""
    v = vector()
    live = interposer.stat("requests_live")
    with interposer.method("pack"):
        out, src = np.full(22, -1.0), data(RANK, 0)
        r = COMM.Recv_init([out, 2, v], SRC, 42)
        s = COMM.Send_init([src, 2, v], DEST, 42)
        assert interposer.stat("requests_live") == live + 2
        r.Start()
        r.Free()                          # active: ours until it completes
        s.Start()
        s.Free()                          # active send: the bytes stay until sent
        deadline = time.monotonic() + 30
        while not received(out, SRC, 0):
            assert time.monotonic() < deadline, "freed persistent receive never unpacked"
            MPI.Request.Testall([])
        COMM.Barrier()
        while interposer.stat("requests_live") != live:
            assert time.monotonic() < deadline, "freed persistent requests never released"
            MPI.Request.Testall([])
        r = COMM.Recv_init([out, 2, v], SRC, 43)
        r.Free()                          # inactive: freed at once
        assert interposer.stat("requests_live") == live
    v.Free()
    COMM.Barrier()


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["pack", "mpi"])
def test_cancelled_persistent_receive_can_start_again(interposer, method):
    v = vector()

    def run():
        out, src = np.full(22, -1.0), data(RANK, 1)
        r = COMM.Recv_init([out, 2, v], SRC, 44)
        r.Start()
        r.Cancel()
        st = MPI.Status()
        r.Wait(st)
        first = (st.Is_cancelled(), (out != -1).sum())
        COMM.Barrier()                    # no message is on its way while one cancels
        r.Start()
        COMM.Send([src, 2, v], DEST, 44)
        r.Wait(st)
        r.Free()
        return first, status_of(st), received(out, SRC, 1)

    got = rounds(interposer, method, run)
    assert got == rounds(interposer, "mpi", run)
    assert got[0] == (True, 0) and got[1] == (SRC, 44, 16, False) and got[2]
    v.Free()
    COMM.Barrier()


@pytest.mark.mpi
@pytest.mark.parametrize("persistent_sends", [True, False])
def test_persistent_and_plain_requests_mixed_across_methods(interposer, persistent_sends):
    """One side persistent, the other Isend/Irecv; even ranks pack, odd ranks pass
    through: the bytes on the wire are the same either way."""
    v = vector()
    out, src = np.full(22, -1.0), np.zeros(22)
    with interposer.method("pack" if RANK % 2 == 0 else "passthrough"):
        if persistent_sends:
            s = COMM.Send_init([src, 2, v], DEST, 45)
        else:
            r = COMM.Recv_init([out, 2, v], SRC, 45)
        for k in range(3):
            src[:] = data(RANK, k)
            out[:] = -1
            if persistent_sends:
                s.Start()
                r = COMM.Irecv([out, 2, v], SRC, 45)
            else:
                r.Start()
                s = COMM.Isend([src, 2, v], DEST, 45)
            MPI.Request.Waitall([r, s])
            assert received(out, SRC, k), k
        (s if persistent_sends else r).Free()
    v.Free()
    COMM.Barrier()


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["pack", "mpi"])
def test_synchronous_and_ready_sends(interposer, method):
    """MPI_Ssend, MPI_Issend, MPI_Rsend and MPI_Irsend of a vector: packed in their own
    mode under the pack method."""
    v = vector()
    src = data(RANK, 2)

    def run():
        outs = [np.full(22, -1.0) for _ in range(4)]
        for i, send in enumerate([COMM.Ssend, COMM.Issend, COMM.Rsend, COMM.Irsend]):
            r = COMM.Irecv([outs[i], 2, v], SRC, 50 + i)
            COMM.Barrier()                 # ready sends: the receive is posted
            req = send([src, 2, v], DEST, 50 + i)
            r.Wait()
            if req is not None:
                req.Wait()
        return outs

    if method == "mpi":
        outs = interposer.real(run)
    else:
        with interposer.method(method):
            before = interposer.stat("send_fast")
            outs = run()
            assert interposer.stat("send_fast") == before + 4
    assert all(received(out, SRC, 2) for out in outs)
    v.Free()
    COMM.Barrier()


@pytest.mark.mpi
def test_persistent_requests_are_never_pipelined(interposer):
    """Under MPICOMM_METHOD=pipeline a persistent message of many chunks is still one
    message per start (persistent at both ends keeps the contract), packed or the
    MPI's as the model says."""
    n = 40000                                           # doubles: 2 chunks or more
    v = MPI.DOUBLE.Create_vector(n, 1, 2).Commit()
    src, out = np.zeros(2 * n), np.zeros(2 * n)
    with interposer.method("pipeline"):
        before = {k: interposer.stat(k) for k in ("method_pipeline", "method_pack",
                                                  "method_passthrough")}
        r = COMM.Recv_init([out, 1, v], SRC, 46)
        s = COMM.Send_init([src, 1, v], DEST, 46)
        for k in range(2):
            src[:] = np.arange(2 * n) + 10 * RANK + k
            MPI.Prequest.Startall([r, s])
            MPI.Request.Waitall([r, s])
            assert np.array_equal(out[::2], (np.arange(2 * n) + 10 * SRC + k)[::2]), k
        r.Free()
        s.Free()
        grew = {k: interposer.stat(k) - before[k] for k in before}
    assert grew["method_pipeline"] == 0
    assert grew["method_pack"] + grew["method_passthrough"] == 2, grew
    v.Free()
    COMM.Barrier()
