#!/usr/bin/env python3
"""C programs with and without the interposer, side by side in one run: the 3-D halo
exchange of examples/halo3d.c (subarray faces, MPI_Irecv/MPI_Isend/MPI_Waitall, types
built once, every face in flight at once) and a ping-pong of one strided face
(benchmarks/typed_pingpong.c), each built with the installed MPI's mpicc and launched
with `mpicomm run -n 2`.

    python benchmarks/c_bench.py [--rounds 5] [--json FILE]

Each round launches every case without the interposer (`--no-interposer`: the MPI
alone), with it and its choice (MPICOMM_METHOD=auto, the built-in rules or the model
MPICOMM_MODEL names) and with the pack method forced, in turn; each launch reports its
own best or median, and the table shows the median over the rounds of each variant (a
launch on a shared 2-core machine now and then runs far faster or slower than the rest)
and the ratios: the MPI's time over auto's, and auto's against the better of the MPI
and pack; "packed" is the share of the calls with a non-contiguous type auto packed.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

from mpicomm import installation

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VARIANTS = ("mpi", "auto", "pack")

# (name, program, arguments): halo3d prints the median ms per exchange, the ping-pong the
# best microseconds per round trip. Face shapes of a 128^3 block with one ghost layer
# (edge 130): an x face is 128 rows of 1 KiB 1040 B apart, a y face 128 rows 135,200 B
# apart, a z face 8-byte cells 1040 B apart.
HALOS = [(f"halo3d {n}^3, {nb} neighbours", "halo3d",
          ["--n", str(n), "--neighbors", str(nb), "--iters", str(iters), "--warmup", "5"])
         for n, nb, iters in ((64, 6, 200), (128, 6, 100), (64, 26, 100), (128, 26, 40))]
FACES = [(f"ping-pong {blocks} x {block} B / {stride} B", "typed_pingpong",
          ["--blocks", str(blocks), "--block-bytes", str(block), "--stride-bytes", str(stride),
           "--iters", str(iters), "--reps", "5"])
         for blocks, block, stride, iters in ((128, 1024, 1040, 200), (128, 1024, 135200, 200),
                                              (16384, 8, 1040, 40), (2048, 8, 4096, 200),
                                              (256, 256, 512, 200), (64, 8, 528, 2000))]
SOURCES = {"halo3d": os.path.join(ROOT, "examples", "halo3d.c"),
           "typed_pingpong": os.path.join(HERE, "typed_pingpong.c")}


def build(tmp):
    mpicc = shutil.which("mpicc")
    if mpicc is None:
        sys.exit("c_bench: no mpicc on PATH (activate the MPI's environment first)")
    exes = {}
    for name, src in SOURCES.items():
        exes[name] = os.path.join(tmp, name)
        subprocess.run([mpicc, "-O2", src, "-o", exes[name]], check=True)
    return exes


def launch(exe, args, variant):
    """The launch's time in microseconds and, with the interposer, the share of the calls
    with a non-contiguous type that it packed (MPICOMM_STATS of both ranks)."""
    cmd = [sys.executable, "-m", "mpicomm", "run", "-n", "2"]
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    if variant == "mpi":
        cmd.append("--no-interposer")
    else:
        env["MPICOMM_METHOD"] = variant
        env["MPICOMM_STATS"] = "1"
    out = subprocess.run(cmd + ["--", exe, *args], capture_output=True, text=True, env=env)
    if out.returncode != 0 or "FAILED" in out.stdout:
        sys.exit(f"c_bench: {' '.join(cmd + [exe, *args])} ({variant}) failed:\n"
                 f"{out.stdout[-2000:]}{out.stderr[-2000:]}")
    stats = [json.loads(ln.split(" ", 1)[1]) for ln in out.stderr.splitlines()
             if ln.startswith("mpicomm-stats ")]
    calls = sum(s["method_pack"] + s["method_passthrough"] for s in stats)
    packed = sum(s["method_pack"] for s in stats) / calls if calls else 0.0
    m = re.search(r"([0-9.]+) ms per exchange", out.stdout)
    if m:
        return float(m.group(1)) * 1e3, packed
    return float(re.search(r"^TIME \d+ \d+ \d+ ([0-9.]+)", out.stdout, re.M).group(1)), packed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="launches of each variant (default 5)")
    ap.add_argument("--only", help="run the cases whose name contains this text")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    inst = installation.probe()
    cases = [c for c in HALOS + FACES if not args.only or args.only in c[0]]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        exes = build(tmp)
        print(f"# {inst.vendor} {inst.version}, 2 ranks, C programs built with its mpicc; "
              f"median of {args.rounds} launches, microseconds")
        print(f"{'case':<38}{'MPI':>10}{'auto':>10}{'pack':>10}{'MPI/auto':>10}"
              f"{'auto/best':>11}{'packed':>9}")
        for name, prog, cargs in cases:
            times, packed = {v: [] for v in VARIANTS}, []
            for r in range(args.rounds):
                for v in (VARIANTS if r % 2 == 0 else VARIANTS[::-1]):
                    t, share = launch(exes[prog], cargs, v)
                    times[v].append(t)
                    if v == "auto":
                        packed.append(share)
            med = {v: statistics.median(t) for v, t in times.items()}
            row = {"case": name, **{f"{v}_us": med[v] for v in VARIANTS},
                   "auto_ratio": med["mpi"] / med["auto"],
                   "auto_vs_best": min(med["mpi"], med["pack"]) / med["auto"],
                   "auto_packed": statistics.mean(packed)}
            rows.append(row)
            print(f"{name:<38}{med['mpi']:>10.1f}{med['auto']:>10.1f}{med['pack']:>10.1f}"
                  f"{row['auto_ratio']:>9.2f}x{row['auto_vs_best']:>10.2f}x"
                  f"{100 * row['auto_packed']:>8.0f}%", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"mpi": f"{inst.vendor} {inst.version}", "rounds": args.rounds,
                       "cases": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
