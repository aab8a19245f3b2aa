"""Allreduce algorithms written over mpi4py point to point, in place on a 1-D numpy
buffer, for the tuner (tuning.py) to measure against the MPI's own Allreduce.

    ring      reduce-scatter then allgather around a ring: 2(n-1) steps, each moving
              1/n of the data (bandwidth-optimal; many steps)
    rd        recursive doubling: log2(n) steps, each moving all of it (few steps;
              for small messages)
    rsag      Rabenseifner: reduce-scatter by recursive halving, allgather by
              recursive doubling: 2 log2(n) steps, moving 2(n-1)/n of the data

Every rank ends with the same bits: each block is reduced once, in one order, and
then copied, or (rd) both partners combine the same two values, and IEEE addition,
min and max are commutative. rd and rsag fold a communicator that is not a power of
two first: of the first 2r ranks (r = n - 2^k) the even ones hand their data to
their odd neighbour and get the result back at the end.

Messages go on the communicator given, which must be private to the caller (the
tuner duplicates the user's): a program's own wildcard receives never see them.
"""
import numpy as np
from mpi4py import MPI

__all__ = ["ALGORITHMS", "UFUNCS", "mpi", "ring", "recursive_doubling", "rabenseifner"]

UFUNCS = {"sum": np.add, "min": np.minimum, "max": np.maximum}
MPI_OPS = {"sum": MPI.SUM, "min": MPI.MIN, "max": MPI.MAX}
TAG = 11


def mpi(comm, buf, op):
    """The MPI's own MPI_Allreduce, in place."""
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI_OPS[op])


def ring(comm, buf, op):
    n, me = comm.Get_size(), comm.Get_rank()
    if n == 1:
        return
    ufunc = UFUNCS[op]
    edges = np.linspace(0, buf.size, n + 1).astype(np.int64)
    block = [buf[edges[i]:edges[i + 1]] for i in range(n)]
    tmp = np.empty(int(np.diff(edges).max()), buf.dtype)
    right, left = (me + 1) % n, (me - 1) % n
    # 1. Reduce-scatter: after n-1 steps this rank holds block (me+1) % n reduced.
    for s in range(n - 1):
        out, into = block[(me - s) % n], block[(me - s - 1) % n]
        got = tmp[:into.size]
        comm.Sendrecv(out, right, TAG, got, left, TAG)
        ufunc(into, got, out=into)
    # 2. Allgather: pass the reduced blocks on around the ring.
    for s in range(n - 1):
        out, into = block[(me + 1 - s) % n], block[(me - s) % n]
        comm.Sendrecv(out, right, TAG, into, left, TAG)


def _fold(comm, buf, op):
    """Reduce a non-power-of-two communicator to 2^k ranks. Returns (new rank or -1 for a
    rank that sits out, size 2^k, old rank of a new rank, partner to return to or -1)."""
    n, me = comm.Get_size(), comm.Get_rank()
    p = 1 << (n.bit_length() - 1)
    rem = n - p
    if me < 2 * rem:
        if me % 2 == 0:
            comm.Send(buf, me + 1, TAG)
            return -1, p, None, me + 1
        tmp = np.empty_like(buf)
        comm.Recv(tmp, me - 1, TAG)
        UFUNCS[op](buf, tmp, out=buf)
        new, back = me // 2, me - 1
    else:
        new, back = me - rem, -1

    def old(r):
        return 2 * r + 1 if r < rem else r + rem
    return new, p, old, back


def _unfold(comm, buf, new, back):
    if new < 0:
        comm.Recv(buf, back, TAG)
    elif back >= 0:
        comm.Send(buf, back, TAG)


def recursive_doubling(comm, buf, op):
    if comm.Get_size() == 1:
        return
    new, p, old, back = _fold(comm, buf, op)
    if new >= 0:
        ufunc = UFUNCS[op]
        tmp = np.empty_like(buf)
        mask = 1
        while mask < p:
            partner = old(new ^ mask)
            comm.Sendrecv(buf, partner, TAG, tmp, partner, TAG)
            ufunc(buf, tmp, out=buf)
            mask <<= 1
    _unfold(comm, buf, new, back)


def rabenseifner(comm, buf, op):
    if comm.Get_size() == 1:
        return
    new, p, old, back = _fold(comm, buf, op)
    if new >= 0:
        ufunc = UFUNCS[op]
        tmp = np.empty(buf.size // 2 + 1, buf.dtype)
        lo, hi, path = 0, buf.size, []
        # 1. Reduce-scatter by recursive halving: keep one half, send the other.
        mask = p >> 1
        while mask:
            partner = old(new ^ mask)
            mid = (lo + hi) // 2
            keep, give = ((lo, mid), (mid, hi)) if new & mask == 0 else ((mid, hi), (lo, mid))
            got = tmp[:keep[1] - keep[0]]
            comm.Sendrecv(buf[give[0]:give[1]], partner, TAG, got, partner, TAG)
            ufunc(buf[keep[0]:keep[1]], got, out=buf[keep[0]:keep[1]])
            path.append((partner, keep, give))
            lo, hi = keep
            mask >>= 1
        # 2. Allgather by recursive doubling, retracing the halving steps.
        for partner, keep, give in reversed(path):
            comm.Sendrecv(buf[keep[0]:keep[1]], partner, TAG,
                          buf[give[0]:give[1]], partner, TAG)
    _unfold(comm, buf, new, back)


ALGORITHMS = {"mpi": mpi, "ring": ring, "rd": recursive_doubling, "rsag": rabenseifner}
