"""Fused allreduce: many arrays, few MPI calls.

    >>> from mpicomm.collectives import allreduce_fused, iallreduce_fused
    >>> allreduce_fused(grads, op="average")          # in place, every rank
    >>> h = iallreduce_fused(grads); compute(); h.wait()

Many arrays of many sizes are reduced with few MPI calls: arrays are grouped by
dtype, in order, into fusion buffers of at most MPICOMM_FUSION_BYTES (default
64 MiB) each, as Horovod's tensor fusion does; an array of 1 MiB or more (or larger
than the limit) is reduced where it is, on its own (plans.py). The grouping is made
once per layout (dtypes, shapes, order) and kept, new arrays of a known layout are bound
to it in one native pass, and they are copied in and out in one native call per buffer,
so a training step's call costs about what the MPI calls cost, however many arrays
there are and whether they are new each step.

Every rank must pass arrays of the same shapes and dtypes in the same order, and the
same operation: checked inside the first MPI call, which carries a header naming the
layout (agreement.py), so a mismatch raises ValueError on every rank, changing no
array, instead of hanging or mixing data, at the price of no collective of its own.

Device arrays (CuPy, mpicomm.device: anything with
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
import threading

import numpy as np
from mpi4py import MPI

from mpicomm.collectives import agreement, plans, progress, tuning
from mpicomm.collectives.agreement import HEADER
from mpicomm.collectives.plans import fusion_plan

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
    supported dtypes, in the buckets a host plan of the same layout has (so the MPI calls
    are the same), every bucket copied (none reduced where it is), the first buffer
    after the header; copied in and out with the interposer's device copy. The MPI gets
    each buffer as a device buffer. Kept while the same arrays come back."""

    def __init__(self, arrays, limit):
        from mpicomm import device
        self.refs = list(arrays)
        self.limit = limit
        self.layout = plans.layout_key(arrays, limit)
        self._signatures = {}
        first, rest = plans.head_first(plans.groups(arrays, limit), lambda g: g[2])
        self.parts = []                      # (dtype, device buffer, offset, [(array, at)])
        if first is None:
            self.parts.append((np.dtype(np.float64), device.empty(HEADER, np.float64),
                               HEADER, []))
        for group in ([first] if first is not None else []) + rest:
            key, members, _ = group
            dtype, skip = np.dtype(key), HEADER if group is first else 0
            total = skip + sum(n for _, _, n in members)
            self.parts.append((dtype, device.empty(total, dtype), skip,
                               [(arrays[i], skip + off) for i, off, _ in members]))
        self.shapes = [(dtype, buf.size) for dtype, buf, _, _ in self.parts]
        self._copy = _device_copy()

    signature = plans.Plan.signature

    def matches(self, arrays, limit):
        return (limit == self.limit and len(arrays) == len(self.refs) and
                all(map(operator.is_, self.refs, arrays)) and
                all(a.dtype == r.dtype and a.shape == r.shape
                    for a, r in zip(arrays, self.refs)))

    def gather(self, signature):
        for k, (dtype, buf, _, members) in enumerate(self.parts):
            base = _pointer(buf)
            if k == 0:
                h = agreement.header(signature, dtype)
                self._copy(base, h.ctypes.data, h.nbytes)
            for a, at in members:
                self._copy(base + at * dtype.itemsize, _pointer(a), a.nbytes)

    def header(self):
        """The first buffer's header, reduced, on the host."""
        dtype, buf, _, _ = self.parts[0]
        h = np.empty(HEADER, dtype)
        self._copy(h.ctypes.data, _pointer(buf), h.nbytes)
        return h

    def scatter(self, divisor=None):
        for dtype, buf, skip, members in self.parts:
            if divisor is not None and dtype.kind == "f" and members:
                buf[skip:] /= divisor
            base = _pointer(buf)
            for a, at in members:
                self._copy(_pointer(a), base + at * dtype.itemsize, a.nbytes)


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


def check_arrays(arrays, op, which=None):
    """arrays as a list, after checking each (those at the indices `which`, where given)."""
    arrays = list(arrays)
    for i in range(len(arrays)) if which is None else which:
        a = arrays[i]
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


def _first_shape(plan):
    head = plan.head
    return (np.dtype(np.float64), HEADER) if head is None else (head.dtype, HEADER + head.total)


def _shapes(plan):
    """(dtype, elements) of each MPI call the plan makes, the header's first."""
    return [_first_shape(plan)] + [(b.dtype, b.total) for b in plan.rest]


