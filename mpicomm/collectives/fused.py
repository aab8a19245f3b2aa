"""Fused allreduce: many arrays, few MPI calls.

    >>> from mpicomm.collectives import allreduce_fused, iallreduce_fused
    >>> allreduce_fused(grads, op="average")          # in place, every rank
    >>> h = iallreduce_fused(grads); compute(); h.wait()

Many arrays of many sizes are reduced with few MPI calls: arrays are grouped by
dtype, in order, into fusion buffers of at most MPICOMM_FUSION_BYTES (default
64 MiB) each, as Horovod's tensor fusion does; an array larger than that is
reduced in place on its own. Every rank must pass arrays of the same shapes and
dtypes in the same order (checked: a mismatch raises ValueError on every rank
instead of hanging or mixing data). Device arrays (CuPy, mpicomm.device: anything with
__cuda_array_interface__): where the interposer is loaded into the process (`mpicomm
run`) and every array is a contiguous device array, they are fused on the device (one
device-to-device copy per array) and each fusion buffer goes to the MPI as a device
buffer, which the interposer stages through its pinned host memory over an MPI that is
not CUDA-aware and hands over as it is to one that is; an average needs CuPy arrays
there (it divides on the device). Otherwise they are reduced through host mirrors made
here: copied out before and back after, so any MPI serves them.
"""
import functools
import operator
import os
import zlib

import numpy as np
from mpi4py import MPI

from mpicomm.collectives import tuning

__all__ = ["allreduce_fused", "iallreduce_fused", "FusedRequest", "fusion_bytes", "check_arrays",
           "op_name", "fusion_plan"]

DTYPES = (np.float16, np.float32, np.float64, np.int32, np.int64)
OPS = {"sum": MPI.SUM, "average": MPI.SUM, "min": MPI.MIN, "max": MPI.MAX}
DEFAULT_FUSION_BYTES = 64 << 20


def fusion_bytes():
    """MPICOMM_FUSION_BYTES, validated (default 64 MiB)."""
    raw = os.environ.get("MPICOMM_FUSION_BYTES")
    if raw is None or raw == "":
        return DEFAULT_FUSION_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"MPICOMM_FUSION_BYTES={raw!r} is not a positive number of bytes")
    return value


def op_name(op):
    if isinstance(op, str):
        if op.lower() not in OPS:
            raise ValueError(f"op {op!r} is not one of {', '.join(OPS)}")
        return op.lower()
    for name, mpi_op in (("sum", MPI.SUM), ("min", MPI.MIN), ("max", MPI.MAX)):
        if op == mpi_op:
            return name
    raise ValueError(f"op {op!r} is not MPI.SUM, MPI.MIN, MPI.MAX or one of {', '.join(OPS)}")


class _Staging:
    """Host mirrors of device arrays (CuPy, mpicomm.device: anything with
    __cuda_array_interface__ and CuPy's get and set):
    the reduction runs on the mirrors, copied out before and back after, so an MPI
    that is not CUDA-aware serves them too. Mirrors are kept (with a reference to
    their device array, so ids are not reused) for the last MIRRORS arrays."""

    MIRRORS = 4096

    def __init__(self):
        self.mirrors = {}

    @staticmethod
    def is_device(a):
        return hasattr(a, "__cuda_array_interface__") and not isinstance(a, np.ndarray)

    def stage(self, arrays):
        """(the arrays to reduce, a function that copies results back or None)."""
        arrays = list(arrays)
        device = [i for i, a in enumerate(arrays) if self.is_device(a)]
        if not device:
            return arrays, None
        host = list(arrays)
        for i in device:
            a = arrays[i]
            entry = self.mirrors.get(id(a))
            if entry is None or entry[0] is not a or entry[1].shape != a.shape \
                    or entry[1].dtype != a.dtype:
                if len(self.mirrors) >= self.MIRRORS:
                    self.mirrors.pop(next(iter(self.mirrors)))
                entry = self.mirrors[id(a)] = (a, np.empty(a.shape, a.dtype))
            if _is_cupy(a):
                a.get(out=entry[1])
            else:
                entry[1][...] = a.get()
            host[i] = entry[1]

        def back():
            for i in device:
                a, h = arrays[i], host[i]
                if _is_cupy(a) and not a.flags.c_contiguous:
                    a[...] = _to_device(a, h)
                else:
                    a.set(h)
        return host, back


def _is_cupy(a):
    return type(a).__module__.startswith("cupy")


