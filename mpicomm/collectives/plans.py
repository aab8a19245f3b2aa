"""Fusion plans: which arrays share a buffer, and the native copies in and out of it.

Arrays are grouped by dtype, in first-seen order, into buckets of at most `limit` bytes
each, as Horovod's tensor fusion does. An array of ALONE_BYTES or more (or above the
limit) gets a bucket of its own: copying it would cost more than the call it saves, so
it is reduced where it is when it is contiguous. The grouping depends only on the
arrays' dtypes and shapes (never on where they lie in memory or whether they are
contiguous), so every rank that passes the same layout makes the same MPI calls.

A plan belongs to a layout (the arrays' number, order, dtypes and shapes), not to the
arrays themselves: numpy code that makes new gradient arrays every step finds the plan
its layout made, and only binds the new arrays to it (Bound: their data addresses taken
in one native pass over the list). The same arrays coming back reuse their binding.
A bucket copies its contiguous members in and out with one native call (mpip_gather,
mpip_scatter); a member that is not contiguous is copied by numpy.
"""
import hashlib
import operator

import numpy as np

from mpicomm._core import ffi, lib

__all__ = ["Bucket", "Bound", "Plan", "host_plan", "fusion_plan", "counters", "ALONE_BYTES"]

ALONE_BYTES = 1 << 20
PLANS = 4
_COUNTS = {"plans_made": 0, "arrays_bound": 0, "bindings_reused": 0}


def counters():
    """How many plans were made, how many times new arrays were bound to a kept plan,
    and how many times the same arrays reused their binding (this process)."""
    return dict(_COUNTS)


def _pointer(a, ctype):
    return ffi.cast(ctype, a.ctypes.data)


class Bound:
    """One call's arrays on a plan: the list (kept alive while it is in use) and each
    array's data address, 0 where it is not C-contiguous and writeable."""

    __slots__ = ("arrays", "addr", "_addr", "odd")

    def __init__(self, arrays):
        n = len(arrays)
        ids = np.fromiter(map(id, arrays), np.intp, n)
        self.arrays = arrays
        self.addr = np.empty(n, np.intp)
        self._addr = _pointer(self.addr, "intptr_t *")
        odd = lib.mpip_addresses(_pointer(ids, "intptr_t *"), n, self._addr)
        self.odd = np.flatnonzero(self.addr == 0).tolist() if odd else ()


class Bucket:
    """One fusion buffer's worth of arrays of one dtype: which arrays of the list
    (index, offset and elements in the buffer), and how to copy them in and out."""

    def __init__(self, dtype, members, alone):
        self.dtype = np.dtype(dtype)
        self.index = [i for i, _, _ in members]
        self.bounds = {i: (off, off + n) for i, off, n in members}
        self.total = sum(n for _, _, n in members)
        self.alone = alone                   # one large array: reduced where it is
        size = self.dtype.itemsize
        self._member = np.array(self.index, np.int64)
        self._offset = np.array([off * size for _, off, _ in members], np.int64)
        self._bytes = np.array([n * size for _, _, n in members], np.int64)
        self._args = (len(members), _pointer(self._member, "int64_t *"),
                      _pointer(self._offset, "int64_t *"), _pointer(self._bytes, "int64_t *"))

    @property
    def nbytes(self):
        return self.total * self.dtype.itemsize

    def inplace(self, bound):
        """The flat array itself where the bucket is reduced where it is, else None."""
        a = bound.arrays[self.index[0]]
        return a.reshape(-1) if self.alone and a.flags.c_contiguous else None

    def _odd(self, bound):
        return [(bound.arrays[i], *self.bounds[i]) for i in bound.odd if i in self.bounds]

    def gather_into(self, buf, bound):
        """Copy the bound arrays, in order, into buf (self.total elements of self.dtype)."""
        n, member, offset, nbytes = self._args
        lib.mpip_gather(n, member, bound._addr, offset, nbytes, _pointer(buf, "char *"))
        for a, lo, hi in self._odd(bound):
            buf[lo:hi].reshape(a.shape)[...] = a

    def scatter_from(self, buf, bound):
        """Copy buf (self.total elements) out to the bound arrays."""
        n, member, offset, nbytes = self._args
        lib.mpip_scatter(n, member, bound._addr, offset, nbytes, _pointer(buf, "char *"))
        for a, lo, hi in self._odd(bound):
            np.copyto(a, buf[lo:hi].reshape(a.shape))


