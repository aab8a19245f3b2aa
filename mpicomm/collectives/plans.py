"""Fusion plans: which arrays share a buffer, and the native copies in and out of it.

Arrays are grouped by dtype, in first-seen order, into buckets of at most `limit` bytes
each, as Horovod's tensor fusion does. An array of ALONE_BYTES or more (or above the
limit) gets a bucket of its own: copying it would cost more than the call it saves, so
it is reduced where it is when it is contiguous. The grouping depends only on the
arrays' dtypes and shapes (never on where they lie in memory or whether they are
contiguous), so every rank that passes the same layout makes the same MPI calls.

A bucket copies its contiguous members in and out with one call into the interposer's
core: the members are the pieces of a table datatype (offset from the lowest address,
bytes) and the copies are the core's pack and unpack kernels; members that follow each
other in memory become one run. A non-contiguous member is copied by numpy.

A plan is kept while the same arrays come back (the same objects, dtypes unchanged: the
usual case, the same gradients every step), so a step costs a lookup, one pack and one
unpack per buffer, not a regrouping.
"""
import hashlib
import operator

import numpy as np

from mpicomm._core import ffi, lib
from mpicomm.datatypes import Description, _ctable

__all__ = ["Bucket", "Plan", "fusion_plan", "cached_plan", "ALONE_BYTES"]

ALONE_BYTES = 1 << 20
PLANS = 4


class _Runs:
    """Contiguous arrays packed back to back into a buffer, with the core's kernels."""

    def __init__(self, arrays):
        addrs = [a.__array_interface__["data"][0] for a in arrays]
        self.base = min(addrs)
        pieces = tuple((addr - self.base, a.nbytes, -1) for addr, a in zip(addrs, arrays))
        lo = min(p[0] for p in pieces)
        hi = max(p[0] + p[1] for p in pieces)
        size = sum(p[1] for p in pieces)
        self.nbytes = size
        self.desc = _ctable(Description(canonical=False, start=0, counts=(), strides=(),
                                        size=size, lb=lo, extent=hi - lo, true_lb=lo,
                                        true_extent=hi - lo, pieces=pieces, shapes=()))
        self.arrays = arrays                 # kept: their memory must stay where it is

    def pack(self, dst):
        lib.mpic_pack(self.desc, 1, ffi.cast("char *", self.base),
                      ffi.cast("char *", dst.__array_interface__["data"][0]))

    def unpack(self, src):
        lib.mpic_unpack(self.desc, 1, ffi.cast("char *", src.__array_interface__["data"][0]),
                        ffi.cast("char *", self.base))


class Bucket:
    """One fusion buffer's worth of arrays of one dtype: their offsets (elements) in
    the buffer, and how to copy them in and out."""

    def __init__(self, dtype, members, alone):
        self.dtype = np.dtype(dtype)
        self.arrays = [a for a, _, _ in members]
        self.bounds = [(off, off + n) for _, off, n in members]
        self.total = sum(n for _, _, n in members)
        self.alone = alone                   # one large array: reduced where it is
        # Runs of adjacent contiguous members go through the core's table kernels, each
        # run into its place in the buffer; the other members through numpy.
        self._runs, self._strided, run = [], [], []
        for a, (lo, hi) in zip(self.arrays, self.bounds):
            if a.flags.c_contiguous and a.size:
                run.append((a, lo))
                continue
            if run:
                self._runs.append((run[0][1], _Runs([m for m, _ in run])))
                run = []
            if a.size:
                self._strided.append((a, lo, hi))
        if run:
            self._runs.append((run[0][1], _Runs([m for m, _ in run])))

    @property
    def nbytes(self):
        return self.total * self.dtype.itemsize

    def inplace(self):
        """The flat array itself where the bucket is reduced where it is, else None."""
        a = self.arrays[0]
        return a.reshape(-1) if self.alone and a.flags.c_contiguous else None

    def gather_into(self, buf):
        """Copy the arrays, in order, into buf (self.total elements of self.dtype)."""
        for lo, runs in self._runs:
            runs.pack(buf[lo:])
        for a, lo, hi in self._strided:
            buf[lo:hi].reshape(a.shape)[...] = a

    def scatter_from(self, buf):
        """Copy buf (self.total elements) out to the arrays."""
        for lo, runs in self._runs:
            runs.unpack(buf[lo:])
        for a, lo, hi in self._strided:
            np.copyto(a, buf[lo:hi].reshape(a.shape))