def _first_buffer(plan, signature, own, bound):
    """The first call's buffer (kept in own): the header, then the first fused
    bucket's arrays."""
    buf = own.get("first")
    if buf is None:
        dtype, n = _first_shape(plan)
        buf = own["first"] = np.empty(n, dtype)
    buf[:HEADER] = agreement.header(signature, buf.dtype)
    if plan.head is not None:
        plan.head.gather_into(buf[HEADER:], bound)
    return buf


def _bucket_buffer(bucket, own, bound):
    """A bucket's arrays copied into its buffer (kept in own)."""
    buf = own.get(id(bucket))
    if buf is None:
        buf = own[id(bucket)] = np.empty(bucket.total, bucket.dtype)
    bucket.gather_into(buf, bound)
    return buf


class FusedRequest:
    """A fused allreduce in flight: `wait()` finishes it, `test()` asks. Where there is
    a progress thread (progress.py) the MPI calls progress there meanwhile, and the
    results of host arrays are copied out there too as soon as they are in."""

    def __init__(self, finish, requests, watched=False, offload=False):
        self._finish_parts, self._requests = finish, requests
        self._offload = offload              # the progress thread may finish it
        self._lock = threading.Lock()        # one thread at a time tests and finishes
        self._complete = not requests        # the MPI calls are
        self._done = False                   # and the results are out (or failed)
        self._error = None
        if requests and watched:
            progress.watch(self)

    @property
    def complete(self):
        """Have the MPI calls completed (the results are then copied out by the
        progress thread, or by test() or wait())?"""
        return self._complete

    def poll(self):
        """For the progress thread (never blocks): advance; true once nothing is left
        for it to do."""
        if self._lock.acquire(blocking=False):
            try:
                self._advance(block=False, finish=self._offload)
            finally:
                self._lock.release()
        return self._done or (self._complete and not self._offload)

    def test(self):
        """True (and the arrays hold the result) once every part has completed."""
        with self._lock:
            self._advance(block=False, finish=True)
        return self._result()

    def wait(self):
        """Block until done; the arrays then hold the result. Raises ValueError (and
        leaves the arrays as they were) where the ranks passed different layouts."""
        with self._lock:
            self._advance(block=True, finish=True)
        self._result()

    def _advance(self, block, finish):
        if not self._complete:
            if block:
                MPI.Request.Waitall(self._requests)
            self._complete = block or MPI.Request.Testall(self._requests)
        if self._complete and finish and not self._done:
            self._done = True
            try:
                self._finish_parts()
            except Exception as exc:         # raised in the caller's test() or wait()
                self._error = exc

    def _result(self):
        if self._error is not None:
            raise self._error
        return self._done


def _agree(comm, state, signature, shapes, reduce, blocking):
    """Until the communicator's agreed layout is this one: reduce (with reduce(buffers),
    the calls the others make) scratch buffers shaped as the agreed calls (the first
    alone when blocking: the others stop after it) and take the new layout if every
    rank brought it; raise where they differ."""
    while state.signature != signature:
        bufs = state.scratch(signature, 1 if blocking else None)
        reduce(bufs)
        if not agreement.same(bufs[0][:HEADER]):
            raise ValueError(agreement.MISMATCH)
        state.signature, state.shapes = signature, shapes


def _finisher(parts, bound, divisor, copy_back, release=None):
    """What completes a host reduction once its buffers (bucket, buffer, where it is)
    are reduced: check the header, then divide an average and copy back to the bound
    arrays; then release() the buffers."""
    first = parts[0][1]

    def finish():
        try:
            _finish(parts, bound, first, divisor, copy_back)
        finally:
            if release is not None:
                release()
    return finish


def _finish(parts, bound, first, divisor, copy_back):
    if not agreement.same(first[:HEADER]):
        raise ValueError(agreement.MISMATCH)
    for bucket, buf, inplace in parts:
        if bucket is None:
            continue
        data = buf[HEADER:] if buf is first else buf
        if divisor is not None and bucket.dtype.kind == "f":
            np.true_divide(data, divisor, out=data)
        if not inplace:
            bucket.scatter_from(data, bound)
    if copy_back is not None:
        copy_back()


