#!/usr/bin/env python3
"""What `mpicomm run` costs at launch under Slurm, side by side in one allocation:
a 2-rank job that starts MPI and ends, launched plainly (srun with the MPI's PMI
plugin; the MPI's mpiexec) and through mpicomm (`mpicomm run` with srun and with
mpiexec, with and without the interposer; `mpicomm.interposer.load()` under a plain
srun). Starts its own one-node Slurm (the tests' cluster, tests/support/slurm_cluster.py;
root, Debian's slurmd). From the repository's root:

    python -m benchmarks.slurm_bench [--rounds 7] [--ranks 2] [--json out.json]

Each round runs every variant once, in rotating order; figures are the median and the
best of the rounds, in seconds, and each variant's median over its plain launcher's.
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tests.support import slurm_cluster

PROGRAM = "from mpi4py import MPI; MPI.COMM_WORLD.Barrier()"
LOADED = ("import mpicomm.interposer as i; i.load(); from mpi4py import MPI; "
          "MPI.COMM_WORLD.Barrier()")


def variants(n, pmi, mpiexec):
    py, mpicomm = sys.executable, [sys.executable, "-m", "mpicomm", "run", "-n", str(n)]
    return {
        "srun": ["srun", "-n", str(n), f"--mpi={pmi}", py, "-c", PROGRAM],
        "mpicomm run (srun)": [*mpicomm, "--", py, "-c", PROGRAM],
        "mpicomm run (srun), no interposer": [*mpicomm, "--no-interposer", "--", py, "-c",
                                              PROGRAM],
        "srun + interposer.load()": ["srun", "-n", str(n), f"--mpi={pmi}", py, "-c", LOADED],
        "mpiexec": [mpiexec, "-n", str(n), py, "-c", PROGRAM],
        "mpicomm run (mpiexec)": [*mpicomm, "--launcher", "mpiexec", "--", py, "-c", PROGRAM],
    }


BASELINE = {"mpicomm run (srun)": "srun", "mpicomm run (srun), no interposer": "srun",
            "srun + interposer.load()": "srun", "mpicomm run (mpiexec)": "mpiexec"}


def inner(args):
    """Inside the allocation: time every variant, rounds x rotating order."""
    from mpicomm import installation, launch
    inst = installation.probe()
    env = launch.launcher_env(inst, args.ranks)
    todo = variants(args.ranks, launch.SRUN_PMI[inst.vendor], inst.tool("mpiexec"))
    names = list(todo)
    times = {name: [] for name in names}
    for r in range(args.rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            t = time.perf_counter()
            res = subprocess.run(todo[name], env=env, capture_output=True, text=True)
            if res.returncode != 0:
                sys.exit(f"{name} failed ({res.returncode}):\n{res.stderr}")
            times[name].append(time.perf_counter() - t)
    out = {"mpi": f"{inst.vendor} {inst.version}", "ranks": args.ranks,
           "rounds": args.rounds, "variants": {}}
    for name in names:
        med = statistics.median(times[name])
        row = {"median_s": med, "best_s": min(times[name])}
        if name in BASELINE:
            row["ratio_to_" + BASELINE[name]] = med / statistics.median(times[BASELINE[name]])
        out["variants"][name] = row
    print("SLURMBENCH " + json.dumps(out), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--json", help="write the results here")
    p.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.inner:
        return inner(args)
    reason = slurm_cluster.missing()
    if reason:
        sys.exit(f"slurm_bench: {reason}")
    with slurm_cluster.SlurmCluster() as cluster:
        root = Path(__file__).resolve().parent.parent
        res = cluster.run(["salloc", "-n", str(args.ranks), sys.executable, "-m",
                           "benchmarks.slurm_bench", "--inner", "--rounds", str(args.rounds),
                           "--ranks", str(args.ranks)], timeout=3600, cwd=root)
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("SLURMBENCH ")]
    if res.returncode != 0 or not line:
        sys.exit(f"slurm_bench: the allocation failed ({res.returncode}):\n{res.stderr}")
    out = json.loads(line[0][len("SLURMBENCH "):])
    print(f"{out['mpi']}: launching a {out['ranks']}-rank MPI job, {out['rounds']} rounds")
    print(f"{'launch':<36} {'median s':>9} {'best s':>8}  ratio")
    for name, row in out["variants"].items():
        ratio = next((f"{v:.2f}x {k[9:]}" for k, v in row.items() if k.startswith("ratio_to_")),
                     "")
        print(f"{name:<36} {row['median_s']:9.3f} {row['best_s']:8.3f}  {ratio}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
