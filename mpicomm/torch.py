"""Data-parallel PyTorch training over MPI, named and used as Horovod's.

    >>> import torch
    >>> import mpicomm.torch as mt
    >>> model = torch.nn.Linear(8, 2)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> mt.broadcast_parameters(model, root=0)           # every rank starts alike
    >>> opt = mt.DistributedOptimizer(opt, model.named_parameters())
    >>> mt.broadcast_optimizer_state(opt, root=0)
    >>> x, y = torch.randn(16, 8), torch.randn(16, 2)
    >>> opt.zero_grad()
    >>> torch.nn.functional.mse_loss(model(x), y).backward()   # reductions start here
    >>> opt.step()                                       # the average of every rank's

DistributedOptimizer averages the gradients across the ranks of its communicator before
the wrapped optimizer steps. Parameters are grouped, in the reverse of their order (the
order backward produces their gradients), into buckets of about bucket_bytes; a hook on
each parameter counts its gradient in, and a bucket whose gradients are all in is handed
to a reduction thread (Horovod's background thread) that reduces the buckets one after
another, in the same order on every rank, with this library's tuned allreduce
(mpicomm.collectives.tuning) on a communicator of its own, while backward goes on with
the earlier layers, as DistributedDataParallel's buckets do. Where every node holds
the same number of ranks, more than one, the CPU buckets of floating-point gradients
live in memory the node's ranks share (mpicomm.collectives.shared): backward writes
them there and each rank adds its part of every rank's bucket where it lies, without
messages on the node (MPICOMM_SHARED_MEMORY=0: through the allreduce). Elsewhere on
the CPU the gradients of a bucket of several parameters become views of its buffer
(each parameter's hook copies a gradient backward made anew into its place; one that is
the view already was accumulated there) and a bucket of one is its gradient: divided by
the number of ranks and reduced where they are; other gradients
are copied into a buffer, divided on the way, and back. step() (or synchronize())
hands over any bucket left and waits for all. Whether the thread pays depends on what
the cores do meanwhile: where backward leaves them idle (a GPU computes, a rank waits
for data) it overlaps; where every core computes (a rank per core) it only takes the
core from backward, and reducing in the caller's thread at step() is faster. With
MPICOMM_PROGRESS_THREAD=auto (the default) the first steps take turns between the two,
each training step timed whole, and the faster stays (the same on every rank); =1 the
thread, =0 (or without MPI_THREAD_MULTIPLE) the caller's.

mode="partial" tolerates stragglers instead: at step() the gradients are reduced along
mpicomm's deadline-aware tree (mpicomm.collectives.PartialAllreduce): a rank whose
gradients miss the deadline is left out of that step, the average is over the ranks that
arrived, every rank (the late one too) steps with that same average, and the step's
PartialResult (included, missed, waited_s) is kept in `last_result`.

Tensors on the CPU are reduced through numpy views of their memory; CUDA gradients are
reduced in a device buffer handed to the MPI where the interposer is loaded (`mpicomm
run`), which stages it or gives it to a CUDA-aware MPI, else through a CPU copy.
torch is imported by this module only: `import mpicomm` does not need it.
"""
import contextlib
import pickle
import queue
import threading
import time

import numpy as np
import torch
from mpi4py import MPI

from mpicomm import interposer
from mpicomm.collectives import PartialAllreduce, progress, shared, tuning

__all__ = ["broadcast_parameters", "broadcast_optimizer_state", "DistributedOptimizer",
           "DEFAULT_BUCKET_BYTES"]

DEFAULT_BUCKET_BYTES = 4 << 20
_NUMPY = {torch.float16, torch.float32, torch.float64, torch.int32, torch.int64}


def _one_cpu_dtype(params):
    """Are the parameters all on the CPU, of one dtype numpy has?"""
    return params[0].dtype in _NUMPY and all(
        p.device.type == "cpu" and p.dtype == params[0].dtype for p in params)


