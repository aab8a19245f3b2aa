"""The pipelined method (MPICOMM_METHOD=pipeline) against the MPI itself.

Runs at any rank count: rank r sends to r+1 and receives from r-1 (mod size). Every
rank switches to the pipelined method at the same point (the method is a contract
all ranks keep), messages are at least two chunks (MPICOMM_PIPELINE_CHUNK, 128 KiB
by default), and every result is compared with the same exchange passed through.
"""
import os

import numpy as np
import pytest
from mpi4py import MPI

from test_p2p_mpi import COMPLETIONS, check_completion, in_threads, isend_irecv

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
DEST, SRC = (RANK + 1) % SIZE, (RANK - 1) % SIZE
CHUNK = int(os.environ.get("MPICOMM_PIPELINE_CHUNK", 131072))
N = 5 * CHUNK // 8 + 123           # doubles: five chunks and a ragged end


def types():
    """(name, datatype, count): 3 * (N // 3) doubles each, laid out five ways."""
    m = N // 3
    vec = MPI.DOUBLE.Create_vector(m, 3, 5).Commit()                        # canonical
    sub = MPI.DOUBLE.Create_subarray([m + 7, 4], [m, 3], [5, 1]).Commit()    # canonical
    irregular = MPI.DOUBLE.Create_indexed([1, 2] * m, [7 * i for i in range(2 * m)]).Commit()
    contig = MPI.DOUBLE.Create_contiguous(3 * m).Commit()
    return [("vector", vec, 1), ("subarray", sub, 1), ("indexed", irregular, 1),
            ("contiguous", contig, 1), ("double", MPI.DOUBLE, 3 * m)]


def room(dt, count):
    lo, ext = dt.Get_true_extent()
    _, extent = dt.Get_extent()
    return (lo + ext + (count - 1) * extent) // 8 + 8


@pytest.fixture(scope="module")
def kinds():
    out = types()
    yield out
    for _, dt, _ in out:
        if dt != MPI.DOUBLE:
            dt.Free()


def ring(interposer, how, sdt, scount, rdt, rcount, tag=3):
    """One Isend/Irecv around the ring; the receive buffer and (source, tag, doubles)."""
    src = np.arange(room(sdt, scount), dtype="f8") + 1e7 * RANK
    out = np.full(room(rdt, rcount), -1.0)

    def run():
        st = MPI.Status()
        r = COMM.Irecv([out, rcount, rdt], SRC, tag)
        s = COMM.Isend([src, scount, sdt], DEST, tag)
        s.Wait()
        r.Wait(st)
        return out.copy(), (st.Get_source(), st.Get_tag(), st.Get_count(MPI.DOUBLE))

    if how == "mpi":
        got = interposer.real(run)
    else:
        with interposer.method(how):
            got = run()
    COMM.Barrier()
    return got


