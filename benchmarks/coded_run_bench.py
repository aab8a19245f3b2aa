#!/usr/bin/env python3
"""The four schemes for real over MPI (8 workers) beside the simulator, on one trace.

    python benchmarks/coded_run_bench.py [--jobs 60] [--time-scale 0.05] \\
        [--json out.json] [--png out.png]

A Markov straggler trace for 8 workers (seconds at the uncoded load 1/8) is written
to HDF5; each scheme's parameters are chosen by best_params on a separate probe
trace; then each scheme runs as `mpicomm run -n 9 -- python examples/coded_training.py
--trace FILE --time-scale S` (workers sleep as the trace says, rescaled to the
scheme's load) and is simulated on the same trace (delays times the same scale). The
real runtimes include the master's and MPI's overheads, the simulated ones do not;
what should match is the ranking. --png draws both (needs matplotlib).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from mpicomm import coding, traces

N = 8
TRACE = dict(p_slow=0.05, p_recover=0.7, base=1.0, jitter=0.1, slowdown=6.0)
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "coded_training.py"


def flags(name, params):
    out = ["--scheme", name]
    for k, v in params.items():
        out += [f"--{k}", str(v)]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=60)
    ap.add_argument("--time-scale", type=float, default=0.05,
                    help="trace seconds x this = real seconds (default 0.05)")
    ap.add_argument("--json")
    ap.add_argument("--png")
    ap.add_argument("--replot", metavar="JSON", help="only draw --png from an earlier --json")
    args = ap.parse_args(argv)
    if args.replot:
        with open(args.replot) as f:
            plot(json.load(f)["rows"], args.png)
        return 0
    probe = coding.markov(N, 400, seed=11, **TRACE)
    delays = coding.markov(N, args.jobs + 10, seed=12, **TRACE)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        trace_file = Path(tmp) / "trace.h5"
        traces.write(trace_file, delays, kind="markov", load=1.0 / N, **TRACE)
        for name in coding.NAMES:
            params = {} if name == "none" else coding.best_params(
                probe, name, trace_load=1.0 / N, max_delay=3, max_w=5)[0]
            sch = coding.scheme(name, N, **params)
            sim = coding.simulate(sch, delays * args.time_scale, jobs=args.jobs,
                                  trace_load=1.0 / N)
            cmd = [sys.executable, "-m", "mpicomm", "run", "-n", str(N + 1), "--",
                   sys.executable, str(EXAMPLE), *flags(name, params), "--jobs",
                   str(args.jobs), "--trace", str(trace_file), "--time-scale",
                   str(args.time_scale)]
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                                 env=dict(os.environ))
            line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
            if res.returncode or not line:
                print(res.stdout[-2000:], res.stderr[-2000:], file=sys.stderr)
                raise SystemExit(f"{name}: the run failed")
            real = json.loads(line[0][7:])
            rows.append({"scheme": name, "params": params, "load": sch.load,
                         "simulated_s": sim.runtime, "simulated_waitouts": sim.waitouts,
                         "real_s": real["runtime_s"], "real_waitouts": real["waitouts"],
                         "max_rel_grad_err": real["max_rel_grad_err"]})
            print(f"{name:<7}{json.dumps(params):<28} load {sch.load:.3f}  simulated "
                  f"{sim.runtime:7.2f} s ({sim.waitouts} wait-outs)  real {real['runtime_s']:7.2f}"
                  f" s ({real['waitouts']} wait-outs)  grad err {real['max_rel_grad_err']:.1e}",
                  flush=True)
    order = lambda key: [r["scheme"] for r in sorted(rows, key=lambda r: r[key])]  # noqa: E731
    same = order("simulated_s") == order("real_s")
    print(f"ranking simulated: {order('simulated_s')}; real: {order('real_s')}; "
          f"{'the same' if same else 'different'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"workers": N, "jobs": args.jobs, "time_scale": args.time_scale,
                       "trace": TRACE, "rows": rows, "same_ranking": same}, f, indent=1)
    if args.png:
        plot(rows, args.png)
    return 0


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = [r["scheme"] for r in rows]
    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar([i - 0.2 for i in x], [r["simulated_s"] for r in rows], 0.4, label="simulated")
    ax.bar([i + 0.2 for i in x], [r["real_s"] for r in rows], 0.4, label="real (MPI, 8 workers)")
    ax.set_xticks(list(x), names)
    ax.set_ylabel("runtime, s")
    ax.set_title("Coded training on one straggler trace")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
