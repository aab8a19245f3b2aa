#!/usr/bin/env python3
"""Train a small PyTorch network on the handwritten digits shipped with mpicomm, with
stragglers: gradient coding (rank 0 the master, the others workers) or data-parallel
training with DistributedOptimizer (every rank a worker).

    mpicomm run -n 9 -- python examples/train_digits.py --scheme m-sgc --B 1 --W 2 --lam 2
    mpicomm run -n 9 -- python examples/train_digits.py --scheme gc --s 2
    mpicomm run -n 8 -- python examples/train_digits.py --optimizer partial --deadline-s 0.02
    mpicomm run -n 8 -- python examples/train_digits.py --optimizer allreduce

The data: mpicomm.datasets.load_digits (1,797 8 x 8 images), shuffled with --seed, the
last 397 held out for testing. The network: 64 -> 64 -> 10, ReLU, cross-entropy, SGD.
A step is one minibatch of --batch images; --steps steps per model, --models models
trained at once, their steps interleaved (a job sequence of --models x --steps steps;
by default the coded schemes train T + 1 models, the fewest they can, and
DistributedOptimizer one). Stragglers: each worker's compute takes --base-s seconds per
step (its share of the batch: the coded schemes scale it by their load) and, where a
two-state Markov chain (mpicomm.coding.markov: --p-slow, --p-recover) has it slow,
--slowdown times that.

Rank 0 prints RESULT {json}: the test accuracy per model, the seconds until the first
model reached --target, the wait-outs (coded) or the steps with a rank left out
(partial), how many ranks' parameters differ from rank 0's at the end (0: every rank
holds the same models), and the history (seconds, step, model, test accuracy).
"""
import argparse
import json
import sys
import time

import numpy as np
import torch
from mpi4py import MPI

from mpicomm import coding
from mpicomm.coding import runtime, torch_models
from mpicomm.datasets import load_digits

TEST = 397


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    how = ap.add_mutually_exclusive_group(required=True)
    how.add_argument("--scheme", choices=coding.NAMES, help="gradient coding")
    how.add_argument("--optimizer", choices=("allreduce", "partial"),
                     help="DistributedOptimizer's mode")
    ap.add_argument("--s", type=int, help="gc: stragglers tolerated per round")
    ap.add_argument("--B", type=int, help="sr-sgc, m-sgc: burst length")
    ap.add_argument("--W", type=int, help="sr-sgc, m-sgc: window")
    ap.add_argument("--lam", type=int, help="sr-sgc, m-sgc: stragglers per window")
    ap.add_argument("--deadline-s", type=float, default=0.02,
                    help="partial: how long the root waits for late ranks (default 0.02)")
    ap.add_argument("--steps", type=int, default=150, help="steps per model (default 150)")
    ap.add_argument("--models", type=int,
                    help="models trained at once, steps interleaved (default: the coded "
                         "scheme's T + 1; DistributedOptimizer 1)")
    ap.add_argument("--batch", type=int, default=128, help="images per step (default 128)")
    ap.add_argument("--lr", type=float, default=0.5, help="SGD's step size (default 0.5)")
    ap.add_argument("--target", type=float, default=0.9,
                    help="test accuracy to reach (default 0.9)")
    ap.add_argument("--base-s", type=float, default=0.01,
                    help="a worker's compute time per step, s (default 0.01)")
    ap.add_argument("--p-slow", type=float, default=0.05,
                    help="chance per step that a fast worker turns slow (default 0.05)")
    ap.add_argument("--p-recover", type=float, default=0.5,
                    help="chance per step that a slow worker recovers (default 0.5)")
    ap.add_argument("--slowdown", type=float, default=5.0,
                    help="a slow step takes this many times longer (default 5)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for name in ("steps", "batch", "models"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            ap.error(f"--{name} must be at least 1")
    if not 0 < args.target <= 1:
        ap.error("--target is a test accuracy in (0, 1]")
    return args


def data(seed):
    X, y = load_digits()
    order = np.random.default_rng(seed).permutation(len(X))
    X, y = torch.from_numpy(X[order]), torch.from_numpy(y[order])
    return X[:-TEST], y[:-TEST], X[-TEST:], y[-TEST:]


def network():
    return torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(),
                               torch.nn.Linear(64, 10))


def _differ(comm, modules):
    """How many ranks' parameters differ from rank 0's (bit for bit)."""
    flat = torch.cat([p.detach().reshape(-1) for m in modules for p in m.parameters()])
    return comm.allreduce(int(not torch.equal(flat, comm.bcast(flat))), op=MPI.SUM)


def reached(history, target):
    return next((t for t, _, _, acc in history if acc >= target), None)


