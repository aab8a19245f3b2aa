#!/usr/bin/env python3
"""A PyTorch network trained on the digits shipped with mpicomm, under every way this
library offers to live with stragglers, side by side: gradient coding (none, gc, sr-sgc,
m-sgc; 8 workers and a master) and DistributedOptimizer (allreduce, partial; 8 ranks),
the same network, data, seed and straggler model (examples/train_digits.py).

    python benchmarks/digits_bench.py [--json out.json] [--png out.png]

Each scheme is launched --rounds times in turn (mpicomm run, without the interposer);
the table shows the median over the launches of the seconds to the target test
accuracy, the final accuracy, and the wait-outs (coded) or the steps with a rank left
out (partial); the PNG, test accuracy against wall-clock time of each scheme's first
launch (its first model for the coded schemes that train several at once).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAM = os.path.join(os.path.dirname(HERE), "examples", "train_digits.py")
WORKERS = 8
SCHEMES = [("none", ["--scheme", "none"]), ("gc", ["--scheme", "gc", "--s", "2"]),
           ("sr-sgc", ["--scheme", "sr-sgc", "--B", "1", "--W", "2", "--lam", "2"]),
           ("m-sgc", ["--scheme", "m-sgc", "--B", "1", "--W", "2", "--lam", "2"]),
           ("DistributedOptimizer allreduce", ["--optimizer", "allreduce"]),
           ("DistributedOptimizer partial", ["--optimizer", "partial"])]


def launch(how, common):
    ranks = WORKERS + 1 if how[0] == "--scheme" else WORKERS
    cmd = [sys.executable, "-m", "mpicomm", "run", "-n", str(ranks), "--no-interposer", "--",
           sys.executable, PROGRAM, *how, *common]
    out = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        sys.exit(f"digits_bench: {' '.join(cmd)} failed:\n{out.stdout[-2000:]}"
                 f"{out.stderr[-2000:]}")
    return json.loads(lines[0][7:])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="launches per scheme (default 3)")
    ap.add_argument("--steps", type=int, default=100, help="steps per model (default 100)")
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--json")
    ap.add_argument("--png")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    common = ["--steps", str(args.steps), "--target", str(args.target), "--base-s", "0.02",
              "--p-slow", "0.05", "--p-recover", "0.5", "--slowdown", "5"]
    runs = {name: [] for name, _ in SCHEMES}
    for _ in range(args.rounds):
        for name, how in SCHEMES:
            runs[name].append(launch(how, common))
    print(f"# digits, 64-64-10 network, {WORKERS} workers, {args.steps} steps per model, "
          f"target {args.target:.0%}; median of {args.rounds} launches")
    print(f"{'scheme':<32}{'to target s':>12}{'total s':>9}{'accuracy':>10}{'wait-outs':>11}"
          f"{'left out':>10}")
    rows = []
    for name, got in runs.items():
        to_target = [g["seconds_to_target"] for g in got if g["seconds_to_target"] is not None]
        row = {"scheme": name, "ranks": got[0]["ranks"], "models": got[0]["models"],
               "seconds_to_target": statistics.median(to_target) if to_target else None,
               "reached": len(to_target), "runs": len(got),
               "runtime_s": statistics.median(g["runtime_s"] for g in got),
               "accuracy": statistics.median(min(g["accuracy"]) for g in got),
               "waitouts": statistics.median(g.get("waitouts", 0) for g in got),
               "left_out": statistics.median(g.get("steps_with_a_rank_left_out", 0)
                                             for g in got),
               "ranks_differ": max(g["ranks_differ"] for g in got),
               "history": [h for h in got[0]["history"] if h[2] == 0]}
        rows.append(row)
        tt = f"{row['seconds_to_target']:.2f}" if to_target else "never"
        print(f"{name:<32}{tt:>12}{row['runtime_s']:>9.2f}{row['accuracy']:>10.3f}"
              f"{row['waitouts']:>11.0f}{row['left_out']:>10.0f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"workers": WORKERS, "steps": args.steps, "target": args.target,
                       "rounds": args.rounds, "cases": rows}, f, indent=1)
    if args.png:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(7, 4))
        for row in rows:
            ax.plot([h[0] for h in row["history"]], [h[3] for h in row["history"]],
                    label=row["scheme"])
        ax.axhline(args.target, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("wall-clock seconds")
        ax.set_ylabel("test accuracy")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.png, dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
