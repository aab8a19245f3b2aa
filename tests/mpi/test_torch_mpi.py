"""mpicomm.torch at any rank count (make test runs 1 and 2 ranks;
tests/test_collectives_launch.py 3 and 4): every rank's model after DistributedOptimizer's steps is the model a
single process gets from the average of every rank's gradients.

Each rank draws its own batch from a generator every rank seeds alike, so the reference
(the same model stepped by a plain optimizer on the mean of the per-rank losses) can be
computed on every rank. Floating-point sums in another order differ in the last bits:
the comparison allows 1e-6.
"""
import copy
import time

import pytest
from mpi4py import MPI

torch = pytest.importorskip("torch", reason="mpicomm.torch needs torch (the [torch] extra)")
mt = pytest.importorskip("mpicomm.torch")

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
TOL = 1e-6


def make_model(seed=RANK):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(),
                               torch.nn.Linear(16, 16), torch.nn.Tanh(),
                               torch.nn.Linear(16, 2))


def batches(steps, seed=7, per_rank=4):
    g = torch.Generator().manual_seed(seed)
    return [[(torch.randn(per_rank, 8, generator=g), torch.randn(per_rank, 2, generator=g))
             for _ in range(SIZE)] for _ in range(steps)]


def loss(model, x, y):
    return torch.nn.functional.mse_loss(model(x), y)


def reference(model, make_opt, data, passes=1):
    """A copy of model stepped on the mean over ranks of each rank's loss (the sum over
    the passes of a step, as gradients accumulate)."""
    ref = make_model()
    ref.load_state_dict(model.state_dict())
    opt = make_opt(ref.parameters())
    for step in data:
        opt.zero_grad()
        for _ in range(passes):
            (sum(loss(ref, x, y) for x, y in step) / SIZE).backward()
        opt.step()
    return ref


def max_diff(a, b):
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


def same_everywhere(model):
    """Every rank's parameters equal rank 0's, bit for bit."""
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    return COMM.allreduce(int(not torch.equal(flat, COMM.bcast(flat))), op=MPI.SUM) == 0


@pytest.mark.parametrize("bucket_bytes", [1, 600, mt.DEFAULT_BUCKET_BYTES])
@pytest.mark.parametrize("optimizer", ["sgd-momentum", "adam"])
def test_steps_equal_the_average_of_every_ranks_gradients(bucket_bytes, optimizer):
    def make_opt(params):
        if optimizer == "adam":
            return torch.optim.Adam(params, lr=0.01)
        return torch.optim.SGD(params, lr=0.1, momentum=0.9)

    model = make_model()
    mt.broadcast_parameters(model, root=0)
    opt = mt.DistributedOptimizer(make_opt(model.parameters()), model.named_parameters(),
                                  bucket_bytes=bucket_bytes)
    assert isinstance(opt, type(make_opt(make_model().parameters())))
    data = batches(4)
    ref = reference(model, make_opt, data)
    for step in data:
        opt.zero_grad()
        loss(model, *step[RANK]).backward()
        opt.step()
    assert max_diff(model, ref) < TOL
    assert same_everywhere(model)
    opt.close()


def test_buckets_start_during_backward_in_order():
    """One bucket per parameter: each is handed to the reduction as backward produces its
    gradient, the last layer's first; by the end of backward every one is, before
    step()."""
    model = make_model()
    opt = mt.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                  model.named_parameters(), bucket_bytes=1)
    params = list(model.parameters())
    assert [b.params for b in opt._mc_buckets] == [[p] for p in reversed(params)]
    started, submit = [], opt._mc_reducer.submit
    opt._mc_reducer.submit = lambda b: (started.append(opt._mc_buckets.index(b)), submit(b))
    loss(model, *batches(1)[0][RANK]).backward()
    assert started == list(range(len(params)))
    with pytest.raises(RuntimeError, match="being reduced"):
        opt.zero_grad()
    opt.step()
    assert all(b.done.is_set() for b in opt._mc_buckets)
    opt.zero_grad()
    opt.close()


