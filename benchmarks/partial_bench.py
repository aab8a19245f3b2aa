#!/usr/bin/env python3
"""Partial aggregation along a tree against every rank sending to the root, side by side.

    mpicomm run -n 8 --no-interposer -- python benchmarks/partial_bench.py \\
        [--reps 7] [--json out.json]

allreduce_partial reduces along a tree of `fanout` children per rank (2 by default);
fanout n - 1 is the root funnel (every rank sends its whole message to the root, which
sends the result to each). Per case, in one run:

1. The cost of a call with everyone on time (deadline 30 s, min_ranks n), median of
   --reps, ms: allreduce_fused, the tree, the funnel; 1000 arrays of 1 KiB and 100
   arrays of 40 KiB.
2. What the busiest rank receives per call (bytes and messages, from the aggregator's
   counters), tree and funnel, 100 x 40 KiB.
3. A step with a straggler: every rank computes 20 ms (a sleep), the last 200 ms more,
   deadline 10 ms, min_ranks n - 1; the step time on the ranks that were on time,
   median of --reps: allreduce_fused, the tree, the funnel.
4. A cost model from per-message costs measured here: a ping-pong between ranks 0 and
   1 gives the latency a and the seconds per byte b, numpy's add the reduction's
   seconds per byte c. A call of M bytes with everyone on time costs, on its critical
   path, per level of the tree 2k(a + Mb) + kMc (a parent receives k children's
   messages and reduces them, then sends the result to k children), times the height
   H = the levels below the root: the funnel is k = n - 1, H = 1. Predicted against
   measured here, and for 1,024 and 4,096 ranks.
"""
import argparse
import json
import math
import sys
import time

import numpy as np
from mpi4py import MPI

from mpicomm.collectives import PartialAllreduce, allreduce_fused


def median_ms(comm, reps, fns):
    """Median over reps of the slowest rank's time of each fn, alternating order."""
    times = {name: [] for name in fns}
    for rep in range(reps):
        for name in (list(fns) if rep % 2 == 0 else list(fns)[::-1]):
            comm.Barrier()
            t = time.perf_counter()
            fns[name]()
            times[name].append(comm.allreduce(time.perf_counter() - t, op=MPI.MAX))
    return {name: float(np.median(v)) * 1e3 for name, v in times.items()}


def height(n, k):
    """Levels below the root of the tree of k children per rank over n ranks."""
    h, last = 0, n - 1
    while last:
        last, h = (last - 1) // k, h + 1
    return h


def model_s(n, k, nbytes, a, b, c):
    if n == 1:
        return 0.0
    k = min(k, n - 1)
    return height(n, k) * (2 * k * (a + nbytes * b) + k * nbytes * c)