def _numpy_dtype(dtype):
    return torch.empty(0, dtype=dtype).numpy().dtype


def _in_place(g):
    """Can gradient g be reduced where it is (a numpy view of its memory)?"""
    return g.device.type == "cpu" and g.dtype in _NUMPY and g.is_contiguous()


def _staging_dtype(grads):
    """The dtype of one buffer for these gradients: theirs where they share one numpy
    has, else float64 where one is float64, else float32."""
    g = grads[0].dtype
    if g in _NUMPY and all(x.dtype == g for x in grads):
        return g
    return torch.float64 if any(x.dtype == torch.float64 for x in grads) else torch.float32


def _named_tensors(params):
    """(name, tensor) pairs of a Module, a state_dict, (name, tensor) pairs or tensors."""
    if isinstance(params, torch.nn.Module):
        return list(params.state_dict(keep_vars=True).items())
    if isinstance(params, dict):
        return list(params.items())
    pairs = []
    for i, item in enumerate(params):
        if isinstance(item, tuple) and len(item) == 2:
            pairs.append((str(item[0]), item[1]))
        elif isinstance(item, torch.Tensor):
            pairs.append((str(i), item))
        else:
            raise TypeError(f"expected a Module, a state_dict, (name, tensor) pairs or "
                            f"tensors; item {i} is {type(item).__name__}")
    return pairs


def _agree_or_raise(comm, mine, root, what):
    """Every rank compares its own description with root's; all raise if any differs."""
    theirs = comm.bcast(mine, root=root)
    bad = comm.allreduce(int(mine != theirs), op=MPI.SUM)
    if bad:
        raise ValueError(f"{what} differ between ranks ({bad} of {comm.Get_size()} ranks "
                         f"differ from rank {root}); every rank must pass the same")


def broadcast_parameters(params, root=0, comm=None):
    """Overwrite every rank's tensors with root's, in place: a Module (its parameters and
    buffers), a state_dict, or (name, tensor) pairs such as model.named_parameters().
    Collective over comm (default COMM_WORLD). Raises ValueError on every rank, changing
    nothing, where the ranks' names, shapes or dtypes differ."""
    comm = comm or MPI.COMM_WORLD
    pairs = _named_tensors(params)
    _agree_or_raise(comm, [(n, tuple(t.shape), str(t.dtype)) for n, t in pairs], root,
                    "the tensors' names, shapes or dtypes")
    # One broadcast per dtype of every tensor's bytes, packed in order.
    by_dtype = {}
    for _, t in pairs:
        by_dtype.setdefault(t.dtype, []).append(t)
    with torch.no_grad():
        for dtype, tensors in by_dtype.items():
            flat = torch.cat([t.detach().reshape(-1).cpu() for t in tensors]) \
                if comm.Get_rank() == root else \
                torch.empty(sum(t.numel() for t in tensors), dtype=dtype)
            comm.Bcast(flat.view(torch.uint8).numpy() if flat.numel() else
                       np.empty(0, np.uint8), root=root)
            at = 0
            for t in tensors:
                t.copy_(flat[at:at + t.numel()].view(t.shape))
                at += t.numel()


def _to_cpu(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_cpu(v) for v in obj)
    return obj


def broadcast_optimizer_state(optimizer, root=0, comm=None):
    """Give every rank root's optimizer state (its state_dict: momentum buffers, step
    counts, learning rates), loaded into each rank's optimizer. Collective over comm;
    the optimizers must hold the same parameters in the same groups (ValueError on every
    rank otherwise)."""
    comm = comm or MPI.COMM_WORLD
    _agree_or_raise(comm, [[tuple(p.shape) for p in g["params"]]
                           for g in optimizer.param_groups], root,
                    "the optimizers' parameter groups")
    state = pickle.dumps(_to_cpu(optimizer.state_dict())) if comm.Get_rank() == root else None
    state = comm.bcast(state, root=root)
    if comm.Get_rank() != root:
        optimizer.load_state_dict(pickle.loads(state))   # moved to each parameter's device