@pytest.mark.parametrize("set_to_none", [True, False])
def test_gradients_become_views_of_the_buckets(set_to_none):
    """Backward's gradients end up in the buckets' buffers (one bucket of every parameter
    here): new ones (zero_grad() set them to None) copied there by each parameter's
    hook before the reduction, or, zeroed in place (set_to_none=False), accumulated there;
    the reduction leaves the average there, equal to the reference's, either way."""
    model = make_model()
    mt.broadcast_parameters(model)
    opt = mt.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                  model.named_parameters())
    data = batches(3)
    ref = reference(model, lambda p: torch.optim.SGD(p, lr=0.1), data)
    for i, step in enumerate(data):
        opt.zero_grad(set_to_none=set_to_none)
        if set_to_none or i == 0:
            assert all(p.grad is None for p in model.parameters())
        else:
            assert all(not torch.count_nonzero(p.grad) for p in model.parameters())
        loss(model, *step[RANK]).backward()
        for b in opt._mc_buckets:
            assert b.view is not None
            assert [p.grad.data_ptr() for p in b.params] == [v.data_ptr() for v in b.view[1]]
        opt.step()
        for b in opt._mc_buckets:
            assert [p.grad.data_ptr() for p in b.params] == [v.data_ptr() for v in b.view[1]]
    assert max_diff(model, ref) < TOL
    opt.close()


def test_gradients_set_by_hand_are_averaged_as_backwards_are():
    """Gradients set by hand, no hook seeing them (copied into the buckets at
    synchronize()), are averaged as those backward makes."""
    model = make_model()
    opt = mt.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                  model.named_parameters())
    params = list(model.parameters())
    for i, p in enumerate(params):
        p.grad = torch.full_like(p, RANK + 1.0 + i)
    opt.synchronize()
    for i, p in enumerate(params):
        assert torch.allclose(p.grad, torch.full_like(p, (SIZE + 1) / 2 + i), atol=1e-6)
    opt.close()


@pytest.mark.parametrize("setting", ["1", "0"])
def test_node_shared_buckets_where_the_nodes_hold_ranks_alike(setting, monkeypatch):
    """With MPICOMM_SHARED_MEMORY=1 (the default) and several ranks on every node, every
    CPU bucket lives in the node's shared window (one of two parameters too); with 0
    none does; the steps equal the reference either way, and after close() the
    gradients are the ranks' own tensors, still holding the last average."""
    monkeypatch.setenv("MPICOMM_SHARED_MEMORY", setting)
    from mpicomm.collectives import shared
    model = make_model()
    mt.broadcast_parameters(model)
    opt = mt.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                  model.named_parameters(), bucket_bytes=600)
    expect = setting == "1" and shared.usable(COMM)
    assert [b.shared is not None for b in opt._mc_buckets] == [expect] * len(opt._mc_buckets)
    data = batches(3)
    ref = reference(model, lambda p: torch.optim.SGD(p, lr=0.1), data)
    for step in data:
        opt.zero_grad()
        loss(model, *step[RANK]).backward()
        opt.step()
    assert max_diff(model, ref) < TOL and same_everywhere(model)
    grads = [p.grad.clone() for p in model.parameters()]
    opt.close()
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads))


@pytest.mark.parametrize("setting", ["auto", "1", "0"])
def test_the_reduction_thread_is_measured_against_the_callers(setting, monkeypatch):
    """1: buckets reduced in the thread every step, 0: in the caller's (at
    MPI_THREAD_MULTIPLE); auto: the steps after the first WARMUP take turns until each
    way has TRIALS timed steps (steps where a reduction was still one of its own trials
    not counted), then one way stays, the same on every rank; the steps equal the
    reference throughout."""
    monkeypatch.setenv("MPICOMM_PROGRESS_THREAD", setting)
    monkeypatch.setenv("MPICOMM_ALLREDUCE", "mpi")      # no tuning trials to wait out
    model = make_model()
    mt.broadcast_parameters(model)
    opt = mt.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                  model.named_parameters(), bucket_bytes=600)
    reducer = opt._mc_reducer
    R = type(reducer)
    from mpicomm.collectives import SharedAllreduce     # its trials are waited out too
    steps = R.WARMUP + 2 * R.TRIALS + 2 * SharedAllreduce.ROUNDS + 4
    data = batches(steps)
    ref = reference(model, lambda p: torch.optim.SGD(p, lr=0.1), data)
    ways = []
    for step in data:
        opt.zero_grad()
        loss(model, *step[RANK]).backward()
        ways.append(reducer.threaded)
        opt.step()
    assert max_diff(model, ref) < TOL
    multiple = MPI.Query_thread() == MPI.THREAD_MULTIPLE
    if setting != "auto" or not multiple:
        assert ways == [multiple and setting != "0"] * steps
    else:
        assert reducer.trials is None
        assert ways[-1] == reducer.threaded and ways[-3:] == [reducer.threaded] * 3
        assert True in ways and False in ways
        assert COMM.allgather(reducer.threaded) == [reducer.threaded] * SIZE
    opt.close()


