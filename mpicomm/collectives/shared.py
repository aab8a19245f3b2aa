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
   over the network with the tuned allreduce (tuning.py), the nodes' parts in parallel;
4. the part times scale; a barrier: every part is final;
5. each rank copies the other parts from their owners' buffers; a barrier: no rank
   reads another's buffer any more, which may then be written again.
A rank reads and writes 2(n-1)/n of the data once each, where an allreduce through
messages copies it into and out of the MPI's shared cells as well.

It needs every node to hold the same number of ranks (usable() says whether comm
does, on every rank alike) and gives nothing with one rank per node.
"""
import os

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
    lo, hi = comm.allreduce((local, -local), op=MPI.MIN)
    return lo > 1 and lo == -hi


class SharedAllreduce:
    """nbytes of this rank's in a window shared with the ranks of its node, and the
    allreduce of any range of them over comm (see the module's text). Collective over
    comm to make and to close(); allreduce() is collective too, with the same range on
    every rank, in one thread of each rank at a time."""

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
        scale, into every rank's buffer."""
        if scale != 1.0 and np.dtype(dtype).kind not in "fc":
            raise ValueError(f"SharedAllreduce.allreduce: scale {scale} of {np.dtype(dtype)} "
                             "elements: scaling needs a floating-point dtype")
        views = [self.array(offset, count, dtype, r) for r in range(self.n)]
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
            tuning.allreduce(self.cross, mine, "sum")
        # 4. Scaled; every part final.
        if scale != 1.0:
            mine *= scale
        self._barrier()
        # 5. The other parts copied from their owners.
        for r in range(self.n):
            if r != self.me:
                views[self.me][cuts[r]:cuts[r + 1]] = views[r][cuts[r]:cuts[r + 1]]
        self.node.Barrier()

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
        self.win = None