def coded(comm, args, X, y, Xt, yt):
    workers = comm.Get_size() - 1
    kwargs = {k: getattr(args, k) for k in ("s", "B", "W", "lam") if getattr(args, k)}
    sch = coding.scheme(args.scheme, max(workers, 1), **kwargs) if workers else None
    models = args.models or ((sch.T + 1) if sch else 1)
    if sch and models < sch.T + 1:
        raise ValueError(f"--models {models}: {sch.name} decodes a step {sch.T} jobs after "
                         f"it starts, so it trains at least T + 1 = {sch.T + 1} models")
    jobs = models * args.steps
    delays = coding.markov(max(workers, 1), jobs + (sch.T if sch else 0), args.p_slow,
                           args.p_recover, base=args.base_s, jitter=0.05,
                           slowdown=args.slowdown, seed=args.seed)
    cfg = runtime.Config(scheme=args.scheme, jobs=jobs, batch=args.batch, trace=delays,
                         trace_load=1.0 / max(workers, 1), seed=args.seed,
                         model_count=models, **kwargs)
    summary, modules = torch_models.train(comm, network, torch.nn.functional.cross_entropy,
                                          lambda p: torch.optim.SGD(p, lr=args.lr), X, y,
                                          cfg, Xt, yt, seed=args.seed)
    differ = _differ(comm, modules)
    if summary is None:
        return None
    history = [(t, job // models, mi, acc) for t, job, mi, acc in summary["history"]]
    return {"how": args.scheme, "ranks": comm.Get_size(), "models": models,
            "steps": args.steps, "runtime_s": summary["runtime_s"],
            "accuracy": summary["accuracy"], "waitouts": summary["waitouts"],
            "max_rel_grad_err": summary["max_rel_grad_err"], "ranks_differ": differ,
            "seconds_to_target": reached(history, args.target), "history": history}


def data_parallel(comm, args, X, y, Xt, yt):
    """Every rank a worker: each job (one step of one of the models, in turn) computes
    this rank's share of the minibatch, sleeps the trace's delay, and steps through
    that model's DistributedOptimizer."""
    import mpicomm.torch as mt
    rank, size = comm.Get_rank(), comm.Get_size()
    count = args.models or 1
    modules, opts = [], []
    for k in range(count):                  # as the coded runtime builds model k
        torch.manual_seed(args.seed + k)
        model = network()
        mt.broadcast_parameters(model, root=0, comm=comm)
        opts.append(mt.DistributedOptimizer(torch.optim.SGD(model.parameters(), lr=args.lr),
                                            model.named_parameters(), comm=comm,
                                            mode=args.optimizer, deadline_s=args.deadline_s))
        modules.append(model)
    slow = coding.markov(size, count * args.steps, args.p_slow, args.p_recover,
                         base=args.base_s, jitter=0.05, slowdown=args.slowdown,
                         seed=args.seed)[rank]
    share = args.batch // size
    history, left_out = [], 0
    comm.Barrier()
    start = time.perf_counter()
    for job in range(count * args.steps):
        k, step = job % count, job // count
        model, opt = modules[k], opts[k]
        at = (step * args.batch) % (len(X) - args.batch + 1) + rank * share
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X[at:at + share]), y[at:at + share])
        loss.backward()
        time.sleep(slow[job])               # this rank's share of the step's compute
        opt.step()
        if args.optimizer == "partial":
            left_out += bool(opt.last_result.missed)
        if rank == 0:
            with torch.no_grad():
                acc = float((model(Xt).argmax(1) == yt).double().mean())
            history.append((time.perf_counter() - start, step, k, acc))
    runtime_s = time.perf_counter() - start
    differ = _differ(comm, modules)
    for opt in opts:
        opt.close()
    if rank != 0:
        return None
    with torch.no_grad():
        accuracy = [float((m(Xt).argmax(1) == yt).double().mean()) for m in modules]
    return {"how": args.optimizer, "ranks": size, "models": count, "steps": args.steps,
            "runtime_s": runtime_s, "accuracy": accuracy,
            "steps_with_a_rank_left_out": left_out, "ranks_differ": differ,
            "seconds_to_target": reached(history, args.target), "history": history}


def main(argv=None):
    args = parse(argv)
    torch.set_num_threads(1)
    comm = MPI.COMM_WORLD
    X, y, Xt, yt = data(args.seed)
    try:
        run = coded if args.scheme else data_parallel
        out = run(comm, args, X, y, Xt, yt)
    except ValueError as exc:
        if comm.Get_rank() == 0:
            print(f"train_digits: {exc}", file=sys.stderr)
        return 2
    if out is not None:
        print("RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