class _Bucket:
    """Parameters reduced together. Several on the CPU, of one numpy dtype: the bucket
    owns one flat buffer and the parameters' gradients become views of it
    (DistributedDataParallel's gradient_as_bucket_view, made so in each parameter's
    hook), and it is divided and reduced where it is. Where the ranks share nodes alike
    (collectives/shared.py), a CPU bucket of floating-point gradients, of one parameter
    or several, has its buffer in the node's shared window and is reduced there.
    One on the CPU: its gradient is divided and reduced where it is. Otherwise the
    gradients are copied (pre-divided) into a flat buffer and back."""

    def __init__(self, params, window=None):
        self.params = params
        self.zeroed = []                     # parameters given zeros (no gradient here)
        self.absent = set()                  # ids of parameters backward gave none here
        self.copy = None                     # ((dtype, device), buffer, views) copied into
        self.view = None                     # (buffer, views) the gradients live in
        self.shared = None                   # (SharedAllreduce, offset, count, dtype)
        if window is not None:               # (SharedAllreduce, byte offset): buffer there
            arena, offset = window
            count = sum(p.numel() for p in params)
            self.shared = (arena, offset, count, _numpy_dtype(params[0].dtype))
            buf = torch.from_numpy(arena.array(offset, count, self.shared[3]))
            self.view = (buf, self._views(buf, params))
        elif len(params) > 1 and _one_cpu_dtype(params):
            self.view = self._buffer(params, params[0].dtype, torch.device("cpu"))
        self.slot = {id(p): v for p, v in zip(params, self.view[1])} if self.view else {}
        self.done = threading.Event()
        self.done.set()
        self.error = None
        self.adopted = False                 # every gradient in the buffer (the hooks')
        self.trial = False                   # the last reduction was a tuning trial

    @staticmethod
    def _views(buf, like):
        views, at = [], 0
        for x in like:
            views.append(buf[at:at + x.numel()].view(x.shape))
            at += x.numel()
        return views

    @classmethod
    def _buffer(cls, like, dtype, device):
        buf = torch.zeros(sum(x.numel() for x in like), dtype=dtype, device=device)
        return buf, cls._views(buf, like)

    def fill(self):
        """Zeros for parameters without a gradient here; the gradients, in the buffer
        where the bucket has one (a gradient made elsewhere is copied in, and the view
        becomes the gradient)."""
        views = self.view[1] if self.view else [None] * len(self.params)
        for p, v in zip(self.params, views):
            if p.grad is None:
                if v is None:
                    p.grad = torch.zeros_like(p)
                else:
                    v.zero_()
                    p.grad = v
                self.zeroed.append(p)
                continue
            if id(p) in self.absent:
                self.zeroed.append(p)        # a zeroed view: none if none anywhere
            if v is not None and p.grad.data_ptr() != v.data_ptr():
                v.copy_(p.grad)
                p.grad = v
        return [p.grad for p in self.params]

    def reduce(self, comm, device_ok):
        """Sum the bucket's gradients, each divided by the ranks first, over comm (this
        library's tuned allreduce on the CPU); CUDA gradients on the device where the
        interposer serves device buffers (device_ok), else through a CPU copy."""
        scale = 1.0 / comm.Get_size()
        if self.shared is not None:
            if not self.adopted:
                self.fill()
            arena, offset, count, dtype = self.shared
            arena.allreduce(offset, count, dtype, scale)
            self.trial = not arena.settled(count, dtype)
            return
        grads = [p.grad for p in self.params] if self.adopted else self.fill()
        g = grads[0]
        if self.view is not None or (len(grads) == 1 and _in_place(g)):
            buf = self.view[0] if self.view is not None else g.view(-1)
            if scale != 1.0:
                buf.mul_(scale)
            tuning.allreduce(comm, buf.numpy(), "sum")
            self.trial = not tuning.settled(comm, buf.numpy().nbytes)
            return
        on_device = device_ok and all(x.device.type == "cuda" for x in grads)
        device = g.device if on_device else torch.device("cpu")
        dtype = _staging_dtype(grads)
        if self.copy is None or self.copy[0] != (dtype, device):
            self.copy = ((dtype, device), *self._buffer(grads, dtype, device))
        _, buf, views = self.copy
        torch.cat([x.detach().reshape(-1).to(device, dtype) for x in grads], out=buf)
        if scale != 1.0:
            buf.mul_(scale)
        if on_device:
            torch.cuda.current_stream(device).synchronize()
            comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
        else:
            tuning.allreduce(comm, buf.numpy(), "sum")
            self.trial = not tuning.settled(comm, buf.numpy().nbytes)
        for x, v in zip(grads, views):
            x.copy_(v)

    def unshare(self):
        """Gradients that are views of the shared window become copies (before it is
        freed)."""
        if self.shared is not None:
            for p in self.params:
                if p.grad is not None:
                    p.grad = p.grad.clone()
            self.shared, self.view = None, None

    def finish(self):
        """A parameter that had no gradient on any rank is given none."""
        for p in self.zeroed:
            if not torch.count_nonzero(p.grad):
                p.grad = None
        self.zeroed, self.absent = [], set()


