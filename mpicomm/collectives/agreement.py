"""Every rank passes the same layout: checked inside the reduction, not beside it.

A fused reduction's first buffer starts with a header of HEADER elements that names
this rank's layout and operation (an 8-byte signature): for each of its 64 bits a pair
(bit, 1 - bit). Reduced with the call's own operation, a pair keeps exactly one non-zero
element where every rank had the same bit (sum: (n, 0); min and max: (1, 0)) and
otherwise has two (sum, max) or none (min); the values are 0, 1 or a count of ranks,
exact or at worst infinite in every supported dtype. So after the first MPI call
every rank knows whether all ranks passed the same layout, with no collective of its own.

For the MPI calls to match while that is not yet known, every rank shapes its first
call (and, nonblocking, all its calls) as the layout last agreed on the communicator
(kept as an MPI attribute of the communicator, so it goes when the communicator is
freed). A rank whose layout is that one reduces its own data; a rank whose layout
changed reduces a scratch buffer of the agreed shape carrying its new signature. Then:

    all ranks the agreed layout       the call goes on (the usual case: one check, free)
    all ranks the same new layout     it becomes the agreed one and the call starts over
    ranks differ                      ValueError on every rank; nothing is changed

Before a communicator's first fused call the agreed layout is a header alone.
"""
import numpy as np
from mpi4py import MPI

__all__ = ["HEADER", "Agreed", "agreed", "header", "same", "MISMATCH"]

BITS = 64
HEADER = 2 * BITS
MISMATCH = ("ranks passed different arrays to a fused allreduce (their number, shapes or "
            "dtypes, or the operation, differ); every rank must pass the same layout")


class Agreed:
    """The layout last agreed on a communicator: its signature (None before the first)
    and the (dtype, elements) of each MPI call it makes, the header included."""

    def __init__(self):
        self.signature = None
        self.shapes = [(np.dtype(np.float64), HEADER)]

    def scratch(self, signature, upto=None):
        """Buffers shaped as the agreed calls (the first `upto`), the first carrying
        signature's header."""
        bufs = [np.zeros(n, dtype) for dtype, n in self.shapes[:upto]]
        bufs[0][:HEADER] = header(signature, bufs[0].dtype)
        return bufs


_KEYVAL = MPI.Comm.Create_keyval()


def agreed(comm):
    """The Agreed state of comm (made on first use)."""
    state = comm.Get_attr(_KEYVAL)
    if state is None:
        state = Agreed()
        comm.Set_attr(_KEYVAL, state)
    return state


_headers = {}


def header(signature, dtype):
    """The HEADER elements naming signature, in dtype."""
    key = (signature, np.dtype(dtype).str)
    h = _headers.get(key)
    if h is None:
        if len(_headers) > 64:
            _headers.clear()
        bits = np.unpackbits(np.frombuffer(signature, np.uint8))
        h = np.empty(HEADER, dtype)
        h[0::2], h[1::2] = bits, 1 - bits
        h.flags.writeable = False
        h = _headers[key] = h
    return h


def same(reduced):
    """Did every rank put the same signature in this reduced header?"""
    return bool(np.all(np.count_nonzero(reduced.reshape(BITS, 2), axis=1) == 1))