@pytest.mark.mpi
def test_every_pair_of_types_with_the_same_signature(interposer, kinds):
    """Canonical, non-canonical, contiguous and predefined types on either side."""
    for sname, sdt, scount in kinds:
        for rname, rdt, rcount in kinds:
            before = interposer.stat("method_pipeline")
            mine, st = ring(interposer, "pipeline", sdt, scount, rdt, rcount)
            assert interposer.stat("method_pipeline") == before + 2, (sname, rname)
            ref, ref_st = ring(interposer, "mpi", sdt, scount, rdt, rcount)
            assert np.array_equal(mine, ref), (sname, rname)
            assert st == ref_st == (SRC, 3, N // 3 * 3), (sname, rname)


@pytest.mark.mpi
def test_below_two_chunks_the_other_methods_apply(interposer):
    n = 2 * CHUNK // 8 - 1
    before = interposer.stat("method_pipeline")
    mine, _ = ring(interposer, "pipeline", MPI.DOUBLE, n, MPI.DOUBLE, n)
    assert interposer.stat("method_pipeline") == before
    assert np.array_equal(mine[:n], np.arange(n) + 1e7 * SRC)


def vector():
    return MPI.DOUBLE.Create_vector(N // 2, 2, 3).Commit()


@pytest.mark.mpi
@pytest.mark.parametrize("how", COMPLETIONS)
def test_every_completion_call(interposer, how):
    v = vector()
    got = check_completion(interposer, how, "pipeline", v, 1, N // 2 * 3, "method_pipeline", 2)
    assert got == N // 2 * 2
    v.Free()


@pytest.mark.mpi
def test_blocking_calls_wildcards_and_sendrecv(interposer):
    n = N // 2 * 2
    src = np.arange(n, dtype="f8") + 1e7 * RANK
    theirs = np.arange(n, dtype="f8") + 1e7 * SRC
    with interposer.method("pipeline"):
        out, st = np.zeros(n), MPI.Status()
        if SIZE == 1:
            COMM.Sendrecv([src, MPI.DOUBLE], DEST, 40, [out, MPI.DOUBLE], MPI.ANY_SOURCE,
                          MPI.ANY_TAG, st)
        elif RANK % 2 == 0:
            COMM.Send([src, MPI.DOUBLE], DEST, 40 + RANK)
            COMM.Recv([out, MPI.DOUBLE], MPI.ANY_SOURCE, MPI.ANY_TAG, st)
        else:
            COMM.Recv([out, MPI.DOUBLE], MPI.ANY_SOURCE, MPI.ANY_TAG, st)
            COMM.Send([src, MPI.DOUBLE], DEST, 40 + RANK)
        assert np.array_equal(out, theirs)
        assert (st.Get_source(), st.Get_count(MPI.DOUBLE)) == (SRC, n)
        assert st.Get_tag() == (40 if SIZE == 1 else 40 + SRC)

        v, out2, st2 = vector(), np.full(N // 2 * 3, -1.0), MPI.Status()
        COMM.Sendrecv([src, MPI.DOUBLE], DEST, 41, [out2, 1, v], SRC, 41, st2)
        assert st2.Get_count(v) == 1 and st2.Get_source() == SRC
        got = out2.reshape(-1, 3)[:, :2].ravel()
        assert np.array_equal(got, theirs)
        assert (out2.reshape(-1, 3)[:, 2] == -1).all()
        v.Free()
    COMM.Barrier()


@pytest.mark.mpi
def test_cancel_of_an_unmatched_receive_and_freed_requests(interposer):
    n = N // 3 * 3
    out = np.full(n, -1.0)
    with interposer.method("pipeline"):
        r = COMM.Irecv([out, MPI.DOUBLE], SRC, 99)
        r.Cancel()
        st = MPI.Status()
        r.Wait(st)
        assert st.Is_cancelled() and (out == -1).all()

        src = np.arange(n, dtype="f8") + RANK
        s = COMM.Isend([src, MPI.DOUBLE], DEST, 98)
        s.Free()                                  # the interposer still completes it
        r = COMM.Irecv([out, MPI.DOUBLE], SRC, 98)
        r.Free()                                  # and still unpacks this one
        deadline = MPI.Wtime() + 30
        while not (out == np.arange(n) + SRC).all():
            assert MPI.Wtime() < deadline
            MPI.Request.Testall([MPI.REQUEST_NULL])     # any completion call drives them
    COMM.Barrier()


@pytest.mark.mpi
def test_probes_of_small_messages_still_work(interposer):
    src = np.arange(100, dtype="f8")
    with interposer.method("pipeline"):
        s = COMM.Isend([src, MPI.DOUBLE], DEST, 5)
        st = MPI.Status()
        COMM.Probe(SRC, 5, st)
        assert st.Get_count(MPI.DOUBLE) == 100
        out = np.zeros(100)
        COMM.Recv([out, MPI.DOUBLE], SRC, 5)
        s.Wait()
        assert np.array_equal(out, src)
    COMM.Barrier()


@pytest.mark.mpi
def test_large_messages_are_cut_into_larger_chunks(interposer):
    """Past 16 chunks the chunks grow (both ends derive them from the size)."""
    n = 40 * CHUNK // 8 + 5
    v = MPI.DOUBLE.Create_vector(n, 1, 2).Commit()
    mine, st = ring(interposer, "pipeline", v, 1, MPI.DOUBLE, n)
    ref, ref_st = ring(interposer, "mpi", v, 1, MPI.DOUBLE, n)
    assert np.array_equal(mine, ref) and st == ref_st == (SRC, 3, n)
    mine, st = ring(interposer, "pipeline", MPI.DOUBLE, n, v, 1)
    ref, ref_st = ring(interposer, "mpi", MPI.DOUBLE, n, v, 1)
    assert np.array_equal(mine, ref) and st == ref_st == (SRC, 3, n)
    v.Free()


@pytest.mark.mpi
def test_threads_pipeline_concurrently(interposer):
    """Under MPI_THREAD_MULTIPLE threads send and receive pipelined messages at once,
    each on its own tag: one message's chunks stay together."""
    if MPI.Query_thread() != MPI.THREAD_MULTIPLE:
        pytest.skip("the MPI was not initialized with MPI_THREAD_MULTIPLE")
    v = vector()

    def worker(t):
        bad = []
        for k in range(6):
            src = np.arange(N // 2 * 3, dtype="f8") + 1e7 * RANK + 1e5 * t + k
            out = np.full(N // 2 * 2, -1.0)
            isend_irecv([out, MPI.DOUBLE], [src, 1, v], 200 + t, k)
            theirs = (np.arange(N // 2 * 3, dtype="f8") + 1e7 * SRC + 1e5 * t + k)
            if not np.array_equal(out, theirs.reshape(-1, 3)[:, :2].ravel()):
                bad.append(k)
        return bad

    with interposer.method("pipeline"):
        before = interposer.stat("method_pipeline")
        errors = in_threads(worker)
        assert interposer.stat("method_pipeline") - before == 4 * 6 * 2
    assert not errors, errors[:5]
    v.Free()
    COMM.Barrier()


@pytest.mark.mpi
@pytest.mark.parametrize("mode", ["Ssend", "Rsend", "Issend", "Irsend"])
def test_synchronous_and_ready_sends(interposer, mode):
    """MPI_Ssend/Issend (first chunk sent synchronously) and MPI_Rsend/Irsend (the
    receive is posted first, as ready mode requires) carry pipelined messages too."""
    v = vector()
    src = np.arange(N // 2 * 3, dtype="f8") + 1e7 * RANK
    out = np.full(N // 2 * 2, -1.0)
    with interposer.method("pipeline"):
        before = interposer.stat("method_pipeline")
        r = COMM.Irecv([out, MPI.DOUBLE], SRC, 60)
        COMM.Barrier()                             # every receive posted: Rsend is legal
        send = getattr(COMM, mode)
        if mode.startswith("I"):
            s = send([src, 1, v], DEST, 60)
            MPI.Request.Waitall([s, r])
        else:
            send([src, 1, v], DEST, 60)            # returns: every chunk's receive is posted
            r.Wait()
        assert interposer.stat("method_pipeline") - before == 2
    theirs = np.arange(N // 2 * 3, dtype="f8") + 1e7 * SRC
    assert np.array_equal(out, theirs.reshape(-1, 3)[:, :2].ravel())
    v.Free()
    COMM.Barrier()
