#!/usr/bin/env python3
"""A PyTorch network trained on the digits shipped with mpicomm, under every way this
library offers to live with stragglers, side by side: gradient coding (none, gc, sr-sgc,
m-sgc; 8 workers and a master) and DistributedOptimizer (allreduce, partial; 8 ranks),
the same networks, data, seed and straggler trace (examples/train_digits.py).

    python benchmarks/digits_bench.py [--scenario mild|heavy] [--json out.json] [--png out.png]

Every scheme trains the same two models at once, their steps interleaved (the job
sequence of the sequential gradient coding paper; two is the fewest sr-sgc and m-sgc
with B = 1, W = 2 can train), under two straggler scenarios: mild (a worker turns slow
with chance 0.05 per step, recovers with 0.5, and is 5 times slower while slow) and
heavy (the same chain, 20 times slower). Each scheme is launched --rounds times in turn
(mpicomm run, without the interposer); the table shows the median over the launches of
the seconds until the first model reached the target test accuracy, the seconds in
all, the final accuracy (the lower model's), and the wait-outs (coded) or the steps
with a rank left out (partial); the PNG, test accuracy of the first model against
wall-clock time in each scheme's first launch, a panel per scenario.
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
MODELS = 2
BASE_S = 0.02
SCENARIOS = {"mild": {"p_slow": 0.05, "p_recover": 0.5, "slowdown": 5.0},
             "heavy": {"p_slow": 0.05, "p_recover": 0.5, "slowdown": 20.0}}
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


def summary(name, got):
    to_target = [g["seconds_to_target"] for g in got if g["seconds_to_target"] is not None]
    return {"scheme": name, "ranks": got[0]["ranks"], "models": got[0]["models"],
            "seconds_to_target": statistics.median(to_target) if to_target else None,
            "reached": len(to_target), "runs": len(got),
            "runtime_s": statistics.median(g["runtime_s"] for g in got),
            "accuracy": statistics.median(min(g["accuracy"]) for g in got),
            "waitouts": statistics.median(g.get("waitouts", 0) for g in got),
            "left_out": statistics.median(g.get("steps_with_a_rank_left_out", 0)
                                          for g in got),
            "ranks_differ": max(g["ranks_differ"] for g in got),
            "history": [h for h in got[0]["history"] if h[2] == 0]}


def scenario(name, args):
    chain = SCENARIOS[name]
    common = ["--steps", str(args.steps), "--models", str(MODELS), "--target",
              str(args.target), "--base-s", str(BASE_S), "--p-slow", str(chain["p_slow"]),
              "--p-recover", str(chain["p_recover"]), "--slowdown", str(chain["slowdown"])]
    runs = {scheme: [] for scheme, _ in SCHEMES}
    for _ in range(args.rounds):
        for scheme, how in SCHEMES:
            runs[scheme].append(launch(how, common))
    print(f"# {name} stragglers ({chain['slowdown']:g}x slower while slow): digits, 64-64-10 "
          f"network, {WORKERS} workers, {MODELS} models x {args.steps} steps, target "
          f"{args.target:.0%}; median of {args.rounds} launches")
    print(f"{'scheme':<32}{'to target s':>12}{'total s':>9}{'accuracy':>10}{'wait-outs':>11}"
          f"{'left out':>10}")
    rows = []
    for scheme, got in runs.items():
        row = summary(scheme, got)
        rows.append(row)
        tt = "never" if row["seconds_to_target"] is None else f"{row['seconds_to_target']:.2f}"
        print(f"{scheme:<32}{tt:>12}{row['runtime_s']:>9.2f}{row['accuracy']:>10.3f}"
              f"{row['waitouts']:>11.0f}{row['left_out']:>10.0f}", flush=True)
    return {"name": name, "base_s": BASE_S, **chain, "cases": rows}


def plot(path, scenarios, target):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(scenarios), figsize=(6.5 * len(scenarios), 4),
                             squeeze=False)
    for ax, sc in zip(axes[0], scenarios):
        for row in sc["cases"]:
            ax.plot([h[0] for h in row["history"]], [h[3] for h in row["history"]],
                    label=row["scheme"])
        ax.axhline(target, color="grey", lw=0.8, ls="--")
        ax.set_title(f"{sc['name']} stragglers ({sc['slowdown']:g}x slower while slow)")
        ax.set_xlabel("wall-clock seconds")
        ax.set_ylabel("test accuracy (first model)")
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3, help="launches per scheme (default 3)")
    ap.add_argument("--steps", type=int, default=60, help="steps per model (default 60)")
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                    help="run only this straggler scenario (repeatable; default both)")
    ap.add_argument("--json")
    ap.add_argument("--png")
    args = ap.parse_args(argv)
    if args.rounds < 1 or args.steps < 1:
        ap.error("--rounds and --steps must be at least 1")
    names = [n for n in SCENARIOS if n in (args.scenario or SCENARIOS)]
    scenarios = [scenario(name, args) for name in names]
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"workers": WORKERS, "models": MODELS, "steps": args.steps,
                       "target": args.target, "rounds": args.rounds,
                       "scenarios": scenarios}, f, indent=1)
    if args.png:
        plot(args.png, scenarios, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