class _DeviceFusion:
    """Fusion buffers on the device for a list of contiguous device arrays of the
    supported dtypes: grouped by dtype in order, at most `limit` bytes each, copied in and
    out with the interposer's device copy; the MPI gets each buffer as a device buffer.
    Kept while the same arrays come back, as a _Plan is."""

    def __init__(self, arrays, limit):
        from mpicomm import device
        self.refs = list(arrays)
        self.limit = limit
        self.signature = _signature(arrays)
        self.parts = []                      # (dtype, fused device buffer, [(array, offset)])
        for key, members in _groups(arrays, limit):
            dtype = np.dtype(key)
            total = sum(n for _, _, n in members)
            self.parts.append((dtype, device.empty(total, dtype),
                               [(a, off) for a, off, _ in members]))
        self._copy = _device_copy()

    def matches(self, arrays, limit):
        return (limit == self.limit and len(arrays) == len(self.refs) and
                all(map(operator.is_, self.refs, arrays)) and
                all(a.dtype == r.dtype and a.shape == r.shape
                    for a, r in zip(arrays, self.refs)))

    def gather(self):
        for dtype, buf, members in self.parts:
            base = _pointer(buf)
            for a, off in members:
                self._copy(base + off * dtype.itemsize, _pointer(a), a.nbytes)

    def scatter(self, divisor=None):
        for dtype, buf, members in self.parts:
            if divisor is not None and dtype.kind == "f":
                buf /= divisor
            base = _pointer(buf)
            for a, off in members:
                self._copy(_pointer(a), base + off * dtype.itemsize, a.nbytes)


def _pointer(a):
    return a.__cuda_array_interface__["data"][0]


def _device_copy():
    """The interposer's device copy (dst, src, bytes), raising on failure."""
    import ctypes
    fn = ctypes.CDLL(None).mpicomm_device_copy
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]

    def copy(dst, src, n):
        if n and fn(dst, src, n) != 0:
            raise RuntimeError(f"device copy of {n} bytes failed")
    return copy


@functools.lru_cache(maxsize=None)
def _interposer():
    """The interposer's controls, found once (None when it is not loaded)."""
    from mpicomm import interposer
    return interposer.Interposer() if interposer.preloaded() else None


def _interposed():
    """Is the interposer loaded into this process and active (it can be switched off at
    run time)?"""
    ip = _interposer()
    return ip is not None and ip.active


def _device_fusable(arrays, name):
    """Can the device arrays be fused on the device (see the module's docstring)?"""
    if not arrays or not all(map(_Staging.is_device, arrays)) or not _interposed():
        return False
    for a in arrays:
        strides = a.__cuda_array_interface__.get("strides")
        itemsize = np.dtype(a.dtype).itemsize
        if strides is not None and tuple(strides) != tuple(
                np.cumprod((1,) + tuple(a.shape[:0:-1]))[::-1] * itemsize):
            return False
        if np.dtype(a.dtype).type not in DTYPES:
            return False
    if name == "average" and not all(map(_is_cupy, arrays)):
        return False
    return True


def _to_device(like, host):
    """host as an array of like's library on like's device (a strided target)."""
    import cupy
    with cupy.cuda.Device(like.device.id):
        return cupy.asarray(host)


STAGING = _Staging()


def check_arrays(arrays, op):
    arrays = list(arrays)
    for i, a in enumerate(arrays):
        if not isinstance(a, np.ndarray):
            raise TypeError(f"array {i} is a {type(a).__name__}, not a numpy.ndarray "
                            "(the reduction is in place)")
        if a.dtype.type not in DTYPES:
            raise TypeError(f"array {i} has dtype {a.dtype}; supported: "
                            f"{', '.join(np.dtype(t).name for t in DTYPES)}")
        if not a.flags.writeable:
            raise ValueError(f"array {i} is read-only; the reduction is in place")
        if op == "average" and a.dtype.kind == "i":
            raise TypeError(f"array {i} is {a.dtype}: an average of integers is not exact; "
                            "use op='sum' and divide")
    return arrays


