#!/usr/bin/env python3
"""Fused allreduce against the MPI, side by side in one run.

    mpicomm run -n 4 --no-interposer -- python benchmarks/allreduce_bench.py \\
        [--reps 7] [--json out.json]

Cases: 1000 float32 arrays of 1 KiB reduced with allreduce_fused against a loop
of comm.Allreduce (one call per array) and against the three lines a user writes by
hand (np.concatenate, one Allreduce, copy the slices back); the same with new arrays
every call, as numpy code that computes new gradients each step passes them (also
through iallreduce_fused and wait); 10 arrays of 10 MiB with
allreduce_fused against one comm.Allreduce of a 100 MiB array (what fusion could at
best be); one 64 MiB float32 array with allreduce_fused against comm.Allreduce. The
forms alternate in the same process and each figure is the best of --reps (the
slowest rank's time).

Then overlap: iallreduce_fused of 100 arrays of 40 KiB started, --overlap-ms of
compute that leaves the core idle (a sleep, as a GPU's step or I/O would), then
wait(); the time in start and in wait against the blocking call, and the step against
the same compute then the blocking call; medians of --reps.

Then each allreduce algorithm alone (the MPI's Allreduce, ring, rd, rsag, forced)
on one float32 buffer of 4 KiB to 64 MiB, best of --reps, and what the tuner of
MPICOMM_ALLREDUCE=auto settles on for each size.

Then a training step with a straggler: every rank computes for --compute-ms (a
sleep), the last rank --slow-ms longer, and the step's gradients (100 arrays of
40 KiB) are reduced with allreduce_fused (everyone) or allreduce_partial (deadline
--deadline-ms after the root's call, at least n-1 ranks). The figure is the step
time until the result is in use on the ranks that were on time (the slowest of
them), median of --reps; the same without a straggler shows what going through
the root costs.
"""
import argparse
import json
import math
import sys
import time

import numpy as np
from mpi4py import MPI

from mpicomm.collectives import PartialAllreduce, allreduce_fused, iallreduce_fused, tuning
from mpicomm.collectives.algorithms import ALGORITHMS