def per_message(comm, reps):
    """(a, b, c): latency (s), seconds per byte over the MPI (ranks 0 and 1 ping-pong),
    seconds per byte of numpy's float32 add."""
    big = np.zeros(1 << 20, np.float32)
    small = np.zeros(1, np.float32)
    rank = comm.Get_rank()
    out = []
    for buf in (small, big):
        best = math.inf
        for _ in range(reps):
            comm.Barrier()
            t = time.perf_counter()
            for _ in range(10):
                if rank == 0:
                    comm.Send(buf, 1)
                    comm.Recv(buf, 1)
                elif rank == 1:
                    comm.Recv(buf, 0)
                    comm.Send(buf, 0)
            best = min(best, (time.perf_counter() - t) / 20)
        out.append(comm.bcast(best, root=0))
    a = out[0]
    b = (out[1] - a) / big.nbytes
    other = np.ones_like(big)
    best = math.inf
    for _ in range(reps):
        t = time.perf_counter()
        np.add(big, other, out=big)
        best = min(best, time.perf_counter() - t)
    c = comm.bcast(best / big.nbytes, root=0)
    return a, b, c


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7, help="repetitions, median kept (default 7)")
    ap.add_argument("--json", help="also write the results here (rank 0)")
    args = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    n, me = comm.Get_size(), comm.Get_rank()
    if n < 2:
        print("partial_bench needs at least 2 ranks", file=sys.stderr)
        return 2
    tree, funnel = PartialAllreduce(comm, fanout=2), PartialAllreduce(comm, fanout=n - 1)
    # Zeros: sums that never overflow, whatever the number of calls.
    cases = {"1000 arrays x 1 KiB": [np.zeros(256, np.float32) for _ in range(1000)],
             "100 arrays x 40 KiB": [np.zeros(10240, np.float32) for _ in range(100)]}

    # 1. Everyone on time.
    calls = []
    for case, grads in cases.items():
        fns = {"fused": lambda g=grads: allreduce_fused(g),
               "tree": lambda g=grads: tree.allreduce(g, 30.0, n),
               "funnel": lambda g=grads: funnel.allreduce(g, 30.0, n)}
        for fn in fns.values():
            fn()                                       # plans made, tuner warmed
        for _ in range(60):
            allreduce_fused(grads)
        row = median_ms(comm, args.reps, fns)
        row.update(case=case, bytes=int(sum(g.nbytes for g in grads)))
        calls.append(row)

    # 2. What the busiest rank receives per call.
    grads = cases["100 arrays x 40 KiB"]
    received = {}
    for name, agg in (("tree", tree), ("funnel", funnel)):
        b0, m0 = agg.bytes_received, agg.messages_received
        for _ in range(args.reps):
            agg.allreduce(grads, 30.0, n)
        per = comm.allgather(((agg.bytes_received - b0) / args.reps,
                              (agg.messages_received - m0) / args.reps))
        received[name] = {"bytes": max(p[0] for p in per), "messages": max(p[1] for p in per)}

    # 3. A straggler.
    def step(how):
        late = me == n - 1
        t = time.perf_counter()
        time.sleep(0.02 + (0.2 if late else 0.0))
        if how == "fused":
            allreduce_fused(grads)
        else:
            (tree if how == "tree" else funnel).allreduce(grads, 0.01, n - 1)
        return 0.0 if late else time.perf_counter() - t

    straggler = {}
    for how in ("fused", "tree", "funnel"):
        times = []
        for _ in range(args.reps):
            comm.Barrier()
            times.append(comm.allreduce(step(how), op=MPI.MAX))
        straggler[how] = float(np.median(times)) * 1e3
    tree.close()
    funnel.close()

    # 4. The model.
    a, b, c = per_message(comm, args.reps)
    nbytes = cases["100 arrays x 40 KiB"][0].nbytes * 100
    model = {"a_us": a * 1e6, "b_ns_per_byte": b * 1e9, "c_ns_per_byte": c * 1e9,
             "bytes": nbytes, "predicted_ms": {}}
    for ranks in (n, 1024, 4096):
        model["predicted_ms"][str(ranks)] = {
            "tree": model_s(ranks, 2, nbytes, a, b, c) * 1e3,
            "funnel": model_s(ranks, ranks - 1, nbytes, a, b, c) * 1e3,
            "tree_busiest_bytes": 3 * nbytes, "funnel_root_bytes": (ranks - 1) * nbytes}

    if me == 0:
        lib = MPI.Get_library_version().splitlines()[0].strip()
        print(f"# {lib}; {n} ranks; medians of {args.reps}")
        print(f"{'everyone on time, ms':<24}{'fused':>9}{'tree':>9}{'funnel':>9}")
        for r in calls:
            print(f"{r['case']:<24}{r['fused']:>9.3f}{r['tree']:>9.3f}{r['funnel']:>9.3f}")
        print("busiest rank per call, 100 x 40 KiB: " + "; ".join(
            f"{k} {v['bytes'] / 2**20:.2f} MiB in {v['messages']:.0f} messages"
            for k, v in received.items()))
        print("straggler step, on-time ranks, ms: " + "; ".join(
            f"{k} {v:.2f}" for k, v in straggler.items()))
        print(f"model: a {model['a_us']:.2f} us, b {model['b_ns_per_byte']:.4f} ns/B, "
              f"c {model['c_ns_per_byte']:.4f} ns/B; M = {nbytes / 2**20:.2f} MiB")
        here = model["predicted_ms"][str(n)]
        on_time = calls[1]
        print(f"  {n} ranks: tree predicted {here['tree']:.2f} ms (measured "
              f"{on_time['tree']:.2f}), funnel predicted {here['funnel']:.2f} ms (measured "
              f"{on_time['funnel']:.2f})")
        for ranks in ("1024", "4096"):
            p = model["predicted_ms"][ranks]
            print(f"  {ranks} ranks: tree {p['tree']:.1f} ms, funnel {p['funnel']:.1f} ms; "
                  f"busiest rank {p['tree_busiest_bytes'] / 2**20:.0f} MiB against the "
                  f"root's {p['funnel_root_bytes'] / 2**30:.1f} GiB")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"mpi": lib, "ranks": n, "reps": args.reps, "calls": calls,
                           "received": received, "straggler_ms": straggler,
                           "model": model}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