def _start(arrays, op, comm, blocking):
    # 1. The plan: the kept one of these arrays' layout (checked when it was made; new
    #    arrays are bound to it), else one on the device, else a new one (device arrays
    #    staged, checked).
    comm = comm or MPI.COMM_WORLD
    name = op_name(op)
    limit = fusion_bytes()
    if blocking:
        tuning.algorithm_setting()           # a bad MPICOMM_ALLREDUCE is named up front,
    watched = not blocking and progress.enabled()   # as is a bad MPICOMM_PROGRESS_THREAD
    arrays = arrays if type(arrays) is list else list(arrays)
    plan, bound, copy_back = bound_plan(arrays, name, limit)
    if plan is None:
        return _start_device(arrays, name, comm, blocking, limit, watched)
    signature = plan.signature(name)
    state = agreement.agreed(comm)
    divisor = comm.Get_size() if name == "average" else None
    op = "sum" if name == "average" else name
    # 2. Nonblocking: the calls are made as the agreed layout's (after agreeing on this
    #    one where it is new here); the header is checked when they complete, and the
    #    arrays are copied, so that nothing changes where the ranks differ.
    if not blocking:
        _agree(comm, state, signature, _shapes(plan), lambda bufs: MPI.Request.Waitall(
            [comm.Iallreduce(MPI.IN_PLACE, b, op=OPS[name]) for b in bufs]), False)
        own = plan.spare.pop() if plan.spare else {}
        parts = [(plan.head, _first_buffer(plan, signature, own, bound), False)]
        parts += [(b, _bucket_buffer(b, own, bound), False) for b in plan.rest]
        reqs = [comm.Iallreduce(MPI.IN_PLACE, buf, op=OPS[name]) for _, buf, _ in parts]
        finish = _finisher(parts, bound, divisor, copy_back, lambda: plan.spare.append(own))
        return FusedRequest(finish, reqs, watched, copy_back is None), len(parts)
    # 3. Blocking: the first call carries the header; where this rank's layout is new,
    #    it is a scratch call shaped as the agreed layout's first (the others stop there).
    if state.signature != signature:
        _agree(comm, state, signature, _shapes(plan),
               lambda bufs: tuning.allreduce(comm, bufs[0], op), True)
    first = _first_buffer(plan, signature, plan.own, bound)
    tuning.allreduce(comm, first, op)
    if not agreement.same(first[:HEADER]):
        raise ValueError(agreement.MISMATCH)
    # 4. The other buckets, then the copies back.
    parts = [(plan.head, first, False)]
    for bucket in plan.rest:
        buf = bucket.inplace(bound)
        inplace = buf is not None
        if not inplace:
            buf = _bucket_buffer(bucket, plan.own, bound)
        tuning.allreduce(comm, buf, op)
        parts.append((bucket, buf, inplace))
    _finisher(parts, bound, divisor, copy_back)()
    return None, len(parts)


def bound_plan(arrays, name, limit, on_device=True):
    """(plan, the arrays bound to it, a copy back to device arrays or None); (None,
    None, None) where the arrays are to be fused on the device (if on_device)."""
    found = plans.host_plan(arrays, limit)
    if found is not None:
        plan, bound = found
        if name == "average" and plan.integers:
            check_arrays(arrays, name)       # raises, naming the array
        elif bound.odd:
            check_arrays(arrays, name, bound.odd)
        return plan, bound, None
    if on_device and _device_fusable(arrays, name):
        return None, None, None
    arrays, copy_back = STAGING.stage(arrays)
    check_arrays(arrays, name)
    plan = plans.fusion_plan(arrays, limit)
    return plan, plan.bind(arrays), copy_back


def _start_device(arrays, name, comm, blocking, limit, watched):
    if name == "average" and any(np.dtype(a.dtype).kind == "i" for a in arrays):
        check_arrays([np.empty(0, a.dtype) for a in arrays], name)     # raises, naming it
    fusion = plans.fusion_plan(arrays, limit, _DeviceFusion)
    signature = fusion.signature(name)
    divisor = comm.Get_size() if name == "average" else None
    mpi_op = OPS[name]
    if blocking:
        def reduce(bufs):
            comm.Allreduce(MPI.IN_PLACE, bufs[0], op=mpi_op)
    else:
        def reduce(bufs):
            MPI.Request.Waitall([comm.Iallreduce(MPI.IN_PLACE, b, op=mpi_op) for b in bufs])
    _agree(comm, agreement.agreed(comm), signature, fusion.shapes, reduce, blocking)
    fusion.gather(signature)
    bufs = [buf for _, buf, _, _ in fusion.parts]

    def finish():
        if not agreement.same(fusion.header()):
            raise ValueError(agreement.MISMATCH)
        fusion.scatter(divisor)

    if not blocking:
        reqs = [comm.Iallreduce(MPI.IN_PLACE, buf, op=mpi_op) for buf in bufs]
        return FusedRequest(finish, reqs, watched), len(bufs)
    comm.Allreduce(MPI.IN_PLACE, bufs[0], op=mpi_op)
    if not agreement.same(fusion.header()):
        raise ValueError(agreement.MISMATCH)
    for buf in bufs[1:]:
        comm.Allreduce(MPI.IN_PLACE, buf, op=mpi_op)
    fusion.scatter(divisor)
    return None, len(bufs)


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