class _Bucket:
    """One fused buffer (or one contiguous array reduced where it is): its dtype, its
    members' flat views (None for a non-contiguous array) and offsets."""

    def __init__(self, dtype, members):
        self.dtype = np.dtype(dtype)
        self.arrays = [a for a, _, _ in members]
        self.bounds = [(off, off + n) for _, off, n in members]
        self.total = sum(n for _, _, n in members)
        self.flat = [a.reshape(-1) if a.flags.c_contiguous else None for a in self.arrays]
        # An array alone in its buffer (one above the limit, or the last of its dtype)
        # is reduced where it is when it is contiguous: no copy in or out.
        self.inplace = len(members) == 1 and self.flat[0] is not None
        self.own = None                      # the buffer the blocking path reuses
        self._views = None                   # (buffer, its slices per array)

    def gather(self, fresh):
        """The buffer to reduce, filled from the arrays."""
        if self.inplace:
            return self.flat[0]
        if fresh or self.own is None:
            buf = np.empty(self.total, self.dtype)
            if not fresh:
                self.own = buf
        else:
            buf = self.own
        self.gather_into(buf)
        return buf

    def gather_into(self, buf):
        """Copy the arrays, in order, into buf (self.total elements of self.dtype)."""
        srcs = [f if f is not None else a.reshape(-1) for f, a in zip(self.flat, self.arrays)]
        np.concatenate(srcs, out=buf)

    def scatter(self, buf, divisor=None):
        """Put the reduced buf back into the arrays (dividing first, for an average)."""
        if divisor is not None:
            np.true_divide(buf, divisor, out=buf)
        if not self.inplace:
            self.scatter_from(buf)

    def scatter_from(self, buf):
        """Copy buf (self.total elements) out to the arrays."""
        if self._views is None or self._views[0] is not buf:
            # The slices of the buffer the blocking path reuses are made once.
            self._views = (buf, [buf[lo:hi] if f is not None else buf[lo:hi].reshape(a.shape)
                                 for f, a, (lo, hi) in zip(self.flat, self.arrays, self.bounds)])
        for f, a, view in zip(self.flat, self.arrays, self._views[1]):
            if f is not None:
                f[...] = view
            else:
                np.copyto(a, view)


def _groups(arrays, limit):
    """Group by dtype (first-seen order), then fill buffers of at most limit bytes:
    [(dtype, [(array, offset, elements)])]; empty arrays are left out."""
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
            if members and (used + n) * itemsize > limit:
                out.append((key, members))
                members, used = [], 0
            members.append((a, used, n))
            used += n
        if members:
            out.append((key, members))
    return out


def _buckets(arrays, limit):
    return [_Bucket(key, members) for key, members in _groups(arrays, limit)]


def _signature(arrays):
    """What every rank must agree on: the number, dtypes and shapes of the arrays."""
    sig = ";".join(f"{np.dtype(a.dtype).str}{tuple(a.shape)}" for a in arrays).encode()
    return zlib.crc32(sig) | (len(arrays) << 32)


class _Plan:
    """The buckets for one list of arrays, kept while the same arrays come back (the
    usual case: the same gradients every step), so each step costs a concatenate per
    buffer and a copy per array, not a regrouping. A plan holds its arrays (so their
    ids cannot be reused); the last PLANS lists are kept."""

    def __init__(self, arrays, limit):
        self.refs = list(arrays)
        self.dtypes = [a.dtype for a in arrays]
        self.limit = limit
        self.buckets = _buckets(arrays, limit)
        self.signature = _signature(arrays)

    def matches(self, arrays, limit):
        # The same array objects (their sizes cannot change while the plan holds them:
        # numpy refuses to resize a referenced array) with the same dtypes (an array's
        # dtype can be reassigned); dtypes are compared by identity first, which holds
        # for the built-in ones.
        if limit != self.limit or len(arrays) != len(self.refs):
            return False
        if not all(map(operator.is_, self.refs, arrays)):
            return False
        now = [a.dtype for a in arrays]
        return all(map(operator.is_, now, self.dtypes)) or now == self.dtypes


PLANS = 4
_plans = {}


def fusion_plan(arrays, limit, kind=None):
    """The cached _Plan (or kind, _DeviceFusion) for this list of arrays (built when it
    is new or changed)."""
    kind = kind or _Plan
    key = (kind, limit, *map(id, arrays))
    plan = _plans.get(key)
    if plan is None or not plan.matches(arrays, limit):
        if len(_plans) >= PLANS:
            _plans.pop(next(iter(_plans)))
        plan = _plans[key] = kind(arrays, limit)
    return plan


