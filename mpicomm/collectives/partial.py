"""Deadline-aware aggregation: reduce what arrived in time, as backup workers do.

    >>> agg = PartialAllreduce(comm)                  # collective over comm
    >>> for step in range(steps):
    ...     res = agg.allreduce(grads, deadline_s=0.05, min_ranks=n - 1, op="average")
    ...     res.included, res.missed                  # ranks of comm
    >>> agg.save_trace("stragglers.h5")               # the root writes; others return None
    >>> agg.close()                                   # collective

    >>> allreduce_partial(grads, 0.05, n - 1)         # the same, one aggregator per comm

How: every rank packs its arrays into one message and sends it to the root. The root
waits, from its own call, up to deadline_s and then on until at least min_ranks
contributions (its own included) are in, but never longer than timeout_s; it reduces
those and sends the result with the list of included ranks to every rank (Isend: a
broadcast would let a late rank hold up the others, as MPICH's scatter-allgather
Ibcast of a large message does). Every message carries its step: one that comes
late is recorded when it arrives (the root probes before receiving, so no message is
ever cut short) and never reduced into a later step. Each message also carries how
long its rank took since it last had a result, which the root keeps as a straggler
trace (mpicomm.traces) the coding simulator can replay.
"""
import time

import numpy as np
from mpi4py import MPI

from mpicomm import traces
from mpicomm.collectives.fused import STAGING, check_arrays, fusion_plan, op_name

__all__ = ["PartialAllreduce", "PartialResult", "allreduce_partial"]

HEADER = 24                  # bytes: int64 step, int64 layout signature, float64 seconds
TAG, TAG_HEAD, TAG_RESULT = 7, 8, 9   # on the aggregator's own communicator
OK, LAYOUT, TIMEOUT = 0, 1, 2
REDUCE = {"sum": np.add, "average": np.add, "min": np.minimum, "max": np.maximum}


class PartialResult:
    """What one partial allreduce did: step, included and missed ranks (of the
    aggregator's comm), and how long the root waited."""

    def __init__(self, step, included, size, waited_s):
        self.step = step
        self.included = included
        self.missed = sorted(set(range(size)) - set(included))
        self.waited_s = waited_s

    def __repr__(self):
        return (f"PartialResult(step={self.step}, included={self.included}, "
                f"missed={self.missed}, waited_s={self.waited_s:.6f})")


class _Layout:
    """One message per rank: the header, then each dtype's arrays back to back, each
    dtype's part starting on an 8-byte boundary."""

    def __init__(self, arrays):
        self.plan = fusion_plan(arrays, float("inf"))
        self.parts, offset = [], HEADER
        for bucket in self.plan.buckets:
            nbytes = bucket.total * bucket.dtype.itemsize
            self.parts.append((bucket, offset, nbytes))
            offset += -(-nbytes // 8) * 8
        self.nbytes = offset
        self.signature = int.from_bytes(self.plan.signature("partial"), "little", signed=True)

    def views(self, msg):
        return [(b, msg[off:off + n].view(b.dtype)) for b, off, n in self.parts]

    def pack(self, step, seconds):
        msg = np.empty(self.nbytes, np.uint8)
        msg[:16].view(np.int64)[:] = (step, self.signature)
        msg[16:24].view(np.float64)[0] = seconds
        for bucket, view in self.views(msg):
            bucket.gather_into(view)
        return msg

    def divide(self, msg, divisor):
        """An average: divide the floating-point parts of msg in place."""
        for bucket, view in self.views(msg):
            if bucket.dtype.kind == "f":
                np.true_divide(view, divisor, out=view)

    def unpack(self, msg):
        for bucket, view in self.views(msg):
            bucket.scatter_from(view)


def _header(msg):
    step, signature = msg[:16].view(np.int64)
    return int(step), int(signature), float(msg[16:24].view(np.float64)[0])


def _poll(done, limit_s, start):
    """Call done() with a growing pause (20 us to 1 ms) until it is true or limit_s
    seconds have passed since start (None: no limit); whether it became true."""
    pause = 2e-5
    while not done():
        if limit_s is not None and time.perf_counter() - start >= limit_s:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 1e-3)
    return True