def test_backward_passes_per_step_sum_the_passes_first():
    model = make_model()
    mt.broadcast_parameters(model)
    opt = mt.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.05),
                                  model.named_parameters(), backward_passes_per_step=2)
    data = batches(3)
    ref = reference(model, lambda p: torch.optim.SGD(p, lr=0.05), data, passes=2)
    for step in data:
        opt.zero_grad()
        loss(model, *step[RANK]).backward()
        assert opt._mc_next == 0             # one pass: nothing handed over yet
        loss(model, *step[RANK]).backward()
        opt.step()
    assert max_diff(model, ref) < TOL
    opt.close()


@pytest.mark.parametrize("mode", ["allreduce", "partial"])
@pytest.mark.parametrize("zero_grad", [False, True], ids=["no-zero_grad", "zero_grad"])
@pytest.mark.parametrize("bucket_bytes", [1, mt.DEFAULT_BUCKET_BYTES])
def test_parameters_without_gradients(bucket_bytes, zero_grad, mode):
    """A layer used on rank 0 only is reduced with zeros from the others (its gradient:
    rank 0's over the rank count); one no rank uses keeps no gradient, whether the
    gradients were None or zero_grad() had made them zeroed views of the buckets."""
    torch.manual_seed(0)
    used, sometimes, never = (torch.nn.Linear(4, 4) for _ in range(3))
    params = [*used.parameters(), *sometimes.parameters(), *never.parameters()]
    opt = mt.DistributedOptimizer(torch.optim.SGD(params, lr=0.1), bucket_bytes=bucket_bytes,
                                  mode=mode, deadline_s=10.0, min_ranks=SIZE)
    if zero_grad:
        opt.zero_grad()
    x = torch.ones(2, 4)
    ref = copy.deepcopy(sometimes)            # rank 0's own gradient, apart
    ref(x).sum().backward()
    alone = ref.weight.grad if RANK == 0 else None
    out = used(x).sum() + (sometimes(x).sum() if RANK == 0 else 0)
    out.backward()
    opt.synchronize()
    assert never.weight.grad is None and never.bias.grad is None
    assert torch.allclose(sometimes.weight.grad, COMM.bcast(alone) / SIZE)
    with opt.skip_synchronize():
        opt.step()
    opt.close()


def test_broadcast_parameters_and_optimizer_state():
    model = make_model()                      # different on every rank
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    if RANK == 0:                              # root has momentum buffers, others none
        loss(model, *batches(1)[0][0]).backward()
        opt.step()
    mt.broadcast_parameters(model.state_dict(), root=0)
    mt.broadcast_optimizer_state(opt, root=0)
    assert same_everywhere(model)
    bufs = [opt.state[p]["momentum_buffer"] for p in model.parameters()]
    flat = torch.cat([b.reshape(-1) for b in bufs])
    assert torch.equal(flat, COMM.bcast(flat))
    # named_parameters pairs, and a mismatch raised on every rank, changing nothing.
    mt.broadcast_parameters(list(model.named_parameters()), root=0)
    other = torch.nn.Linear(3, 3) if RANK == SIZE - 1 and SIZE > 1 else make_model(1)
    before = [p.detach().clone() for p in other.parameters()]
    if SIZE > 1:
        with pytest.raises(ValueError, match="differ between ranks"):
            mt.broadcast_parameters(other, root=0)
        assert all(torch.equal(a, b) for a, b in zip(before, other.parameters()))


