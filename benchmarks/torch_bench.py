#!/usr/bin/env python3
"""Data-parallel training steps against PyTorch's own, side by side in one run: the same
model, data and seed trained by mpicomm.torch.DistributedOptimizer, by
torch.nn.parallel.DistributedDataParallel on the gloo backend, and by a plain loop of one
mpi4py Allreduce per parameter after backward (what a user writes first).

    mpicomm run -n 2 --no-interposer -- python benchmarks/torch_bench.py [--json out.json]

Models: "many small layers" (32 linear layers of 128 x 128, 2.1 MB of gradients in 64
tensors) and "few large layers" (3 linear layers of 1024 x 1024, 12.6 MB in 6 tensors);
a batch of 32 per rank. Each variant trains its own copy from the same weights; the
variants alternate step by step, and a step (zero_grad, forward, backward, the reduction,
optimizer step) is timed on every rank and counted at the slowest; figures are medians
over --steps steps after --warmup untimed ones, and the median of --reps such runs (by then the tuned allreduce has chosen
its algorithm per size). The models' weights are checked to agree across variants
after the run, to 1e-5, else it stops (DDP, the loop and DistributedOptimizer average
the same gradients). DistributedOptimizer runs twice: as a user gets it (its buckets in
node-shared memory where the ranks share a node) and with MPICOMM_SHARED_MEMORY=0
(every bucket through the tuned allreduce). Beside them, the step with no reduction at
all (each rank trains on its own batch): the compute every variant pays, so DDP's time
over it is the most any reduction could gain over DDP on this machine.

With one straggler: every step one rank, drawn at random (the same on every rank), sleeps
--sleep-ms before its backward; DDP and DistributedOptimizer in "allreduce" mode wait
for it, DistributedOptimizer in "partial" mode (deadline --deadline-ms) leaves it out of
that step. Figures: wall-clock seconds for all ranks to finish the steps.
"""
import argparse
import json
import os
import random
import socket
import statistics
import sys
import time

import torch
import torch.distributed as dist
from mpi4py import MPI

import mpicomm.torch as mt

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()


def many_small():
    return torch.nn.Sequential(*[m for _ in range(32)
                                 for m in (torch.nn.Linear(128, 128), torch.nn.ReLU())])


def few_large():
    return torch.nn.Sequential(torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
                               torch.nn.Linear(1024, 1024), torch.nn.ReLU(),
                               torch.nn.Linear(1024, 1024))


MODELS = {"many small layers": (many_small, 128), "few large layers": (few_large, 1024)}


def gloo():
    if not dist.is_initialized():
        port = None
        if RANK == 0:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        port = COMM.bcast(port)
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=RANK,
                                world_size=SIZE)


class Loop:
    """One mpi4py Allreduce per gradient, then the division, then the step."""

    def __init__(self, model):
        self.model = model
        self.opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def zero_grad(self):
        self.opt.zero_grad()

    def step(self):
        for p in self.model.parameters():
            COMM.Allreduce(MPI.IN_PLACE, p.grad.numpy(), op=MPI.SUM)
            p.grad.div_(SIZE)
        self.opt.step()


ALONE = "no reduction"
MESSAGES = "DistributedOptimizer, no shared memory"
AGREE = 1e-5            # the most the variants' weights may differ (sums in other orders)


def variants(make, mode_partial=None, deadline_s=None, alone=False):
    """name -> (model, optimizer-like with zero_grad/step, module to call); alone: also
    the step with no reduction at all, the floor any reduction adds to."""
    torch.manual_seed(0)
    base = make()
    out = {}

    def copy():
        m = make()
        m.load_state_dict(base.state_dict())
        return m

    m = copy()
    out["DDP (gloo)"] = (m, torch.optim.SGD(m.parameters(), lr=0.01),
                         torch.nn.parallel.DistributedDataParallel(m))
    m = copy()
    out["Allreduce loop"] = (m, Loop(m), m)
    m = copy()
    out["DistributedOptimizer"] = (m, mt.DistributedOptimizer(
        torch.optim.SGD(m.parameters(), lr=0.01), m.named_parameters()), m)
    if alone:
        m = copy()
        setting = os.environ.get("MPICOMM_SHARED_MEMORY")
        os.environ["MPICOMM_SHARED_MEMORY"] = "0"
        out[MESSAGES] = (m, mt.DistributedOptimizer(
            torch.optim.SGD(m.parameters(), lr=0.01), m.named_parameters()), m)
        if setting is None:
            del os.environ["MPICOMM_SHARED_MEMORY"]
        else:
            os.environ["MPICOMM_SHARED_MEMORY"] = setting
        m = copy()
        out[ALONE] = (m, torch.optim.SGD(m.parameters(), lr=0.01), m)
    if mode_partial:
        m = copy()
        out["DistributedOptimizer partial"] = (m, mt.DistributedOptimizer(
            torch.optim.SGD(m.parameters(), lr=0.01), m.named_parameters(), mode="partial",
            deadline_s=deadline_s, min_ranks=max(1, SIZE - 1)), m)
    return out