def best(comm, reps, fns):
    out = {name: math.inf for name in fns}
    for rep in range(reps):
        for name in (list(fns) if rep % 2 == 0 else list(fns)[::-1]):
            comm.Barrier()
            t = time.perf_counter()
            fns[name]()
            out[name] = min(out[name], comm.allreduce(time.perf_counter() - t, op=MPI.MAX))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7, help="repetitions, best kept (default 7)")
    ap.add_argument("--json", help="also write the results here (rank 0)")
    ap.add_argument("--overlap-ms", type=float, default=10.0,
                    help="compute between start and wait in the overlap case (default 10)")
    ap.add_argument("--compute-ms", type=float, default=20.0,
                    help="a step's compute time on every rank (default 20)")
    ap.add_argument("--slow-ms", type=float, default=200.0,
                    help="extra time of the straggler, the last rank (default 200)")
    ap.add_argument("--deadline-ms", type=float, default=10.0,
                    help="allreduce_partial's deadline after the root's call (default 10)")
    args = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    rank0 = comm.Get_rank() == 0
    small = [np.full(256, comm.Get_rank(), np.float32) for _ in range(1000)]
    big = np.zeros(16 << 20, np.float32)                # zeros: sums that never overflow
    tens = [np.zeros(10 << 18, np.float32) for _ in range(10)]
    whole = np.zeros(100 << 18, np.float32)

    def loop(arrays=small):
        for a in arrays:
            comm.Allreduce(MPI.IN_PLACE, a)

    def by_hand(arrays=small):
        flat = np.concatenate(arrays)
        comm.Allreduce(MPI.IN_PLACE, flat)
        for a, part in zip(arrays, np.split(flat, len(arrays))):
            a[...] = part

    # The tuner settles each size class first, so the timed calls are the chosen ones.
    for _ in range(tuning.SMALL_ROUNDS * len(tuning.CANDIDATES)):
        allreduce_fused(small)
        allreduce_fused([big])
        allreduce_fused(tens)
    rows = []
    t = best(comm, args.reps, {"mpi": loop, "fused": lambda: allreduce_fused(small),
                               "hand": by_hand})
    rows.append({"case": "1000 arrays x 1 KiB", "mpi_ms": t["mpi"] * 1e3,
                 "fused_ms": t["fused"] * 1e3, "hand_ms": t["hand"] * 1e3,
                 "fused_vs_hand": t["hand"] / t["fused"]})
    fresh = iter([[np.full(256, comm.Get_rank(), np.float32) for _ in range(1000)]
                  for _ in range(4 * args.reps)])
    t = best(comm, args.reps, {"mpi": lambda: loop(next(fresh)),
                               "fused": lambda: allreduce_fused(next(fresh)),
                               "ifused": lambda: iallreduce_fused(next(fresh)).wait(),
                               "hand": lambda: by_hand(next(fresh))})
    rows.append({"case": "1000 x 1 KiB, new", "mpi_ms": t["mpi"] * 1e3,
                 "fused_ms": t["fused"] * 1e3, "ifused_ms": t["ifused"] * 1e3,
                 "hand_ms": t["hand"] * 1e3, "fused_vs_hand": t["hand"] / t["fused"]})
    del fresh
    t = best(comm, args.reps, {"mpi": lambda: comm.Allreduce(MPI.IN_PLACE, whole),
                               "fused": lambda: allreduce_fused(tens)})
    rows.append({"case": "10 arrays x 10 MiB", "mpi_ms": t["mpi"] * 1e3,
                 "fused_ms": t["fused"] * 1e3})
    t = best(comm, args.reps, {"mpi": lambda: comm.Allreduce(MPI.IN_PLACE, big),
                               "fused": lambda: allreduce_fused([big])})
    rows.append({"case": "1 array x 64 MiB", "mpi_ms": t["mpi"] * 1e3,
                 "fused_ms": t["fused"] * 1e3})
    for r in rows:
        r["ratio"] = r["mpi_ms"] / r["fused_ms"]
    lap = overlap(comm, args)
    algos = algorithm_table(comm, args)
    steps = straggler_steps(comm, args)
    if rank0:
        lib = MPI.Get_library_version().splitlines()[0].strip()
        print(f"# {lib}; {comm.Get_size()} ranks; best of {args.reps}")
        print(f"{'case':<22}{'MPI ms':>10}{'fused ms':>10}{'ratio':>8}")
        for r in rows:
            print(f"{r['case']:<22}{r['mpi_ms']:>10.3f}{r['fused_ms']:>10.3f}{r['ratio']:>7.2f}x"
                  + (f"  (by hand {r['hand_ms']:.3f} ms: fused {r['fused_vs_hand']:.2f}x it)"
                     if "hand_ms" in r else "")
                  + (f" (start+wait {r['ifused_ms']:.3f} ms)" if "ifused_ms" in r else ""))
        print(f"# overlap: 100 arrays x 40 KiB, {lap['compute_ms']} ms of compute leaving "
              f"the core idle between start and wait; medians of {args.reps}, ms")
        nb = lap["start_ms"] + lap["wait_ms"]
        print(f"blocking call {lap['blocking_ms']:.3f}; start {lap['start_ms']:.3f} + wait "
              f"{lap['wait_ms']:.3f} = {nb:.3f} ({lap['blocking_ms'] / nb:.2f}x less); step "
              f"{lap['step_ms']:.3f} against compute then the blocking call "
              f"{lap['serial_ms']:.3f}")
        print(f"# each algorithm alone, best of {args.reps}, ms; auto: the tuner's choice")
        print(f"{'bytes':>10}" + "".join(f"{a:>9}" for a in tuning.CANDIDATES) + f"{'auto':>7}")
        for r in algos:
            print(f"{r['bytes']:>10}" + "".join(f"{r[a + '_ms']:>9.3f}" for a in tuning.CANDIDATES)
                  + f"{r['auto']:>7}")
        print(f"# step: compute {args.compute_ms} ms, straggler +{args.slow_ms} ms, deadline "
              f"{args.deadline_ms} ms, min_ranks n-1; median of {args.reps}")
        print(f"{'step':<22}{'full ms':>10}{'partial ms':>11}{'ratio':>7}")
        for r in steps:
            print(f"{r['case']:<22}{r['full_ms']:>10.2f}{r['partial_ms']:>11.2f}"
                  f"{r['ratio']:>6.2f}x")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"mpi": lib, "ranks": comm.Get_size(), "reps": args.reps,
                           "cases": rows, "overlap": lap, "algorithms": algos,
                           "steps": steps,
                           "step_params": {"compute_ms": args.compute_ms,
                                           "slow_ms": args.slow_ms,
                                           "deadline_ms": args.deadline_ms}}, f, indent=1)
    return 0


