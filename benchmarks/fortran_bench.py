#!/usr/bin/env python3
"""A Fortran program with and without the interposer, side by side in one run: faces of
an n^3 array of doubles exchanged around a ring of 2 ranks with MPI_Sendrecv and
subarray types, and Send+Recv to MPI_PROC_NULL (the cost of the calls).

    python benchmarks/fortran_bench.py [--n 64 128 256] [--rounds 5] [--json FILE]

The PyPI MPI wheels have no Fortran bindings, so this uses Debian's MPI of the family
mpi4py runs on (libmpich-dev or libopenmpi-dev, with gfortran; scripts/prereqs.sh
installs them), builds benchmarks/fortran/halo_bench.F90 with its mpif90 and the
interposer with its mpicc, and launches it with its mpiexec. Each round launches the
program without the interposer, with it (MPICOMM_METHOD=auto, the model in use) and
with the pack method forced, in turn; every launch times its repetitions, and the
table shows the best over all launches of a variant (launches on this 2-core machine
differ by more than the effect: a contiguous face the interposer never touches moved
by 3x between medians) and the speed-up over the MPI.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from mpicomm import build, installation

HERE = os.path.dirname(os.path.abspath(__file__))

VARIANTS = (("MPI", None), ("auto", "auto"), ("pack", "pack"))


def site_tools():
    suffix = {"MPICH": "mpich", "Open MPI": "openmpi"}[installation.probe().vendor]
    tools = {t: shutil.which(f"{t}.{suffix}") for t in ("mpicc", "mpif90", "mpiexec")}
    missing = [f"{t}.{suffix}" for t, p in tools.items() if not p]
    if missing or not shutil.which("gfortran"):
        sys.exit(f"fortran_bench: needs gfortran and {', '.join(missing) or 'the site MPI'} "
                 f"(Debian's lib{suffix}-dev; scripts/prereqs.sh installs them)")
    return suffix, tools


def launch(tools, suffix, exe, library, method, n, iters, reps):
    cmd = [tools["mpiexec"], "-n", "2"] + (["--oversubscribe"] if suffix == "openmpi" else [])
    if method:
        cmd += ["env", f"LD_PRELOAD={library}", f"MPICOMM_METHOD={method}"]
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    out = subprocess.run(cmd + [exe, str(n), str(iters), str(reps)], capture_output=True,
                         text=True, env=env, check=True).stdout
    return {m.group(1): float(m.group(2))
            for m in re.finditer(r"^TIME (\S+) \d+\s+(\S+)", out, re.M)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[64, 128, 256],
                    help="array edges (default 64 128 256)")
    ap.add_argument("--rounds", type=int, default=5, help="launches of each variant")
    ap.add_argument("--reps", type=int, default=10, help="timed repetitions per launch")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    suffix, tools = site_tools()
    meta = build.build(mpicc=tools["mpicc"], quiet=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "halo_bench")
        subprocess.run([tools["mpif90"], "-O2", os.path.join(HERE, "fortran", "halo_bench.F90"),
                        "-o", exe], check=True)
        print(f"# {meta['mpi_vendor']} {meta['mpi_version']} (Debian), gfortran, 2 ranks: "
              f"best of {args.rounds} launches x {args.reps} repetitions")
        print(f"{'case':<10}{'n':>5}{'MPI us':>11}{'auto us':>11}{'pack us':>11}"
              f"{'auto x':>8}{'pack x':>8}")
        for n in args.n:
            iters = max(5, int(2e7 // n ** 3))
            times = {label: [] for label, _ in VARIANTS}
            for _ in range(args.rounds):
                for label, method in VARIANTS:
                    times[label].append(launch(tools, suffix, exe, meta["library"], method,
                                               n, iters, args.reps))
            for case in times["MPI"][0]:
                med = {label: min(t[case] for t in times[label]) * 1e6 for label in times}
                row = {"case": case, "n": n, **{f"{k}_us": v for k, v in med.items()},
                       "auto_speedup": med["MPI"] / med["auto"],
                       "pack_speedup": med["MPI"] / med["pack"]}
                rows.append(row)
                print(f"{case:<10}{n:>5}{med['MPI']:>11.3f}{med['auto']:>11.3f}"
                      f"{med['pack']:>11.3f}{row['auto_speedup']:>8.2f}"
                      f"{row['pack_speedup']:>8.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"mpi": f"{meta['mpi_vendor']} {meta['mpi_version']}", "rows": rows}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