def one_step(opt, module, x, y, sleep_s=0.0):
    opt.zero_grad()
    out = module(x)
    if sleep_s:
        time.sleep(sleep_s)
    torch.nn.functional.mse_loss(out, y).backward()
    opt.step()


def steady_once(name, make, width, args):
    """One repetition: {variant: median seconds}, how far the weights differ, and
    whether DistributedOptimizer's auto kept its reduction thread."""
    runs = variants(make, alone=True)
    g = torch.Generator().manual_seed(RANK)
    x, y = torch.randn(32, width, generator=g), torch.randn(32, width, generator=g)
    times = {v: [] for v in runs}
    order = list(runs)
    for i in range(args.warmup + args.steps):
        for v in (order if i % 2 else order[::-1]):
            _, opt, module = runs[v]
            COMM.Barrier()
            t = time.perf_counter()
            one_step(opt, module, x, y)
            t = COMM.allreduce(time.perf_counter() - t, op=MPI.MAX)
            if i >= args.warmup:
                times[v].append(t)
    models = [m for v, (m, _, _) in runs.items() if v != ALONE]
    agree = max(max((p - q).abs().max().item() for p, q in zip(models[0].parameters(),
                                                              m.parameters()))
                for m in models[1:])
    if agree > AGREE:
        raise SystemExit(f"torch_bench: {name}: the variants' weights differ by {agree:.3g} "
                         f"after the run (more than {AGREE:g}): a reduction is wrong")
    threaded = runs["DistributedOptimizer"][1]._mc_reducer.threaded
    for _, opt, _ in runs.values():
        if hasattr(opt, "close"):
            opt.close()
    return {v: statistics.median(t) for v, t in times.items()}, agree, threaded


def steady(name, make, width, args):
    """--reps repetitions, each from fresh models; per variant the median over them of
    each repetition's median step."""
    reps = [steady_once(name, make, width, args) for _ in range(args.reps)]
    med = {v: statistics.median(r[0][v] for r in reps) for v in reps[0][0]}
    base = med["DDP (gloo)"]
    return {"case": name, "ranks": SIZE, "reps": args.reps,
            **{f"{v} ms": med[v] * 1e3 for v in med},
            "vs DDP": base / med["DistributedOptimizer"],
            "vs DDP per repetition": [r[0]["DDP (gloo)"] / r[0]["DistributedOptimizer"]
                                      for r in reps],
            "loop vs DDP": base / med["Allreduce loop"],
            "no shared memory vs DDP": base / med[MESSAGES],
            "no reduction vs DDP": base / med[ALONE],
            "weights differ by": max(r[1] for r in reps),
            "reduction thread": [r[2] for r in reps]}


def straggling(name, make, width, args):
    runs = variants(make, mode_partial=True, deadline_s=args.deadline_ms / 1e3)
    g = torch.Generator().manual_seed(RANK)
    x, y = torch.randn(32, width, generator=g), torch.randn(32, width, generator=g)
    row = {"case": f"{name}, one straggler", "ranks": SIZE, "sleep ms": args.sleep_ms}
    for v, (_, opt, module) in runs.items():
        if v == "Allreduce loop":
            continue
        pick = random.Random(1)
        for _ in range(args.warmup):
            one_step(opt, module, x, y)
        COMM.Barrier()
        t = time.perf_counter()
        left_out = 0
        for _ in range(args.steps):
            slow = pick.randrange(SIZE)
            one_step(opt, module, x, y, args.sleep_ms / 1e3 if RANK == slow else 0.0)
            res = getattr(opt, "last_result", None)
            left_out += bool(res is not None and res.missed)
        COMM.Barrier()
        row[f"{v} s"] = COMM.allreduce(time.perf_counter() - t, op=MPI.MAX)
        if v == "DistributedOptimizer partial":
            row["steps with a rank left out"] = left_out
        if hasattr(opt, "close"):
            opt.close()
    row["partial vs DDP"] = row["DDP (gloo) s"] / row["DistributedOptimizer partial s"]
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--reps", type=int, default=3,
                    help="repetitions of the steady runs, from fresh models (default 3)")
    ap.add_argument("--warmup", type=int, default=40,
                    help="untimed steps first (default 40: the tuned allreduce tries its "
                    "candidate algorithms in the first steps)")
    ap.add_argument("--sleep-ms", type=float, default=50.0)
    ap.add_argument("--deadline-ms", type=float, default=10.0)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    gloo()
    runs = [(steady, name, make, width) for name, (make, width) in MODELS.items()]
    if SIZE > 1:
        runs += [(straggling, name, make, width) for name, (make, width) in MODELS.items()]
    rows = []
    for run, name, make, width in runs:
        rows.append(run(name, make, width, args))
        if RANK == 0:
            r = rows[-1]
            print(f"{r['case']}, {SIZE} ranks: " + ", ".join(
                f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                for k, v in r.items() if k not in ("case", "ranks")), flush=True)
    if RANK == 0 and args.json:
        with open(args.json, "w") as f:
            json.dump({"mpi": MPI.Get_library_version().splitlines()[0],
                       "torch": torch.__version__, "ranks": SIZE, "steps": args.steps,
                       "cases": rows}, f, indent=1)
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
