"""Allreduce in memory the ranks of a node share: the buffers to reduce live in an MPI
shared-memory window (MPI_Win_allocate_shared), so a node's ranks add each other's
data where it lies instead of sending it to each other.

    >>> arena = SharedAllreduce(comm, nbytes)        # collective over comm
    >>> x = arena.array(0, 1000, np.float32)         # this rank's, in the window
    >>> x[:] = ...; arena.allreduce(0, 1000, np.float32, scale=1 / comm.Get_size())

Each of a node's n ranks owns 1/n of the elements. An allreduce:
1. a barrier on the node: every rank's data is written;
2. each rank adds its part of every other rank's buffer into its own (each part is
   summed once, by its owner, and copied: every rank gets the same bits);
3. with several nodes, the ranks of the same local rank (one per node) reduce that part
   over the network (MPI_Allreduce), the nodes' parts in parallel;
4. the part times scale; a barrier: every part is final;
5. each rank copies the other parts from their owners' buffers; a barrier: no rank
   reads another's buffer any more, which may then be written again.
A rank reads and writes 2(n-1)/n of the data once each, where an allreduce through
messages copies it into and out of the MPI's shared cells as well. On small arrays, or
where ranks share cores, the three barriers cost more than that saves: per size class
the first calls time this way against the MPI's own MPI_Allreduce of the buffer, and
the faster serves the class from then on (ways()).

It needs every node to hold the same number of ranks (usable() says whether comm
does, on every rank alike) and gives nothing with one rank per node.
"""
import os
import time

import numpy as np
from mpi4py import MPI

from mpicomm.collectives import tuning

__all__ = ["SharedAllreduce", "usable", "setting", "ALIGN"]

ALIGN = 64                                   # the start of every array, in bytes


def setting():
    """MPICOMM_SHARED_MEMORY (default 1), validated: whether mpicomm.torch may reduce
    through node-shared memory."""
    raw = os.environ.get("MPICOMM_SHARED_MEMORY", "1").strip()
    if raw not in ("0", "1"):
        raise ValueError(f"MPICOMM_SHARED_MEMORY={raw!r}: expected 0 or 1")
    return raw == "1"


def usable(comm):
    """Whether comm has more than one rank on a node and the same number on every node:
    the same answer on every rank. Collective over comm."""
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    local = node.Get_size()
    node.Free()
    sizes = np.array([local, -local])
    comm.Allreduce(MPI.IN_PLACE, sizes, op=MPI.MIN)        # the fewest and the most
    return sizes[0] > 1 and sizes[0] == -sizes[1]