def groups(arrays, limit):
    """Group by dtype (first-seen order), then fill buckets of at most limit bytes:
    [(dtype, [(array, offset, elements)], alone)]; empty arrays are left out."""
    by_dtype = {}
    for a in arrays:
        if a.size:
            by_dtype.setdefault(np.dtype(a.dtype).str, []).append(a)
    out = []
    for key, group in by_dtype.items():
        itemsize = np.dtype(key).itemsize
        members, used = [], 0
        for a in group:
            n = a.size
            if n * itemsize >= ALONE_BYTES or n * itemsize > limit:
                out.append((key, [(a, 0, n)], True))
                continue
            if members and (used + n) * itemsize > limit:
                out.append((key, members, False))
                members, used = [], 0
            members.append((a, used, n))
            used += n
        if members:
            out.append((key, members, False))
    return out


def head_first(items, alone):
    """(the first item that is not alone, or None; the others in order): the header
    rides with the first fused bucket, the rest follow."""
    first = next((x for x in items if not alone(x)), None)
    return first, [x for x in items if x is not first]


def layout_key(arrays, limit):
    """What every rank must agree on: the number, order, dtypes and shapes of the
    arrays, and the fusion limit (it shapes the buffers)."""
    return f"{limit};" + ";".join(f"{np.dtype(a.dtype).str}{tuple(a.shape)}" for a in arrays)


class Plan:
    """The buckets for one list of host arrays (checked before a plan is made)."""

    def __init__(self, arrays, limit):
        self.refs = list(arrays)
        self.dtypes = [a.dtype for a in arrays]
        self.limit = limit
        self.buckets = [Bucket(key, members, alone)
                        for key, members, alone in groups(arrays, limit)]
        self.layout = layout_key(arrays, limit)
        self.integers = any(d.kind == "i" for d in self.dtypes)
        # The first fused bucket goes first (the header rides with it), then the rest
        # in order; where every array is alone, the header goes on its own.
        self.head, self.rest = head_first(self.buckets, lambda b: b.alone)
        self._signatures = {}
        self.own = {}                        # the blocking path's buffers, reused
        self.spare = []                      # the nonblocking path's, between calls

    def signature(self, op):
        """8 bytes naming the layout and the operation."""
        sig = self._signatures.get(op)
        if sig is None:
            sig = self._signatures[op] = hashlib.blake2b(
                f"{op}|{self.layout}".encode(), digest_size=8).digest()
        return sig

    def matches(self, arrays, limit):
        # The same array objects (their sizes cannot change while the plan holds them:
        # numpy refuses to resize a referenced array) with the same dtypes (an array's
        # dtype can be reassigned); dtypes are compared by identity first, which holds
        # for the built-in ones.
        if limit != self.limit or len(arrays) != len(self.refs):
            return False
        if not all(map(operator.is_, self.refs, arrays)):
            return False
        now = list(map(_DTYPE, arrays))
        return all(map(operator.is_, now, self.dtypes)) or now == self.dtypes


_DTYPE = operator.attrgetter("dtype")
_plans = {}


def cached_plan(arrays, limit, kind=Plan):
    """The kept plan of this kind for exactly these arrays, or None."""
    plan = _plans.get((kind, limit, *map(id, arrays)))
    return plan if plan is not None and plan.matches(arrays, limit) else None


def fusion_plan(arrays, limit, kind=Plan):
    """The kept plan (of kind, Plan by default) for this list of arrays, made when it
    is new or changed; the last PLANS are kept."""
    plan = cached_plan(arrays, limit, kind)
    if plan is None:
        if len(_plans) >= PLANS:
            _plans.pop(next(iter(_plans)))
        plan = _plans[(kind, limit, *map(id, arrays))] = kind(arrays, limit)
    return plan
