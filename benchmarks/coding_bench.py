#!/usr/bin/env python3
"""Gradient coding schemes: their loads, and their simulated runtime on a bursty trace.

    python benchmarks/coding_bench.py [--json out.json] [--trace-out trace.h5]

1. The normalized load of none, gc (s = lambda), sr-sgc and m-sgc (B=2, W=5) for
   n=256 workers across lambda.
2. Speed: decoding an (n=256, s=27) cyclic gradient code (median over 50 new
   responder sets, and a cached one), and simulating 256 workers x 10,000 rounds
   per scheme (best of 3, compiled beforehand), and the first simulation of a fresh
   install: a new interpreter with an empty numba cache (NUMBA_CACHE_DIR), the
   compilation included.
3. The paper's evaluation, simulated: n=256 workers whose per-round delays follow
   per-worker two-state Markov chains (fast / slow, short bursts; measured at the
   uncoded load 1/n and rescaled to each scheme's load). Each scheme's parameters are
   chosen on a probe trace (best_params, delay T <= 4, W <= 6) and then run on a
   separate test trace of the same kind; mu = 1.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from mpicomm import coding, traces

N = 256
TRACE = dict(p_slow=0.003, p_recover=0.8, base=1.0, jitter=0.1, slowdown=6.0)


def loads():
    rows = []
    for lam in (1, 2, 4, 8, 16, 32, 64, 128, 255, 256):
        rows.append({"lam": lam, "none": coding.scheme("none", N).load,
                     "gc": coding.scheme("gc", N, s=min(lam, N - 1)).load,
                     "sr-sgc": coding.scheme("sr-sgc", N, B=2, W=5, lam=lam).load,
                     "m-sgc": coding.scheme("m-sgc", N, B=2, W=5, lam=lam).load})
    return rows


def speed():
    code = coding.GradientCode(N, 27)
    rng = np.random.default_rng(0)
    sets = [np.sort(rng.choice(N, N - 27, replace=False)) for _ in range(51)]
    code.decoding_vector(sets[0])                 # the linear algebra warmed up
    times = []
    for F in sets[1:]:
        t = time.perf_counter()
        code.decoding_vector(F)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    code.decoding_vector(sets[7])
    cached = time.perf_counter() - t
    delays = coding.markov(N, 10000, seed=1)
    sims = {}
    for name, kwargs in [("none", {}), ("gc", {"s": 15}), ("sr-sgc", {"B": 1, "W": 3, "lam": 20}),
                         ("m-sgc", {"B": 1, "W": 3, "lam": 20})]:
        sch = coding.scheme(name, N, **kwargs)
        coding.simulate(sch, delays[:, :50])      # compiled (or loaded from the cache)
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            coding.simulate(sch, delays)
            best = min(best, time.perf_counter() - t)
        sims[name] = best
    return {"first_simulate_s": first_simulate(),
            "decode_median_ms": float(np.median(times)) * 1e3,
            "decode_max_ms": max(times) * 1e3, "decode_cached_ms": cached * 1e3,
            "simulate_256x10000_ms": {k: v * 1e3 for k, v in sims.items()}}


def first_simulate():
    """Seconds of the first coding.simulate in a fresh interpreter with an empty numba
    cache (its import excluded): what a new installation's first call pays."""
    code = ("import time, mpicomm.coding as c\n"
            "d = c.markov(8, 20, seed=1)\n"
            "t = time.perf_counter(); c.simulate(c.scheme('gc', 8, s=1), d)\n"
            "print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as cache:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env={**os.environ, "NUMBA_CACHE_DIR": cache})
    return float(out.stdout.split()[-1])


def simulated(jobs, trace_out=None):
    probe = coding.markov(N, 300, seed=1, **TRACE)
    test = coding.markov(N, jobs + 10, seed=2, **TRACE)
    if trace_out:
        traces.write(trace_out, test, kind="markov", load=1.0 / N, seed=2, **TRACE)
    rows = []
    for name in coding.NAMES:
        t = time.perf_counter()
        if name == "none":
            params = {}
        else:
            params, _ = coding.best_params(probe, name, trace_load=1.0 / N, max_delay=4, max_w=6)
        search_s = time.perf_counter() - t
        sch = coding.scheme(name, N, **params)
        sim = coding.simulate(sch, test, trace_load=1.0 / N, jobs=jobs)
        rows.append({"scheme": name, "params": params, "load": sch.load, "T": sch.T,
                     "runtime_s": sim.runtime, "waitouts": sim.waitouts,
                     "search_s": search_s})
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000, help="jobs in the test run (default 1000)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--trace-out", help="also write the test trace here (HDF5)")
    args = ap.parse_args(argv)
    load_rows = loads()
    print(f"# normalized load, n={N} (gc: s = lambda; sr-sgc and m-sgc: B=2, W=5)")
    print(f"{'lambda':>7}" + "".join(f"{k:>10}" for k in coding.NAMES))
    for r in load_rows:
        print(f"{r['lam']:>7}" + "".join(f"{r[k]:>10.4f}" for k in coding.NAMES))
    fast = speed()
    print(f"# decoding n={N}, s=27: median {fast['decode_median_ms']:.2f} ms over 50 new "
          f"responder sets (max {fast['decode_max_ms']:.2f}), cached {fast['decode_cached_ms']:.3f} ms")
    print("# simulating 256 workers x 10,000 rounds, best of 3: " + ", ".join(
        f"{k} {v:.1f} ms" for k, v in fast["simulate_256x10000_ms"].items()))
    sim_rows = simulated(args.jobs, args.trace_out)
    print(f"# simulated: n={N}, {args.jobs} jobs, Markov trace {TRACE}, mu=1, parameters "
          "chosen on a separate probe trace")
    print(f"{'scheme':<8}{'params':<30}{'load':>8}{'T':>3}{'runtime s':>11}{'waitouts':>10}")
    for r in sim_rows:
        print(f"{r['scheme']:<8}{json.dumps(r['params']):<30}{r['load']:>8.4f}{r['T']:>3}"
              f"{r['runtime_s']:>11.1f}{r['waitouts']:>10}")
    rt = {r["scheme"]: r["runtime_s"] for r in sim_rows}
    gain = 1 - rt["m-sgc"] / rt["gc"]
    print(f"m-sgc is {gain:.1%} faster than gc (target: at least 16%)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"n": N, "trace": TRACE, "jobs": args.jobs, "loads": load_rows,
                       "speed": fast,
                       "simulated": sim_rows, "m_sgc_gain_over_gc": gain}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