def groups(arrays, limit):
    """Group by dtype (first-seen order), then fill buckets of at most limit bytes:
    [(dtype, [(index in arrays, offset, elements)], alone)]; empty arrays are left out."""
    by_dtype = {}
    for i, a in enumerate(arrays):
        if a.size:
            by_dtype.setdefault(np.dtype(a.dtype).str, []).append((i, a.size))
    out = []
    for key, group in by_dtype.items():
        itemsize = np.dtype(key).itemsize
        members, used = [], 0
        for i, n in group:
            if n * itemsize >= ALONE_BYTES or n * itemsize > limit:
                out.append((key, [(i, 0, n)], True))
                continue
            if members and (used + n) * itemsize > limit:
                out.append((key, members, False))
                members, used = [], 0
            members.append((i, used, n))
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


_DTYPE = operator.attrgetter("dtype")
_SHAPE = operator.attrgetter("shape")


class Plan:
    """The buckets for one layout of host arrays (checked before a plan is made)."""

    def __init__(self, arrays, limit):
        self.dtypes = tuple(map(_DTYPE, arrays))
        self.shapes = tuple(map(_SHAPE, arrays))
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
        self.last = None                     # the last binding, for the same arrays
        _COUNTS["plans_made"] += 1

    def signature(self, op):
        """8 bytes naming the layout and the operation."""
        sig = self._signatures.get(op)
        if sig is None:
            sig = self._signatures[op] = hashlib.blake2b(
                f"{op}|{self.layout}".encode(), digest_size=8).digest()
        return sig

    def matches(self, arrays, limit):
        """Are these arrays of this plan's layout? dtypes are compared by identity first
        (which holds for the built-in ones), shapes as tuples."""
        if limit != self.limit or len(arrays) != len(self.shapes):
            return False
        now = tuple(map(_DTYPE, arrays))
        if not (all(map(operator.is_, now, self.dtypes)) or now == self.dtypes):
            return False
        return tuple(map(_SHAPE, arrays)) == self.shapes

    def bind(self, arrays):
        """The arrays bound to this plan: the last binding where the very same arrays
        come back (their memory cannot move while the binding holds them: numpy refuses
        to resize a referenced array), else their addresses taken anew."""
        last = self.last
        if last is not None and len(last.arrays) == len(arrays) and \
                all(map(operator.is_, last.arrays, arrays)):
            _COUNTS["bindings_reused"] += 1
            return last
        self.last = Bound(list(arrays))
        _COUNTS["arrays_bound"] += 1
        return self.last


_kept = []                  # the last PLANS plans of any kind, the newest last


def _ndarrays(arrays):
    return all(issubclass(t, np.ndarray) for t in set(map(type, arrays)))


def _find(arrays, limit, kind):
    for plan in reversed(_kept):
        if type(plan) is kind and plan.matches(arrays, limit):
            if plan is not _kept[-1]:
                _kept.remove(plan)
                _kept.append(plan)
            return plan
    return None


def host_plan(arrays, limit):
    """(the kept plan of these numpy arrays' layout, the arrays bound to it), or None
    where one of them is not a numpy array, or no plan of their layout is kept. A
    member that is not contiguous and writeable is left to the caller's check (it
    raises for a read-only one) through bound.odd."""
    if not _kept or not _ndarrays(arrays):
        return None
    plan = _find(arrays, limit, Plan)
    return None if plan is None else (plan, plan.bind(arrays))


def fusion_plan(arrays, limit, kind=Plan):
    """The kept plan of kind (Plan by default) for this list of arrays (of their layout
    for a Plan; of these very arrays for a kind whose matches() says so), made when it
    is new; the last PLANS are kept."""
    plan = _find(arrays, limit, kind)
    if plan is None:
        if len(_kept) >= PLANS:
            _kept.pop(0)
        plan = kind(arrays, limit)
        _kept.append(plan)
    return plan
