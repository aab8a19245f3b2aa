#!/usr/bin/env python3
"""What `mpicomm run` costs before the MPI's launcher starts, side by side in one run:

    python benchmarks/startup_bench.py [--reps 15] [--json out.json]

- `python -c pass`: the interpreter alone (the floor);
- `mpicomm preload-path` with its answers kept (mpicomm.memo: the usual case, every
  launch after the first with the same installation);
- the same with nothing kept (the kept answers removed before each run: it probes the
  MPI in a child interpreter, asks mpicc for its mpi.h and hashes the sources);
- `mpicomm run -n 1 -- true` and the MPI's own `mpiexec -n 1 true`, whole launches.
Medians of --reps runs, alternating the variants. The interposer must be built already
(`mpicomm build`).
Then, once each, what a first build takes (`mpicomm build --force` into an empty cache
directory): the host kernels alone (`--nvcc off`), and with the CUDA kernels where an
nvcc is found. The environment's record of its builds is left as it was.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from mpicomm import build, installation, memo


def timed(cmd, env):
    t = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def first_builds(mpicomm, env):
    """{what: seconds} of a first build into an empty cache directory."""
    kinds = [("host kernels", ["--nvcc", "off"])]
    if build.choose_nvcc():
        kinds.append(("host and CUDA kernels", []))
    record = build._environment_builds()
    kept = record.read_bytes() if record.exists() else None
    out = {}
    try:
        for name, extra in kinds:
            with tempfile.TemporaryDirectory() as cache:
                out[name] = timed(mpicomm + ["build", "--force", *extra],
                                  {**env, "MPICOMM_CACHE_DIR": cache})
    finally:
        if kept is None:
            record.unlink(missing_ok=True)
        else:
            record.write_bytes(kept)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--json")
    args = ap.parse_args()
    env = dict(os.environ)
    mpicomm = [sys.executable, "-m", "mpicomm"]
    kept = memo.cache_dir() / memo.MEMO
    subprocess.run(mpicomm + ["preload-path"], env=env, check=True, stdout=subprocess.DEVNULL)

    def cold():
        kept.unlink(missing_ok=True)
        return timed(mpicomm + ["preload-path"], env)

    variants = {
        "python -c pass": lambda: timed([sys.executable, "-c", "pass"], env),
        "preload-path, answers kept": lambda: timed(mpicomm + ["preload-path"], env),
        "preload-path, nothing kept": cold,
        "mpicomm run -n 1 -- true": lambda: timed(mpicomm + ["run", "-n", "1", "--", "true"],
                                                  env),
        "mpiexec -n 1 true": lambda: timed([installation.probe().tool("mpiexec"), "-n", "1",
                                            "true"], env),
    }
    times = {name: [] for name in variants}
    for rep in range(args.reps):
        names = list(variants)
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            times[name].append(variants[name]())
    subprocess.run(mpicomm + ["preload-path"], env=env, check=True, stdout=subprocess.DEVNULL)
    rows = {name: statistics.median(t) for name, t in times.items()}
    builds = first_builds(mpicomm, env)
    print(f"# {installation.probe().library_version.splitlines()[0]}; median of {args.reps}")
    for name, t in rows.items():
        print(f"{name:<30}{t * 1e3:>8.0f} ms")
    for name, t in builds.items():
        print(f"first build, {name}: {t:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"reps": args.reps, "median_s": rows, "first_build_s": builds}, f,
                      indent=1)


if __name__ == "__main__":
    main()
