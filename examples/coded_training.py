#!/usr/bin/env python3
"""Coded distributed training against stragglers: rank 0 is the master, ranks 1..K-1
the workers (mpicomm.coding.runtime).

    mpicomm run -n 9 -- python examples/coded_training.py --scheme m-sgc --B 1 --W 3 \\
        --lam 2 --jobs 60 --straggle-prob 0.05
    mpicomm run --ft -n 9 -- python examples/coded_training.py --scheme gc --s 2 \\
        --jobs 40 --kill-rank 3 --kill-at-round 10

Workers compute real gradients (logistic regression on data generated from --seed);
straggling is injected as real waiting: with probability --straggle-prob per worker
and round (--slow-s seconds more), or from a trace (--trace FILE.h5, mpicomm.traces;
its delays, at the trace's `load` attribute or --trace-load, are rescaled to the
scheme's load and multiplied by --time-scale). At the end rank 0 prints one line:
RESULT {json} with scheme, jobs, rounds, runtime_s, waitouts, max_rel_grad_err,
final_loss, failed_ranks and more.
"""
import argparse
import json
import sys

from mpi4py import MPI

from mpicomm import coding, traces
from mpicomm.coding import runtime


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scheme", required=True, choices=coding.NAMES)
    ap.add_argument("--s", type=int, help="gc: stragglers tolerated per round")
    ap.add_argument("--B", type=int, help="sr-sgc, m-sgc: burst length")
    ap.add_argument("--W", type=int, help="sr-sgc, m-sgc: window")
    ap.add_argument("--lam", type=int, help="sr-sgc, m-sgc: stragglers per window")
    ap.add_argument("--jobs", type=int, required=True)
    ap.add_argument("--models", type=int,
                    help="models trained round-robin (default: the scheme's T + 1, the fewest)")
    ap.add_argument("--mu", type=float, default=1.0, help="deadline factor (default 1)")
    ap.add_argument("--base-s", type=float, default=0.02,
                    help="an uncoded worker's compute time per round, s (default 0.02)")
    ap.add_argument("--straggle-prob", type=float, default=0.0)
    ap.add_argument("--slow-s", type=float, default=0.1,
                    help="extra seconds of a straggling round (default 0.1)")
    ap.add_argument("--trace", help="straggler trace (HDF5, mpicomm.traces)")
    ap.add_argument("--trace-load", type=float, help="load the trace was measured at")
    ap.add_argument("--time-scale", type=float, default=1.0, help="trace seconds x this")
    ap.add_argument("--round-timeout-s", type=float, default=60.0)
    ap.add_argument("--kill-rank", type=int, default=-1)
    ap.add_argument("--kill-at-round", type=int, default=-1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.kill_rank == 0:
        ap.error("--kill-rank 0 would kill the master; choose a worker (1..K-1)")
    if not 0 <= args.straggle_prob <= 1:
        ap.error("--straggle-prob must be between 0 and 1")
    return args


def main(argv=None):
    args = parse(argv)
    comm = MPI.COMM_WORLD
    trace, trace_load = None, None
    if args.trace:
        t = traces.read(args.trace)
        if t.workers < comm.Get_size() - 1:
            raise SystemExit(f"{args.trace}: {t.workers} workers in the trace, "
                             f"{comm.Get_size() - 1} in this job")
        trace = t.delays * args.time_scale
        trace_load = args.trace_load or float(t.attrs.get("load", 0)) or None
        if trace_load is None:
            raise SystemExit(f"{args.trace} has no `load` attribute: give --trace-load")
    cfg = runtime.Config(scheme=args.scheme, s=args.s, B=args.B, W=args.W, lam=args.lam,
                         jobs=args.jobs, mu=args.mu, base_s=args.base_s,
                         straggle_prob=args.straggle_prob, slow_s=args.slow_s, trace=trace,
                         trace_load=trace_load, round_timeout_s=args.round_timeout_s,
                         kill_rank=args.kill_rank, kill_at_round=args.kill_at_round,
                         seed=args.seed, model_count=args.models)
    summary = runtime.train(comm, cfg)
    if summary is not None:
        print("RESULT " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