def test_two_models_in_one_process():
    a, b = make_model(), make_model(100 + RANK)
    for m in (a, b):
        mt.broadcast_parameters(m)
    oa = mt.DistributedOptimizer(torch.optim.SGD(a.parameters(), lr=0.1), a.named_parameters())
    ob = mt.DistributedOptimizer(torch.optim.SGD(b.parameters(), lr=0.2), b.named_parameters())
    data = batches(3)
    ra = reference(a, lambda p: torch.optim.SGD(p, lr=0.1), data)
    rb = reference(b, lambda p: torch.optim.SGD(p, lr=0.2), data)
    for step in data:              # interleaved: both backward, then both steps
        oa.zero_grad()
        ob.zero_grad()
        loss(a, *step[RANK]).backward()
        loss(b, *step[RANK]).backward()
        ob.step()
        oa.step()
    assert max_diff(a, ra) < TOL and max_diff(b, rb) < TOL
    oa.close()
    ob.close()


def test_partial_leaves_a_late_rank_out_and_every_rank_steps_alike():
    model = make_model()
    mt.broadcast_parameters(model)
    opt = mt.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                  model.named_parameters(), mode="partial", deadline_s=0.2,
                                  min_ranks=max(1, SIZE - 1))
    data = batches(2)
    late = SIZE - 1 if SIZE > 1 else None
    # Step 0: the last rank sleeps far past the deadline.
    opt.zero_grad()
    loss(model, *data[0][RANK]).backward()
    if RANK == late:
        time.sleep(0.8)
    opt.step()
    res = opt.last_result
    included = list(range(SIZE - 1)) if late is not None else [0]
    assert list(res.included) == included
    assert same_everywhere(model)
    # Step 1: everyone in time: the full average.
    before = make_model()
    before.load_state_dict(model.state_dict())
    ref_opt = torch.optim.SGD(before.parameters(), lr=0.1)
    (sum(loss(before, *data[1][r]) for r in range(SIZE)) / SIZE).backward()
    ref_opt.step()
    opt.zero_grad()
    loss(model, *data[1][RANK]).backward()
    opt.step()
    assert list(opt.last_result.included) == list(range(SIZE))
    assert max_diff(model, before) < TOL
    opt.close()


@pytest.mark.parametrize("kwargs, match", [
    ({"mode": "ring"}, "mode must be"),
    ({"backward_passes_per_step": 0}, "backward_passes_per_step"),
    ({"bucket_bytes": 0}, "bucket_bytes"),
    ({"mode": "partial"}, "deadline_s"),
    ({"mode": "partial", "deadline_s": 0.1, "min_ranks": SIZE + 1}, "min_ranks"),
])
def test_bad_arguments_are_named(kwargs, match):
    model = make_model()
    with pytest.raises(ValueError, match=match):
        mt.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)


def test_named_parameters_must_be_the_optimizers():
    model, other = make_model(), torch.nn.Linear(2, 2)
    with pytest.raises(ValueError, match="does not hold"):
        mt.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                other.named_parameters())


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason="no CUDA device: torch's CUDA tensors need a GPU (the simulated "
                           "device's arrays are mpicomm.device arrays, not CUDA tensors)")
def test_cuda_gradients_equal_the_cpu_reference():
    """On a GPU: a model on the device is stepped with the average of every rank's
    gradients (through the interposer's device buffers under mpicomm run, else CPU
    copies), as the CPU reference is."""
    device = torch.device("cuda", RANK % torch.cuda.device_count())
    model = make_model()
    mt.broadcast_parameters(model)
    data = batches(3)
    ref = reference(model, lambda p: torch.optim.SGD(p, lr=0.1), data)
    model.to(device)
    opt = mt.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=0.1),
                                  model.named_parameters(), bucket_bytes=600)
    for step in data:
        opt.zero_grad()
        loss(model, *(t.to(device) for t in step[RANK])).backward()
        opt.step()
    assert max_diff(model.cpu(), ref) < 1e-5
    opt.close()