class _Reducer:
    """A thread that reduces buckets, one after another in the order given (the same on
    every rank), with blocking calls on a communicator of its own, while the caller's
    thread goes on with backward (Horovod's background thread); or the caller's thread,
    when the buckets are waited for. MPICOMM_PROGRESS_THREAD=1: the thread; 0, or
    without MPI_THREAD_MULTIPLE: the caller's; auto (the default): measured (step_done).
    """

    WARMUP, TRIALS = 2, 5          # auto: steps left alone, then steps timed in each way

    def __init__(self, comm):
        self.comm = comm.Dup()
        setting = progress.setting()
        self.threaded = progress.enabled() and setting != "0"
        self.trials = {True: [], False: []} if self.threaded and setting == "auto" else None
        self.steps, self.last = 0, None      # last: the end of the last step_done
        self.queue = queue.Queue()
        self.pending = []
        self.thread = None
        self.device_ok = interposer.preloaded()

    def step_done(self, trial):
        """After a step's reductions (synchronize): with auto, time the step in the way
        it was reduced (the whole training step: from the end of the last step_done to
        now, the slowest rank's), and take turns until each way has TRIALS steps past
        WARMUP whose reductions were no tuning trials (trial: any was, on this rank);
        then keep the faster way (the median), the same on every rank. Collective over
        comm until then."""
        if self.trials is None:
            return
        now = time.perf_counter()
        if self.last is not None:
            got = np.array([now - self.last, float(trial)])
            self.comm.Allreduce(MPI.IN_PLACE, got, op=MPI.MAX)
            self.steps += 1
            if self.steps > self.WARMUP and not got[1]:
                self.trials[self.threaded].append(got[0])
        if min(len(t) for t in self.trials.values()) >= self.TRIALS:
            faster = np.median(self.trials[True]) <= np.median(self.trials[False])
            self.threaded, self.trials = bool(faster), None
        else:
            self.threaded = self.steps % 2 == 0
        self.last = time.perf_counter()

    def submit(self, bucket):
        bucket.done.clear()
        bucket.error = None
        if not self.threaded:
            self.pending.append(bucket)
            return
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, daemon=True,
                                           name="mpicomm.torch reducer")
            self.thread.start()
        self.queue.put(bucket)

    def _run(self):
        while True:
            bucket = self.queue.get()
            if bucket is None:
                return
            self._reduce(bucket)

    def _reduce(self, bucket):
        try:
            bucket.reduce(self.comm, self.device_ok)
        except BaseException as exc:         # raised in the caller's wait()
            bucket.error = exc
        finally:
            bucket.done.set()

    def wait(self, bucket):
        while self.pending:
            self._reduce(self.pending.pop(0))
        bucket.done.wait()
        if bucket.error is not None:
            raise bucket.error
        bucket.finish()

    def close(self):
        if self.thread is not None:
            self.queue.put(None)
            self.thread.join()
            self.thread = None
        self.comm.Free()