class SharedAllreduce:
    """nbytes of this rank's in a window shared with the ranks of its node, and the
    allreduce of any range of them over comm (see the module's text). Collective over
    comm to make and to close(); allreduce() is collective too, with the same range on
    every rank, in one thread of each rank at a time."""

    ROUNDS = 5                  # trials of each way per size class

    def __init__(self, comm, nbytes):
        if not usable(comm):
            raise ValueError("SharedAllreduce: every node needs the same number of ranks, "
                             "more than one (usable(comm) is false)")
        # 1. The node's communicator, and one of the ranks of the same local rank.
        self.node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
        self.n, self.me = self.node.Get_size(), self.node.Get_rank()
        self.cross = comm.Split(self.me, comm.Get_rank())
        # 2. The window: each rank's bytes on pages of its own, and every rank's visible.
        info = MPI.Info.Create()
        info.Set("alloc_shared_noncontig", "true")
        self.win = MPI.Win.Allocate_shared(max(int(nbytes), 1), 1, info, self.node)
        info.Free()
        self.win.Lock_all(MPI.MODE_NOCHECK)
        self.nbytes = int(nbytes)
        # 3. Per size class, the way chosen by measuring (see allreduce()), on a
        #    duplicate of comm, which the MPI's way reduces on too.
        self.tuner = tuning.Tuner(comm, ("mpi", "shared"), lambda size_class: self.ROUNDS,
                                  margin=1.0)
        self.slots = [self.win.Shared_query(r)[0] for r in range(self.n)]

    def array(self, offset, count, dtype, rank=None):
        """A numpy view of count elements of dtype at byte offset of this rank's buffer
        (or the given local rank's)."""
        dtype = np.dtype(dtype)
        if offset % ALIGN or offset + count * dtype.itemsize > self.nbytes:
            raise ValueError(f"SharedAllreduce.array: {count} x {dtype} at byte {offset} "
                             f"is not within the {self.nbytes} bytes or not {ALIGN}-aligned")
        slot = self.slots[self.me if rank is None else rank]
        return np.frombuffer(slot, dtype, count, offset)

    def _barrier(self):
        self.win.Sync()
        self.node.Barrier()
        self.win.Sync()

    def allreduce(self, offset, count, dtype, scale=1.0):
        """Sum the count elements of dtype at offset over every rank of comm, times
        scale, into every rank's buffer: through the node's shared memory (the steps of
        the module's text) or the MPI's own MPI_Allreduce of the buffer, whichever is
        faster for the size class (bytes rounded up to a power of two): the first
        2 ROUNDS calls of a class take turns, each a real reduction, and the ranks
        agree on the faster (the slowest rank's best time; tuning.Tuner, as for the
        tuned allreduce). Barriers cost more than the sums save on small arrays and
        where ranks share cores."""
        if scale != 1.0 and np.dtype(dtype).kind not in "fc":
            raise ValueError(f"SharedAllreduce.allreduce: scale {scale} of {np.dtype(dtype)} "
                             "elements: scaling needs a floating-point dtype")
        views = [self.array(offset, count, dtype, r) for r in range(self.n)]
        cls = tuning.size_class(views[0].nbytes)
        way, trial = self.tuner.next(cls)
        t = time.perf_counter()
        self._ways[way](self, views, count, scale)
        if trial:
            self.tuner.record(cls, way, time.perf_counter() - t)

    def _shared(self, views, count, scale):
        cuts = [count * i // self.n for i in range(self.n + 1)]
        part = slice(cuts[self.me], cuts[self.me + 1])
        # 1. Every rank's data written.
        self._barrier()
        # 2-3. This rank's part: the node's sum, then the nodes'.
        mine = views[self.me][part]
        for r in range(self.n):
            if r != self.me:
                np.add(mine, views[r][part], out=mine)
        if self.cross.Get_size() > 1 and mine.size:
            self.cross.Allreduce(MPI.IN_PLACE, mine, op=MPI.SUM)
        # 4. Scaled; every part final.
        if scale != 1.0:
            mine *= scale
        self._barrier()
        # 5. The other parts copied from their owners.
        for r in range(self.n):
            if r != self.me:
                views[self.me][cuts[r]:cuts[r + 1]] = views[r][cuts[r]:cuts[r + 1]]
        self.node.Barrier()

    def _messages(self, views, count, scale):
        mine = views[self.me]
        self.tuner.comm.Allreduce(MPI.IN_PLACE, mine, op=MPI.SUM)
        if scale != 1.0:
            mine *= scale

    _ways = {"shared": _shared, "mpi": _messages}

    def ways(self):
        """{size class in bytes: "shared" or "mpi"} chosen so far."""
        return dict(sorted(self.tuner.chosen.items()))

    def settled(self, count, dtype):
        """Whether allreduces of count elements of dtype are past their trials."""
        return tuning.size_class(count * np.dtype(dtype).itemsize) in self.tuner.chosen

    def close(self):
        """Free the window and the communicators (collective over comm). Arrays from
        array() must not be used after."""
        if self.win is None:
            return
        self.slots = []
        self.win.Unlock_all()
        self.win.Free()
        self.node.Free()
        self.cross.Free()
        self.tuner.comm.Free()
        self.win = None