class PartialAllreduce:
    """Deadline-aware reductions over a private duplicate of comm (collective to make
    and to close). Every rank must call allreduce() the same number of times."""

    def __init__(self, comm=None, root=0):
        comm = comm or MPI.COMM_WORLD
        if not 0 <= root < comm.Get_size():
            raise ValueError(f"root {root} is not a rank of a communicator of size "
                             f"{comm.Get_size()}")
        self.comm = comm.Dup()
        self.comm.Set_errhandler(MPI.ERRORS_RETURN)
        self.rank, self.size, self.root = self.comm.Get_rank(), self.comm.Get_size(), root
        self.step = 0
        self._since = time.perf_counter()    # when this rank last had a result
        self._sends = []                     # a rank's contributions in flight
        self._missing = 0                    # root: late contributions still to come
        self._results = []                   # root: results in flight, with their buffers
        # The root's straggler record, one row per step.
        self._seconds, self._arrival, self._included, self._deadline = [], [], [], []

    # The reduction ---------------------------------------------------------------------

    def allreduce(self, arrays, deadline_s, min_ranks, op="sum", timeout_s=None):
        """Reduce arrays in place over the ranks whose contributions reach the root
        within deadline_s of the root's call (at least min_ranks of them, the root's
        own included; waiting past the deadline for those, up to timeout_s if given).
        op: "sum", "average" (over the included ranks), "min", "max" or MPI.SUM/MIN/MAX.
        Every rank gets the same result and a PartialResult. A step that cannot gather
        min_ranks within timeout_s raises TimeoutError on every rank."""
        name = op_name(op)
        arrays, copy_back = STAGING.stage(arrays)
        arrays = check_arrays(arrays, name)
        if not deadline_s >= 0:
            raise ValueError(f"deadline_s must be >= 0 seconds, got {deadline_s!r}")
        if not 1 <= min_ranks <= self.size:
            raise ValueError(f"min_ranks must be between 1 and the communicator's size "
                             f"{self.size}, got {min_ranks!r}")
        if timeout_s is not None and not timeout_s >= deadline_s:
            raise ValueError(f"timeout_s ({timeout_s!r}) must be >= deadline_s ({deadline_s!r})")
        layout = _Layout(arrays)
        entered = time.perf_counter()
        step, self.step = self.step, self.step + 1
        msg = layout.pack(step, entered - self._since)
        if self.rank == self.root:
            result = self._root(layout, msg, step, name, deadline_s, min_ranks, timeout_s)
        else:
            result = self._member(layout, msg, step)
        self._since = time.perf_counter()
        if copy_back is not None:
            copy_back()
        return result

    def _root(self, layout, acc, step, name, deadline_s, min_ranks, timeout_s):
        entered = time.perf_counter()
        seconds = np.full(self.size, np.nan)
        arrival = np.full(self.size, np.nan)
        seconds[self.root], arrival[self.root] = _header(acc)[2], 0.0
        self._seconds.append(seconds)
        self._arrival.append(arrival)
        self._deadline.append(deadline_s)
        included, heard, status = [self.root], 1, OK
        reduce = REDUCE[name]

        def collect():
            # 1. Take every contribution that has come: this step's are reduced (or
            #    their layout refused), earlier steps' are late and only recorded.
            nonlocal status, heard
            now = time.perf_counter() - entered
            for src, buf in self._arrived():
                their_step, signature, secs = _header(buf)
                if their_step != step:
                    self._record_late(their_step, src, secs)
                    continue
                seconds[src], arrival[src] = secs, now
                heard += 1
                if buf.size != layout.nbytes or signature != layout.signature:
                    status = LAYOUT
                    continue
                included.append(src)
                for (_, mine), (_, theirs) in zip(layout.views(acc), layout.views(buf)):
                    reduce(mine, theirs, out=mine)
            # 2. Done when everyone is in, or at the deadline with min_ranks in.
            if status != OK or len(included) == self.size:
                return True
            return now >= deadline_s and len(included) >= min_ranks

        # 3. Reduce what arrives until the deadline (and min_ranks), or the timeout.
        if not _poll(collect, timeout_s, entered):
            status = TIMEOUT
        waited = time.perf_counter() - entered
        self._included.append(included)
        self._missing += self.size - heard
        # 4. Tell every rank the step, its status, the included ranks and the message
        #    size; then the result itself (unless the step failed). Sent to each rank
        #    on its own: a late rank collects its copy when it comes, holding nobody up.
        self._results = [(r, b) for r, b in self._results if not r.Test()]
        mask = np.zeros(self.size, np.int64)
        mask[included] = 1
        head = np.concatenate([[step, status, layout.signature, layout.nbytes], mask])
        head = head.astype(np.int64)
        if status == OK and name == "average":
            layout.divide(acc, len(included))
        for r in range(self.size):
            if r != self.root:
                self._results.append((self.comm.Isend(head, r, TAG_HEAD), head))
                if status == OK:
                    self._results.append((self.comm.Isend(acc, r, TAG_RESULT), acc))
        self._raise_for(status, timeout_s, min_ranks, len(included))
        layout.unpack(acc)
        return PartialResult(step, sorted(included), self.size, waited)

    def _arrived(self, block=False):
        """Root: (source, message) for each contribution that has come in (at least one
        when block). Probing first sizes each receive, so no message is ever cut."""
        while True:
            status = MPI.Status()
            if block:
                message, block = self.comm.Mprobe(MPI.ANY_SOURCE, TAG, status), False
            else:
                message = self.comm.Improbe(MPI.ANY_SOURCE, TAG, status)
            if message is None:
                return
            buf = np.empty(status.Get_count(MPI.BYTE), np.uint8)
            message.Recv(buf)
            yield status.Get_source(), buf

    def _record_late(self, step, src, seconds):
        if not 0 <= step < len(self._seconds):
            raise RuntimeError(f"internal error: rank {src} sent step {step} during step "
                               f"{len(self._seconds) - 1}")
        self._seconds[step][src] = seconds
        self._missing -= 1

    def _member(self, layout, msg, step):
        # 1. Send this rank's contribution; earlier sends are let go once complete.
        self._sends = [(r, b) for r, b in self._sends if not r.Test()]
        self._sends.append((self.comm.Isend(msg, self.root, TAG), msg))
        # 2. Wait for the root's verdict (it comes within the root's timeout_s), then
        #    for the result. Polling with pauses leaves the core to others meanwhile.
        head = np.empty(4 + self.size, np.int64)
        _poll(self.comm.Irecv(head, self.root, TAG_HEAD).Test, None, 0.0)
        their_step, status, signature, nbytes = (int(v) for v in head[:4])
        if their_step != step:
            raise RuntimeError(f"internal error: result of step {their_step} at step {step}")
        included = [int(r) for r in np.flatnonzero(head[4:])]
        self._raise_for(status, None, None, len(included))
        result = np.empty(nbytes, np.uint8)
        _poll(self.comm.Irecv(result, self.root, TAG_RESULT).Test, None, 0.0)
        if signature != layout.signature:
            raise ValueError("ranks passed different arrays to a partial allreduce (their "
                             "number, shapes or dtypes differ from the root's)")
        layout.unpack(result)                  # the root has divided an average
        return PartialResult(step, included, self.size, time.perf_counter() - self._since)

    def _raise_for(self, status, timeout_s, min_ranks, count):
        if status == LAYOUT:
            raise ValueError("ranks passed different arrays to a partial allreduce (their "
                             "number, shapes or dtypes differ); every rank must pass the "
                             "same layout")
        if status == TIMEOUT:
            raise TimeoutError(f"only {count} of the {min_ranks or 'required'} contributions "
                               f"reached the root within its timeout_s"
                               + (f"={timeout_s} s" if timeout_s is not None else ""))

    def _drain(self, block=False):
        """Root: record the late contributions that have come (all of them when block)."""
        while self._missing:
            for src, buf in self._arrived(block):
                step, _, secs = _header(buf)
                self._record_late(step, src, secs)
            if not block:
                return

    # The straggler trace ---------------------------------------------------------------

    def delays(self):
        """Root: seconds each rank took per step (rank x step) from its previous result
        to its contribution; inf where a contribution has not arrived. None elsewhere."""
        if self.rank != self.root:
            return None
        self._drain()
        if not self._seconds:
            return np.zeros((self.size, 0))
        d = np.array(self._seconds).T
        return np.where(np.isnan(d), np.inf, d)

    def save_trace(self, path, **attrs):
        """Root: write the straggler trace (mpicomm.traces) to path and return it; other
        ranks return None. Extra datasets: arrival (seconds after the root's call),
        included (1 where reduced)."""
        if self.rank != self.root:
            return None
        delays = self.delays()
        if delays.shape[1] == 0:
            raise ValueError("no step has run yet: nothing to write")
        arrival = np.array(self._arrival).T
        included = np.zeros(delays.shape, np.int8)
        for step, ranks in enumerate(self._included):
            included[ranks, step] = 1
        library = "".join(c for c in MPI.Get_library_version() if c.isprintable() or c == "\n")
        library = library.strip().splitlines()[0]
        return traces.write(path, delays, kind="measured", source="allreduce_partial",
                            extra={"arrival": np.where(np.isnan(arrival), np.inf, arrival),
                                   "included": included},
                            root=self.root, mpi_library=library,
                            deadline_s=np.array(self._deadline), **attrs)

    def close(self):
        """Collective: finish every message in flight and free the communicator."""
        if self.comm == MPI.COMM_NULL:
            return
        if self.rank == self.root:
            self._drain(block=True)
            MPI.Request.Waitall([r for r, _ in self._results])
            self._results = []
        else:
            MPI.Request.Waitall([r for r, _ in self._sends])
            self._sends = []
        self.comm.Free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_aggregators = {}


def allreduce_partial(arrays, deadline_s, min_ranks, op="sum", comm=None, root=0,
                      timeout_s=None):
    """PartialAllreduce(comm, root).allreduce(...) with one aggregator kept per (comm,
    root): the first call on a communicator is collective over it."""
    comm = comm or MPI.COMM_WORLD
    key = (id(comm), root)
    entry = _aggregators.get(key)
    if entry is None:
        entry = _aggregators[key] = (comm, PartialAllreduce(comm, root))
    return entry[1].allreduce(arrays, deadline_s, min_ranks, op=op, timeout_s=timeout_s)


def aggregator(comm=None, root=0):
    """The PartialAllreduce allreduce_partial uses for (comm, root), or None."""
    entry = _aggregators.get((id(comm or MPI.COMM_WORLD), root))
    return entry[1] if entry else None