class _DistributedOptimizer:
    """The methods DistributedOptimizer adds to the wrapped optimizer's class (a base
    before it: super() is the optimizer's own)."""

    def _mc_setup(self, named_parameters, comm, mode, backward_passes_per_step,
                  bucket_bytes, deadline_s, min_ranks, timeout_s):
        # 1. Which parameters: the named ones (checked to be the optimizer's), else all
        #    the optimizer holds; the same names on every rank.
        held = [p for g in self.param_groups for p in g["params"]]
        if named_parameters is not None:
            named = list(named_parameters)
            if any(not (isinstance(x, tuple) and len(x) == 2) for x in named):
                raise TypeError("named_parameters: expected (name, parameter) pairs, as "
                                "model.named_parameters() gives")
            ids = {id(p) for p in held}
            extra = [n for n, p in named if id(p) not in ids]
            if extra:
                raise ValueError(f"named_parameters has parameters the optimizer does not "
                                 f"hold: {', '.join(extra[:5])}")
            names = {id(p): n for n, p in named}
        else:
            names = {}
        params = [p for p in held if p.requires_grad]
        _agree_or_raise(comm, [(names.get(id(p), f"param.{i}"), tuple(p.shape), str(p.dtype))
                               for i, p in enumerate(params)], 0,
                        "the parameters' names, shapes or dtypes")
        # 2. Buckets, in the reverse of the parameters' order, of about bucket_bytes.
        self._mc_mode, self._mc_passes = mode, backward_passes_per_step
        self._mc_deadline, self._mc_min, self._mc_timeout = deadline_s, min_ranks, timeout_s
        self._mc_buckets, current, size = [], [], 0
        for p in reversed(params):
            if current and size + p.numel() * p.element_size() > bucket_bytes:
                self._mc_buckets.append(current)
                current, size = [], 0
            current.append(p)
            size += p.numel() * p.element_size()
        if current:
            self._mc_buckets.append(current)
        self._mc_partial = PartialAllreduce(comm) if mode == "partial" else None
        self._mc_reducer = _Reducer(comm) if mode == "allreduce" else None
        # 3. CPU buckets of floating-point gradients in node-shared memory where the
        #    ranks share nodes alike (every rank decides the same).
        offsets = self._mc_shared_offsets(comm, mode)
        self._mc_arena = None
        if any(o is not None for o in offsets):
            self._mc_arena = shared.SharedAllreduce(self._mc_reducer.comm, offsets[-1])
        self._mc_buckets = [_Bucket(b, None if o is None else (self._mc_arena, o))
                            for b, o in zip(self._mc_buckets, offsets)]
        self._mc_of = {id(p): b for b in self._mc_buckets for p in b.params}
        self.last_result = None
        self._mc_skip = False
        self._mc_counts = {}                 # id(parameter) -> gradients in this step
        self._mc_reset()
        # 4. A hook per parameter, called once its gradient is accumulated.
        self._mc_hooks = [
            p.register_post_accumulate_grad_hook(self._mc_hook(self._mc_of[id(p)], p))
            for p in params]

    def _mc_shared_offsets(self, comm, mode):
        """Per bucket (self._mc_buckets: lists of parameters), its byte offset in a
        SharedAllreduce window, or None where it is reduced otherwise; one more item: the
        window's bytes. Collective over comm, the same on every rank."""
        groups = self._mc_buckets
        fits = [_one_cpu_dtype(g) and g[0].dtype.is_floating_point for g in groups]
        if not (mode == "allreduce" and shared.setting() and comm.Get_size() > 1):
            fits = [False] * len(groups)
        fits = [all(f) for f in zip(*comm.allgather(fits))]
        if not any(fits) or not shared.usable(comm):
            return [None] * (len(groups) + 1)
        offsets, at = [], 0
        for g, fit in zip(groups, fits):
            offsets.append(at if fit else None)
            if fit:
                nbytes = sum(p.numel() * p.element_size() for p in g)
                at += -(-nbytes // shared.ALIGN) * shared.ALIGN
        return offsets + [at]

    def _mc_reset(self):
        self._mc_counts.clear()
        self._mc_next = 0                    # the next bucket to start
        for b in self._mc_buckets:
            b.waiting = len(b.params)
        self._mc_started = False

    def _mc_hook(self, bucket, param):
        """The hook of param, of bucket, called once its gradient is accumulated: where
        the bucket has a buffer, a gradient backward made anew is copied into the
        parameter's view of it and the view becomes the gradient (one that is the view
        already was accumulated there); then it is counted: from the last of
        backward_passes_per_step on, the bucket's count goes down, and every bucket, in
        order, whose gradients are all in is started. (Called once per parameter and
        backward pass: kept to a few operations.)"""
        counts, passes, allreduce = self._mc_counts, self._mc_passes, \
            self._mc_mode == "allreduce"
        view = bucket.slot.get(id(param))

        def hook(p):
            if view is not None:
                g = p.grad
                if g is not view:
                    view.copy_(g)
                    p.grad = view
            key = id(p)
            n = counts[key] = counts.get(key, 0) + 1
            if n == passes:
                self._mc_started = True
                bucket.waiting -= 1
                if allreduce and not bucket.waiting:
                    self._mc_advance()
        return hook

    def _mc_advance(self):
        while (self._mc_next < len(self._mc_buckets) and
               self._mc_buckets[self._mc_next].waiting == 0):
            self._mc_start(self._mc_buckets[self._mc_next])

    def _mc_start(self, bucket):
        bucket.adopted = bucket.view is not None and bucket.waiting == 0
        self._mc_reducer.submit(bucket)
        self._mc_next += 1

    def synchronize(self):
        """Finish this step's reductions: start those not started (parameters without
        a gradient here count as zeros; one without a gradient on every rank keeps
        none) and wait for all. step() calls it unless inside skip_synchronize()."""
        if self._mc_mode == "partial":
            self._mc_reduce_partial()
        else:
            while self._mc_next < len(self._mc_buckets):
                b = self._mc_buckets[self._mc_next]
                self._mc_mark_absent(b)
                self._mc_start(b)
            for b in self._mc_buckets:
                self._mc_reducer.wait(b)
            self._mc_reducer.step_done(any(b.trial for b in self._mc_buckets))
        self._mc_reset()

    def _mc_mark_absent(self, bucket):
        """The bucket's parameters backward gave no gradient this step, on this rank."""
        bucket.absent = {id(p) for p in bucket.params
                         if self._mc_counts.get(id(p), 0) < self._mc_passes}

    def _mc_reduce_partial(self):
        grads, staged = [], []
        for b in self._mc_buckets:
            self._mc_mark_absent(b)
            for g in b.fill():
                if _in_place(g):
                    grads.append(g.numpy())
                else:
                    copy = g.detach().to("cpu", torch.float64 if g.dtype == torch.float64
                                         else torch.float32).contiguous()
                    staged.append((g, copy))
                    grads.append(copy.numpy())
        self.last_result = self._mc_partial.allreduce(
            grads, self._mc_deadline, self._mc_min, op="average", timeout_s=self._mc_timeout)
        for g, copy in staged:
            g.copy_(copy)
        for b in self._mc_buckets:
            b.finish()

    @contextlib.contextmanager
    def skip_synchronize(self):
        """Inside, step() does not synchronize: for a synchronize() called before it
        (to clip the averaged gradients, say)."""
        self._mc_skip = True
        try:
            yield
        finally:
            self._mc_skip = False

    def step(self, closure=None):
        """Average the gradients across the ranks (unless skip_synchronize()), then
        the wrapped optimizer's step."""
        if not self._mc_skip:
            self.synchronize()
        return super().step(closure)

    def zero_grad(self, set_to_none=True):
        """Zero the gradients as the wrapped optimizer does (set_to_none: backward makes
        new ones, which the hooks copy into the buckets' buffers; else the gradients, views
        of the buffers after a step, are zeroed there and backward accumulates into
        them)."""
        if self._mc_started:
            raise RuntimeError("zero_grad() while gradients are being reduced: call step() "
                               "or synchronize() first")
        super().zero_grad(set_to_none=set_to_none)

    def close(self):
        """Remove the hooks and free the communicators (collective over comm)."""
        for h in self._mc_hooks:
            h.remove()
        self._mc_hooks = []
        if self._mc_reducer is not None:
            self._mc_reducer.close()
        for b in self._mc_buckets:
            b.unshare()
        if self._mc_arena is not None:
            self._mc_arena.close()
            self._mc_arena = None
        if self._mc_partial is not None:
            self._mc_partial.close()
        self._mc_buckets = []


def DistributedOptimizer(optimizer, named_parameters=None, comm=None, mode="allreduce",
                         backward_passes_per_step=1, bucket_bytes=DEFAULT_BUCKET_BYTES,
                         deadline_s=None, min_ranks=None, timeout_s=None):
    """Wrap a torch.optim optimizer so that step() applies the gradients averaged across
    the ranks of comm (default COMM_WORLD); collective over comm (every rank wraps the
    same parameters; ValueError on every rank otherwise).

    The result is an instance of the optimizer's own class (isinstance holds, its state
    and parameter groups are the original's) with synchronize(), skip_synchronize() and
    close() added. named_parameters: model.named_parameters() (names for the checks;
    default: every parameter the optimizer holds). mode: "allreduce" (reductions start
    during backward, bucket by bucket) or "partial" (deadline_s: seconds the root waits
    for late ranks' gradients; min_ranks: contributions to wait for whatever the
    deadline, default every rank but one; timeout_s: never longer). backward_passes_per_step:
    gradients accumulated locally over this many backward passes before they are
    reduced (their sum, as Horovod's). bucket_bytes: the size of a bucket (default 4 MiB)."""
    comm = comm or MPI.COMM_WORLD
    if mode not in ("allreduce", "partial"):
        raise ValueError(f"mode must be 'allreduce' or 'partial', got {mode!r}")
    if not (isinstance(backward_passes_per_step, int) and backward_passes_per_step >= 1):
        raise ValueError(f"backward_passes_per_step must be a whole number >= 1, got "
                         f"{backward_passes_per_step!r}")
    if not (isinstance(bucket_bytes, int) and bucket_bytes >= 1):
        raise ValueError(f"bucket_bytes must be a positive number of bytes, got "
                         f"{bucket_bytes!r}")
    if mode == "partial":
        if deadline_s is None or not deadline_s >= 0:
            raise ValueError(f"mode='partial' needs deadline_s >= 0 seconds, got "
                             f"{deadline_s!r}")
        min_ranks = max(1, comm.Get_size() - 1) if min_ranks is None else min_ranks
        if not 1 <= min_ranks <= comm.Get_size():
            raise ValueError(f"min_ranks must be between 1 and {comm.Get_size()}, got "
                             f"{min_ranks!r}")
    if isinstance(optimizer, _DistributedOptimizer):
        raise ValueError("the optimizer is already a DistributedOptimizer")
    cls = type(optimizer.__class__.__name__, (_DistributedOptimizer, optimizer.__class__), {})
    wrapped = cls.__new__(cls)
    wrapped.__dict__.update(optimizer.__dict__)
    wrapped._mc_setup(named_parameters, comm, mode, backward_passes_per_step, bucket_bytes,
                      deadline_s, min_ranks, timeout_s)
    return wrapped