class FusedRequest:
    """A fused allreduce in flight: `wait()` finishes it, `test()` asks."""

    def __init__(self, parts, requests, divisor, copy_back=None):
        self._parts, self._requests, self._divisor = parts, requests, divisor
        self._copy_back = copy_back          # device arrays: their host mirrors go back
        self._done = False

    def test(self):
        """True (and the arrays hold the result) once every part has completed."""
        if not self._done and MPI.Request.Testall(self._requests):
            self._finish()
        return self._done

    def wait(self):
        """Block until done; the arrays then hold the result."""
        if not self._done:
            MPI.Request.Waitall(self._requests)
            self._finish()

    def _finish(self):
        for bucket, buf in self._parts:
            bucket.scatter(buf, self._divisor if bucket.dtype.kind == "f" else None)
        if self._copy_back is not None:
            self._copy_back()
        self._done = True


def _agree(comm, signature):
    both = np.array([signature, -signature], dtype=np.int64)
    comm.Allreduce(MPI.IN_PLACE, both, op=MPI.MAX)
    if both[0] != -both[1]:
        raise ValueError("ranks passed different arrays to a fused allreduce (their number, "
                         "shapes or dtypes differ); every rank must pass the same layout")


class _DeviceRequest(FusedRequest):
    """A fused allreduce of device arrays in flight (_DeviceFusion)."""

    def __init__(self, fusion, requests, divisor):
        super().__init__([], requests, divisor)
        self._fusion = fusion

    def _finish(self):
        self._fusion.scatter(self._divisor)
        self._done = True


def _start_device(arrays, name, comm, blocking):
    if name == "average" and any(np.dtype(a.dtype).kind == "i" for a in arrays):
        check_arrays([np.empty(0, a.dtype) for a in arrays], name)     # raises, naming it
    fusion = fusion_plan(arrays, fusion_bytes(), _DeviceFusion)
    _agree(comm, fusion.signature)
    divisor = comm.Get_size() if name == "average" else None
    mpi_op = OPS[name]
    fusion.gather()
    if blocking:
        for _, buf, _ in fusion.parts:
            comm.Allreduce(MPI.IN_PLACE, buf, op=mpi_op)
        req = _DeviceRequest(fusion, [], divisor)
        req._finish()
        return req, len(fusion.parts)
    reqs = [comm.Iallreduce(MPI.IN_PLACE, buf, op=mpi_op) for _, buf, _ in fusion.parts]
    return _DeviceRequest(fusion, reqs, divisor), len(fusion.parts)


def _start(arrays, op, comm, blocking):
    comm = comm or MPI.COMM_WORLD
    name = op_name(op)
    arrays = list(arrays)
    if _device_fusable(arrays, name):
        return _start_device(arrays, name, comm, blocking)
    arrays, copy_back = STAGING.stage(arrays)
    arrays = check_arrays(arrays, name)
    if blocking:
        tuning.algorithm_setting()           # a bad MPICOMM_ALLREDUCE is named up front
    plan = fusion_plan(arrays, fusion_bytes())
    _agree(comm, plan.signature)
    divisor = comm.Get_size() if name == "average" else None
    mpi_op = OPS[name]
    parts = [(b, b.gather(fresh=not blocking)) for b in plan.buckets]
    if blocking:
        for _, buf in parts:
            tuning.allreduce(comm, buf, "sum" if name == "average" else name)
        req = FusedRequest(parts, [], divisor, copy_back)
        req._finish()
        return req, len(parts)
    reqs = [comm.Iallreduce(MPI.IN_PLACE, buf, op=mpi_op) for _, buf in parts]
    return FusedRequest(parts, reqs, divisor, copy_back), len(parts)


def allreduce_fused(arrays, op=MPI.SUM, comm=None):
    """Reduce a list of numpy arrays in place across comm (default COMM_WORLD), each
    fusion buffer with the algorithm tuned for its size (MPICOMM_ALLREDUCE, tuning.py).

    op: MPI.SUM, MPI.MIN, MPI.MAX, or "sum", "average", "min", "max" (average: the sum
    divided by the number of ranks, floating-point dtypes only). Returns the number
    of MPI reductions it took."""
    return _start(arrays, op, comm, blocking=True)[1]


def iallreduce_fused(arrays, op=MPI.SUM, comm=None):
    """Start the same reduction with the MPI's MPI_Iallreduce (whose progress is what
    overlaps the compute, so no algorithm of ours is used); returns a FusedRequest.
    The arrays must not be touched until it completes; several may be in flight."""
    return _start(arrays, op, comm, blocking=False)[0]
