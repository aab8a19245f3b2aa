"""Deadline-aware aggregation: reduce what arrived in time, as backup workers do.

    >>> agg = PartialAllreduce(comm)                  # collective over comm
    >>> for step in range(steps):
    ...     res = agg.allreduce(grads, deadline_s=0.05, min_ranks=n - 1, op="average")
    ...     res.included, res.missed                  # ranks of comm
    >>> agg.save_trace("stragglers.h5")               # the root writes; others return None
    >>> agg.close()                                   # collective

    >>> allreduce_partial(grads, 0.05, n - 1)         # the same, one aggregator per comm

How: the ranks form a tree of `fanout` children per rank (2 by default; fanout n - 1 is
every rank sending to the root). Every rank packs its arrays into one message; a rank
with children waits, from its own call, for their subtrees' messages up to its share of
deadline_s (deadline_s * (height - depth) / height: the root all of it, the ranks above
the leaves one level's share), reduces what came into its own and sends that up. A
subtree whose message misses its parent's share is left out of the step, and reported
missed. The root waits up to deadline_s and then on until at least min_ranks
contributions (its own included) are in, but never longer than timeout_s; what missed a
share on the way is sent up on its own as it comes, so min_ranks can still be met. The
root divides an average by the number included and sends the result, with the list of
included ranks, back down the tree (Isend: a late rank holds up nobody but the ranks
below it). No rank receives more than fanout + 1 full messages per step (and the late
subtrees that pass through it).

Every message carries its step: one that comes late is recorded when it reaches the
root (probed before received, so no message is ever cut short) and never reduced into
a later step. Each message also carries, for every rank in it, how long that rank took
since it last had a result, which the root keeps as a straggler trace (mpicomm.traces)
the coding simulator can replay.
"""
import time

import numpy as np
from mpi4py import MPI

from mpicomm import traces
from mpicomm.collectives.fused import bound_plan, op_name

__all__ = ["PartialAllreduce", "PartialResult", "allreduce_partial"]

HEAD = 32                    # bytes: int64 step, signature, status, records (up) or ranks
TAG_UP, TAG_DOWN = 7, 9      # on the aggregator's own communicator
OK, LAYOUT, TIMEOUT, CLOSED = 0, 1, 2, 3
REDUCE = {"sum": np.add, "average": np.add, "min": np.minimum, "max": np.maximum}


class PartialResult:
    """What one partial allreduce did: step, included and missed ranks (of the
    aggregator's comm), and how long this rank waited for the result."""

    def __init__(self, step, included, size, waited_s):
        self.step = step
        self.included = included
        self.missed = sorted(set(range(size)) - set(included))
        self.waited_s = waited_s

    def __repr__(self):
        return (f"PartialResult(step={self.step}, included={self.included}, "
                f"missed={self.missed}, waited_s={self.waited_s:.6f})")