def overlap(comm, args):
    """Medians: the blocking call; start and wait of the nonblocking one with --overlap-ms
    of compute that leaves the core idle between them (a sleep: a GPU's step, I/O);
    that step against the same compute then the blocking call."""
    grads = [np.full(10240, comm.Get_rank(), np.float32) for _ in range(100)]
    times = {k: [] for k in ("blocking", "start", "wait", "step", "serial")}
    compute_s = args.overlap_ms / 1e3
    for rep in range(args.reps + 3):
        comm.Barrier()
        t0 = time.perf_counter()
        allreduce_fused(grads)
        t1 = time.perf_counter()
        comm.Barrier()
        t2 = time.perf_counter()
        req = iallreduce_fused(grads)
        t3 = time.perf_counter()
        time.sleep(compute_s)
        t4 = time.perf_counter()
        req.wait()
        t5 = time.perf_counter()
        comm.Barrier()
        t6 = time.perf_counter()
        time.sleep(compute_s)
        allreduce_fused(grads)
        t7 = time.perf_counter()
        if rep >= 3:                         # the first are warm-up
            for k, v in zip(times, (t1 - t0, t3 - t2, t5 - t4, t5 - t2, t7 - t6)):
                times[k].append(comm.allreduce(v, op=MPI.MAX))
    out = {f"{k}_ms": float(np.median(v)) * 1e3 for k, v in times.items()}
    out["compute_ms"] = args.overlap_ms
    return out


def algorithm_table(comm, args):
    """Best time of each algorithm per size, and the tuner's choice for that size."""
    private = comm.Dup()
    rows = []
    for nbytes in (4 << 10, 256 << 10, 4 << 20, 64 << 20):
        buf = np.zeros(nbytes // 4, np.float32)         # sums that never overflow
        fns = {a: (lambda a=a: ALGORITHMS[a](comm if a == "mpi" else private, buf, "sum"))
               for a in tuning.CANDIDATES}
        t = best(comm, args.reps, fns)
        probe = comm.Dup()
        for _ in range(tuning.SMALL_ROUNDS * len(tuning.CANDIDATES)):
            tuning.allreduce(probe, buf, "sum")
        row = {"bytes": nbytes, "auto": tuning.table(probe).get(tuning.size_class(nbytes), "-")}
        row.update({f"{a}_ms": t[a] * 1e3 for a in tuning.CANDIDATES})
        rows.append(row)
    return rows


def straggler_steps(comm, args):
    """Median step time on the on-time ranks, full against partial aggregation, with
    and without a straggler."""
    n, me = comm.Get_size(), comm.Get_rank()
    grads = [np.full(10240, me, np.float32) for _ in range(100)]
    agg = PartialAllreduce(comm)
    rows = []
    for slow in (True, False):
        late = slow and n > 1 and me == n - 1
        times = {"full": [], "partial": []}
        for rep in range(args.reps):
            for how in (("full", "partial") if rep % 2 == 0 else ("partial", "full")):
                comm.Barrier()
                t = time.perf_counter()
                time.sleep((args.compute_ms + (args.slow_ms if late else 0.0)) / 1e3)
                if how == "full":
                    allreduce_fused(grads)
                else:
                    agg.allreduce(grads, args.deadline_ms / 1e3, max(1, n - 1))
                mine = 0.0 if late else time.perf_counter() - t
                times[how].append(comm.allreduce(mine, op=MPI.MAX))
        full, partial = (float(np.median(times[k])) * 1e3 for k in ("full", "partial"))
        rows.append({"case": "one straggler" if slow else "no straggler",
                     "full_ms": full, "partial_ms": partial, "ratio": full / partial})
    agg.close()
    return rows


if __name__ == "__main__":
    sys.exit(main())
