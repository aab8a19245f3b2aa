"""Plots for the benchmark page, drawn from benchmarks/results/*.json at each docs build:
for each benchmark, the speed of the interposer (or of mpicomm's path) over the MPI's own
per case, one bar per MPI, on a log scale with the break-even line at 1, so a reader sees
at a glance where it wins and where it does not.

    python docs/plots.py OUTDIR      (conf.py calls main() into docs/_generated)
"""
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
MPIS = ("mpich", "openmpi")


def _load(name):
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def _pack(mpi):
    d = _load(f"pack-{mpi}.json")
    return d and [(c["case"], c["ratio"]) for c in d["cases"]]


def _p2p(mpi):
    d = _load(f"p2p-{mpi}.json")
    return d and [(c["case"], c["auto_ratio"]) for c in d["cases"]]


def _alltoall(mpi):
    out = []
    for ranks in (2, 4):
        d = _load(f"alltoall-{mpi}-{ranks}.json")
        out += [(f"{c['case']}, {ranks} ranks", c["mpi_us"] / c["auto_us"])
                for c in (d or {}).get("cases", [])]
    return out or None


def _fortran(mpi):
    d = _load(f"fortran-{mpi}.json")
    return d and [(f"{r['case']} n={r['n']}", r["auto_speedup"]) for r in d["rows"]]


def _codegen(mpi):
    d = _load(f"codegen-{mpi}.json")
    return d and [(f"{r['dims']}-D g{r['ghost']} {r['neighbors']} n={r['n']}",
                   r["passthrough"] / r["auto"]) for r in d["us_per_exchange"]]


def _c(mpi):
    d = _load(f"c-{mpi}.json")
    return d and [(c["case"], c["auto_ratio"]) for c in d["cases"]]


def _allreduce(mpi):
    d = _load(f"allreduce-{mpi}.json")
    return d and [(c["case"], c["ratio"]) for c in d["cases"]]


NICE_TICKS = [0.1, 0.2, 0.3, 0.5, 0.7, 0.85, 1, 1.2, 1.5, 2, 3, 5, 7, 10, 15, 20, 30, 50, 100,
              200, 500, 1000]

# file, title, what the ratio is, the rows per MPI
FIGURES = [
    ("pack.png", "MPI_Pack (benchmarks/pack_bench.py)", "interposer / MPI (GB/s)", _pack),
    ("p2p.png", "Point-to-point, auto (benchmarks/p2p_bench.py)", "MPI time / auto time", _p2p),
    ("alltoall.png", "All-to-alls with derived types, auto (benchmarks/alltoall_bench.py)",
     "MPI time / auto time", _alltoall),
    ("c.png", "C programs, auto with the built-in defaults (benchmarks/c_bench.py)",
     "MPI time / auto time", _c),
    ("fortran.png", "A Fortran halo program, auto (benchmarks/fortran_bench.py)",
     "MPI time / auto time", _fortran),
    ("codegen.png", "Generated halo exchanges, auto (benchmarks/codegen_bench.py)",
     "MPI time / auto time", _codegen),
    ("allreduce.png", "Fused allreduce (benchmarks/allreduce_bench.py)",
     "MPI (a loop of Allreduce, or one Allreduce) / fused", _allreduce),
]


def draw(outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    made = []
    for fname, title, ylabel, rows in FIGURES:
        per_mpi = {mpi: rows(mpi) for mpi in MPIS}
        per_mpi = {mpi: r for mpi, r in per_mpi.items() if r}
        if not per_mpi:
            continue
        cases = list(dict.fromkeys(c for r in per_mpi.values() for c, _ in r))
        width = 0.8 / len(per_mpi)
        fig, ax = plt.subplots(figsize=(max(6, 0.55 * len(cases) + 2), 4))
        for k, (mpi, r) in enumerate(per_mpi.items()):
            got = dict(r)
            xs = [i + (k - (len(per_mpi) - 1) / 2) * width for i, c in enumerate(cases)
                  if c in got]
            ax.bar(xs, [got[c] for c in cases if c in got], width, label=mpi)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_yscale("log")
        values = [v for r in per_mpi.values() for _, v in r] + [1.0]
        low, high = min(values) / 1.15, max(values) * 1.15
        ax.set_ylim(low, high)
        # Labelled ticks on both sides of 1, whatever the range: a log axis labels only
        # its decades by itself.
        ax.yaxis.set_major_locator(ticker.FixedLocator(
            [t for t in NICE_TICKS if low <= t <= high]))
        ax.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xticks(range(len(cases)))
        ax.set_xticklabels(cases, rotation=40, ha="right", fontsize=8)
        ax.set_ylabel(ylabel + "\n(above 1: faster)", fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(outdir / fname, dpi=90)
        plt.close(fig)
        made.append(fname)
    return made


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit("usage: plots.py OUTDIR")
    for name in draw(argv[0]):
        print(name)


if __name__ == "__main__":
    main()