class _Layout:
    """The arrays' bytes in a message: each dtype's arrays back to back, each dtype's
    part starting on an 8-byte boundary. Kept with the fusion plan."""

    def __init__(self, plan):
        self.parts, offset = [], 0
        for bucket in plan.buckets:
            nbytes = bucket.total * bucket.dtype.itemsize
            self.parts.append((bucket, offset, nbytes))
            offset += -(-nbytes // 8) * 8
        self.nbytes = offset
        self.signature = int.from_bytes(plan.signature("partial"), "little", signed=True)

    @classmethod
    def of(cls, plan):
        """The plan's layout, made once."""
        layout = plan.own.get("partial")
        if layout is None:
            layout = plan.own["partial"] = cls(plan)
        return layout

    def views(self, payload):
        return [(b, payload[off:off + n].view(b.dtype)) for b, off, n in self.parts]

    def pack(self, payload, bound):
        for bucket, view in self.views(payload):
            bucket.gather_into(view, bound)

    def reduce(self, ufunc, mine, theirs):
        for (_, a), (_, b) in zip(self.views(mine), self.views(theirs)):
            ufunc(a, b, out=a)

    def divide(self, payload, divisor):
        """An average: divide the floating-point parts in place."""
        for bucket, view in self.views(payload):
            if bucket.dtype.kind == "f":
                np.true_divide(view, divisor, out=view)

    def unpack(self, payload, bound):
        for bucket, view in self.views(payload):
            bucket.scatter_from(view, bound)


class _Up:
    """A message up the tree: step, layout signature, status, the number of ranks in
    it; the reduced payload of those ranks; for each, (rank, seconds since its last
    result)."""

    def __init__(self, buf):
        self.buf = buf
        self.step, self.signature, self.status, n = (int(v) for v in buf[:HEAD].view(np.int64))
        self.payload = buf[HEAD:buf.nbytes - 16 * n]
        self.records = buf[buf.nbytes - 16 * n:].view(np.float64).reshape(n, 2)

    def ranks(self):
        return [int(r) for r in self.records[:, 0]]


class _Outgoing:
    """This rank's message of a step, made in place: its payload is where the children's
    are reduced into, and their records are appended after it."""

    def __init__(self, step, signature, nbytes, capacity):
        self.step, self.signature = step, signature
        self.buf = np.empty(HEAD + nbytes + 16 * capacity, np.uint8)
        self.payload = self.buf[HEAD:HEAD + nbytes]
        self.records = self.buf[HEAD + nbytes:].view(np.float64).reshape(capacity, 2)
        self.count = 0

    def add(self, records):
        self.records[self.count:self.count + len(records)] = records
        self.count += len(records)

    def message(self, status):
        self.buf[:HEAD].view(np.int64)[:] = (self.step, self.signature, status, self.count)
        return self.buf[:HEAD + self.payload.nbytes + 16 * self.count]


class _Tree:
    """Ranks of comm as a tree of fanout children per rank, rooted at root."""

    def __init__(self, size, root, rank, fanout):
        self.size, self.root, self.fanout = size, root, fanout
        v = (rank - root) % size
        self.parent = None if v == 0 else ((v - 1) // fanout + root) % size
        self.children = [(c + root) % size
                         for c in range(fanout * v + 1, min(fanout * v + fanout, size - 1) + 1)]
        self.depth, self.height = self._depth(v), self._depth(size - 1)
        self.subtree, level = 0, [v]             # ranks in this rank's subtree
        while level:
            self.subtree += len(level)
            level = [c for u in level
                     for c in range(fanout * u + 1, min(fanout * u + fanout, size - 1) + 1)]

    def _depth(self, v):
        d = 0
        while v:
            v, d = (v - 1) // self.fanout, d + 1
        return d

    def share(self, deadline_s):
        """How long this rank waits for its children, from its own call."""
        if not self.height:
            return deadline_s
        return deadline_s * (self.height - self.depth) / self.height


def _poll(done, limit_s, start):
    """Call done() with a growing pause (20 to 200 us) until it is true or limit_s
    seconds have passed since start (None: no limit); whether it became true."""
    pause = 2e-5
    while not done():
        if limit_s is not None and time.perf_counter() - start >= limit_s:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 2e-4)
    return True


class PartialAllreduce:
    """Deadline-aware reductions over a private duplicate of comm (collective to make
    and to close) along a tree of `fanout` children per rank. Every rank must call
    allreduce() the same number of times."""

    def __init__(self, comm=None, root=0, fanout=2):
        comm = comm or MPI.COMM_WORLD
        if not 0 <= root < comm.Get_size():
            raise ValueError(f"root {root} is not a rank of a communicator of size "
                             f"{comm.Get_size()}")
        if not (isinstance(fanout, (int, np.integer)) and fanout >= 1):
            raise ValueError(f"fanout must be a whole number >= 1, got {fanout!r}")
        self.comm = comm.Dup()
        self.comm.Set_errhandler(MPI.ERRORS_RETURN)
        self.rank, self.size, self.root = self.comm.Get_rank(), self.comm.Get_size(), root
        self.tree = _Tree(self.size, root, self.rank, int(fanout))
        self.step = 0
        self.bytes_received = 0              # full messages' bytes received, all steps
        self.messages_received = 0
        self._since = time.perf_counter()    # when this rank last had a result
        self._sends = []                     # messages in flight, with their buffers
        self._missing = 0                    # root: late contributions still to come
        self._early = []                     # root: the next step's, come between steps
        # The root's straggler record, one row per step.
        self._seconds, self._arrival, self._included, self._deadline = [], [], [], []

    # The reduction ---------------------------------------------------------------------

    def allreduce(self, arrays, deadline_s, min_ranks, op="sum", timeout_s=None):
        """Reduce arrays in place over the ranks whose contributions reach the root
        within deadline_s of the root's call (at least min_ranks of them, the root's
        own included; waiting past the deadline for those, up to timeout_s if given).
        A subtree that misses its parent's share of the deadline is left out with the
        rank that was late. op: "sum", "average" (over the included ranks), "min",
        "max" or MPI.SUM/MIN/MAX. Every rank gets the same result and a
        PartialResult. A step that cannot gather min_ranks within timeout_s raises
        TimeoutError on every rank."""
        name = op_name(op)
        if not deadline_s >= 0:
            raise ValueError(f"deadline_s must be >= 0 seconds, got {deadline_s!r}")
        if not 1 <= min_ranks <= self.size:
            raise ValueError(f"min_ranks must be between 1 and the communicator's size "
                             f"{self.size}, got {min_ranks!r}")
        if timeout_s is not None and not timeout_s >= deadline_s:
            raise ValueError(f"timeout_s ({timeout_s!r}) must be >= deadline_s ({deadline_s!r})")
        # The kept plan of these arrays' layout (checked when it was made), the arrays
        # bound to it.
        arrays = arrays if type(arrays) is list else list(arrays)
        plan, bound, copy_back = bound_plan(arrays, name, float("inf"), on_device=False)
        layout = _Layout.of(plan)
        entered = time.perf_counter()
        step, self.step = self.step, self.step + 1
        mine = _Outgoing(step, layout.signature, layout.nbytes, self.tree.subtree)
        layout.pack(mine.payload, bound)
        mine.add([(self.rank, entered - self._since)])
        self._sends = [(r, b) for r, b in self._sends if not r.Test()]
        if self.tree.parent is None:
            result = self._root(layout, bound, mine, name, deadline_s, min_ranks, timeout_s)
        else:
            result = self._member(layout, bound, mine, REDUCE[name], deadline_s)
        self._since = time.perf_counter()
        if copy_back is not None:
            copy_back()
        return result

    def _member(self, layout, bound, mine, ufunc, deadline_s):
        # 1. Reduce the children's subtrees into this rank's message until all are in or
        #    this rank's share of the deadline has passed; then send it up.
        entered = time.perf_counter()
        waiting, status = set(self.tree.children), OK

        def collect():
            nonlocal status
            for src, msg in self._arrived(self.tree.children, TAG_UP):
                if msg.step != mine.step or src not in waiting:
                    self._send_up(msg.buf)               # late: passed on as it is
                    continue
                waiting.discard(src)
                mine.add(msg.records)
                if msg.status != OK or msg.signature != layout.signature or \
                        msg.payload.nbytes != layout.nbytes:
                    status = LAYOUT
                else:
                    layout.reduce(ufunc, mine.payload, msg.payload)
            return not waiting

        share = self.tree.share(deadline_s)
        _poll(lambda: collect() or time.perf_counter() - entered >= share, None, 0.0)
        self._send_up(mine.message(status))
        # 2. The result, from the parent: passed on to the children, then unpacked.
        #    Meanwhile what comes from the children now is late and goes up as it is.
        got = []

        def result():
            for _, msg in self._arrived(self.tree.children, TAG_UP):
                self._send_up(msg.buf)
            for _, buf in self._received([self.tree.parent], TAG_DOWN):
                got.append(buf)              # this step's: the root's later results, of
                break                        # steps it went on without this rank, wait
            return bool(got)

        _poll(result, None, 0.0)
        down = got[0]
        for child in self.tree.children:
            self._sends.append((self.comm.Isend(down, child, TAG_DOWN), down))
        step, status, signature, nranks = (int(v) for v in down[:HEAD].view(np.int64))
        if step != mine.step:
            raise RuntimeError(f"internal error: result of step {step} at step {mine.step}")
        mask = np.unpackbits(down[HEAD:HEAD + -(-nranks // 64) * 8])[:nranks]
        included = [int(r) for r in np.flatnonzero(mask)]
        self._raise_for(status, None, None, len(included))
        if signature != layout.signature:
            raise ValueError("ranks passed different arrays to a partial allreduce (their "
                             "number, shapes or dtypes differ from the root's)")
        layout.unpack(down[HEAD + -(-nranks // 64) * 8:], bound)      # the root has divided
        return PartialResult(mine.step, included, self.size,
                             time.perf_counter() - self._since)

    def _root(self, layout, bound, mine, name, deadline_s, min_ranks, timeout_s):
        entered = time.perf_counter()
        step = mine.step
        seconds = np.full(self.size, np.nan)
        arrival = np.full(self.size, np.nan)
        seconds[self.root], arrival[self.root] = mine.records[0, 1], 0.0
        self._seconds.append(seconds)
        self._arrival.append(arrival)
        self._deadline.append(deadline_s)
        included, heard, status = [self.root], 1, OK
        ufunc, acc = REDUCE[name], mine.payload

        def collect():
            # 1. Take every subtree that has come: this step's are reduced (or their
            #    layout refused), earlier steps' are late and only recorded.
            nonlocal status, heard
            now = time.perf_counter() - entered
            early, self._early = self._early, []
            for _, msg in early + list(self._arrived(self.tree.children, TAG_UP)):
                if msg.step != step:
                    self._record_late(msg)
                    continue
                ranks = msg.ranks()
                seconds[ranks], arrival[ranks] = msg.records[:, 1], now
                heard += len(ranks)
                if msg.status != OK or msg.signature != layout.signature or \
                        msg.payload.nbytes != layout.nbytes:
                    status = LAYOUT
                    continue
                included.extend(ranks)
                layout.reduce(ufunc, acc, msg.payload)
            # 2. Done when everyone is in, or at the deadline with min_ranks in.
            if status != OK or len(included) == self.size:
                return True
            return now >= deadline_s and len(included) >= min_ranks

        # 3. Reduce what arrives until the deadline (and min_ranks), or the timeout.
        if not _poll(collect, timeout_s, entered):
            status = TIMEOUT
        waited = time.perf_counter() - entered
        self._included.append(sorted(included))
        self._missing += self.size - heard
        # 4. Send the step, its status, the included ranks and (unless the step failed)
        #    the result down the tree, each child on its own: a late one holds up nobody.
        if status == OK and name == "average":
            layout.divide(acc, len(included))
        mask = np.zeros(-(-self.size // 64) * 64, np.uint8)
        mask[included] = 1
        down = np.concatenate([np.array([step, status, layout.signature, self.size],
                                        np.int64).view(np.uint8),
                               np.packbits(mask), acc if status == OK else acc[:0]])
        for child in self.tree.children:
            self._sends.append((self.comm.Isend(down, child, TAG_DOWN), down))
        self._raise_for(status, timeout_s, min_ranks, len(included))
        layout.unpack(acc, bound)
        return PartialResult(step, sorted(included), self.size, waited)

    def _send_up(self, buf):
        self._sends.append((self.comm.Isend(buf, self.tree.parent, TAG_UP), buf))

    def _received(self, sources, tag, block=False):
        """(source, bytes) for each message from sources with tag that has come in (at
        least one when block). Probing first sizes each receive, so none is cut."""
        while True:
            status = MPI.Status()
            source = sources[0] if len(sources) == 1 else MPI.ANY_SOURCE
            if block:
                message, block = self.comm.Mprobe(source, tag, status), False
            else:
                message = self.comm.Improbe(source, tag, status)
            if message is None:
                return
            buf = np.empty(status.Get_count(MPI.BYTE), np.uint8)
            message.Recv(buf)
            self.bytes_received += buf.nbytes
            self.messages_received += 1
            yield status.Get_source(), buf

    def _arrived(self, sources, tag, block=False):
        """The messages up from the children (_Up) that have come in."""
        if not sources:
            return
        for src, buf in self._received(sources, tag, block):
            yield src, _Up(buf)

    def _record_late(self, msg):
        if not 0 <= msg.step < len(self._seconds):
            raise RuntimeError(f"internal error: step {msg.step} during step "
                               f"{len(self._seconds) - 1}")
        ranks = msg.ranks()
        self._seconds[msg.step][ranks] = msg.records[:, 1]
        self._missing -= len(ranks)

    def _raise_for(self, status, timeout_s, min_ranks, count):
        if status == LAYOUT:
            raise ValueError("ranks passed different arrays to a partial allreduce (their "
                             "number, shapes or dtypes differ); every rank must pass the "
                             "same layout")
        if status == TIMEOUT:
            raise TimeoutError(f"only {count} of the {min_ranks or 'required'} contributions "
                               f"reached the root within its timeout_s"
                               + (f"={timeout_s} s" if timeout_s is not None else ""))

    def _drain(self):
        """Root, between steps: record the late contributions that have come, and keep
        those of the next step (ranks already in it) for it."""
        for src, msg in self._arrived(self.tree.children, TAG_UP):
            if msg.step >= len(self._seconds):
                self._early.append((src, msg))
            else:
                self._record_late(msg)

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
        """Collective: pass on every late message still to come (each rank, once its
        children have said they are done), finish every send, and free the communicator."""
        if self.comm == MPI.COMM_NULL:
            return
        open_children = set(self.tree.children)
        while open_children:
            for src, msg in self._arrived(self.tree.children, TAG_UP, block=True):
                if msg.status == CLOSED:
                    open_children.discard(src)
                elif self.tree.parent is None:
                    self._record_late(msg)
                else:
                    self._send_up(msg.buf)
        if self.tree.parent is not None:
            self._send_up(_Outgoing(-1, 0, 0, 0).message(CLOSED))
        MPI.Request.Waitall([r for r, _ in self._sends])
        self._sends = []
        self.comm.Free()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_aggregators = {}


def allreduce_partial(arrays, deadline_s, min_ranks, op="sum", comm=None, root=0,
                      timeout_s=None, fanout=2):
    """PartialAllreduce(comm, root, fanout).allreduce(...) with one aggregator kept per
    (comm, root, fanout): the first call on a communicator is collective over it."""
    comm = comm or MPI.COMM_WORLD
    key = (id(comm), root, fanout)
    entry = _aggregators.get(key)
    if entry is None:
        entry = _aggregators[key] = (comm, PartialAllreduce(comm, root, fanout))
    return entry[1].allreduce(arrays, deadline_s, min_ranks, op=op, timeout_s=timeout_s)


def aggregator(comm=None, root=0, fanout=2):
    """The PartialAllreduce allreduce_partial uses for (comm, root, fanout), or None."""
    entry = _aggregators.get((id(comm or MPI.COMM_WORLD), root, fanout))
    return entry[1] if entry else None
