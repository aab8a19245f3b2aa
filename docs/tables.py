"""Tables for the documentation pages, written from benchmarks/results/*.json at each docs
build (conf.py calls write() into docs/_generated; the pages include them), so every
figure in them is a measured one.

    python docs/tables.py OUTDIR              the tables the pages include
    python docs/tables.py --readme README.md  README's table of figures, written anew
"""
import argparse
import json
from pathlib import Path

from plots import _load

MPIS = (("mpich", "MPICH 5.0.2"), ("openmpi", "Open MPI 5.0.11"))
SHORT = {"mpich": "MPICH", "openmpi": "Open MPI"}
MISSING = "–"


def _results(name):
    """benchmarks/results/NAME as a dict, empty where the file is not there."""
    return _load(name) or {}


def _ms(value, digits=3):
    return MISSING if value is None else f"{value:.{digits}f}"


def _table(header, align, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _allreduce_runs():
    """[(ranks, {mpi: results})] for the 4- and 2-rank runs of allreduce_bench.py."""
    return [(ranks, {mpi: _results(f"allreduce-{mpi}{suffix}.json") for mpi, _ in MPIS})
            for ranks, suffix in ((4, ""), (2, "-2ranks"))]


def allreduce_cases():
    header = ["case, best of 7", "ranks"]
    for _, name in MPIS:
        header += [f"{name}: loop / `Allreduce` ms", "by hand ms", "fused ms", "ratio"]
    cases = []
    for _, runs in _allreduce_runs():
        for d in runs.values():
            cases += [c["case"] for c in d.get("cases", []) if c["case"] not in cases]
    rows = []
    for case in cases:
        for ranks, runs in _allreduce_runs():
            row = [case, str(ranks)]
            for mpi, _ in MPIS:
                got = {c["case"]: c for c in runs[mpi].get("cases", [])}.get(case)
                if got is None:
                    row += [MISSING] * 4
                    continue
                row += [_ms(got["mpi_ms"], 2), _ms(got.get("hand_ms"), 2),
                        _ms(got["fused_ms"], 2), f"{got['ratio']:.2f}×"]
            rows.append(row)
    return _table(header, ["---", "---:"] + ["---:"] * 4 * len(MPIS), rows)


def allreduce_fresh():
    """The nonblocking form on new arrays each call, against by hand."""
    header = ["ranks"] + [f"{name}: {col}" for _, name in MPIS
                          for col in ("`iallreduce_fused` + `wait` ms", "by hand ms")]
    rows = []
    for ranks, runs in _allreduce_runs():
        row = [str(ranks)]
        for mpi, _ in MPIS:
            got = [c for c in runs[mpi].get("cases", []) if "ifused_ms" in c]
            row += [_ms(got[0]["ifused_ms"], 2), _ms(got[0]["hand_ms"], 2)] if got \
                else [MISSING] * 2
        rows.append(row)
    return _table(header, ["---:"] * (1 + 2 * len(MPIS)), rows)


def allreduce_overlap():
    header = ["ranks"]
    for _, name in MPIS:
        header += [f"{name} blocking", "start + wait", "step", "compute then blocking"]
    rows = []
    for ranks, runs in _allreduce_runs():
        row = [str(ranks)]
        for mpi, _ in MPIS:
            lap = runs[mpi].get("overlap")
            row += [MISSING] * 4 if lap is None else [
                _ms(lap["blocking_ms"], 2), f"{lap['start_ms']:.2f} + {lap['wait_ms']:.2f}",
                _ms(lap["step_ms"], 2), _ms(lap["serial_ms"], 2)]
        rows.append(row)
    return _table(header, ["---:"] * (1 + 4 * len(MPIS)), rows)


def _size(nbytes):
    for unit, shift in (("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << shift:
            return f"{nbytes >> shift} {unit}"
    return f"{nbytes} B"


def allreduce_algorithms(mpi):
    d = _results(f"allreduce-{mpi}.json")
    algos = d.get("algorithms", [])
    names = [k[:-3] for k in (algos[0] if algos else {}) if k.endswith("_ms")]
    label = dict(MPIS)[mpi]
    header = ["size"] + [f"{label} `mpi`" if n == "mpi" else n for n in names] + ["auto"]
    rows = [[_size(r["bytes"])] + [_ms(r[f"{n}_ms"]) for n in names] + [r["auto"]]
            for r in algos]
    return _table(header, ["---"] + ["---:"] * len(names) + ["---"], rows)


def allreduce_steps():
    header = ["step", "ranks"] + [f"{name}: {col}" for _, name in MPIS
                                  for col in ("full ms", "partial ms", "ratio")]
    d = {mpi: _results(f"allreduce-{mpi}.json") for mpi, _ in MPIS}
    cases = [s["case"] for s in next((v["steps"] for v in d.values() if v.get("steps")), [])]
    rows = []
    for case in cases:
        row = [case, str(next((v["ranks"] for v in d.values() if v), MISSING))]
        for mpi, _ in MPIS:
            got = {s["case"]: s for s in d[mpi].get("steps", [])}.get(case)
            row += [MISSING] * 3 if got is None else [
                _ms(got["full_ms"], 1), _ms(got["partial_ms"], 1), f"{got['ratio']:.2f}×"]
        rows.append(row)
    return _table(header, ["---", "---:"] + ["---:"] * 3 * len(MPIS), rows)


def c_programs():
    header = ["case"]
    for _, name in MPIS:
        header += [f"{name}: MPI µs", "auto µs", "pack µs", "MPI / auto", "auto / better"]
    runs = {mpi: _results(f"c-{mpi}.json") for mpi, _ in MPIS}
    cases = list(dict.fromkeys(c["case"] for d in runs.values() for c in d.get("cases", [])))
    rows = []
    for case in cases:
        row = [case]
        for mpi, _ in MPIS:
            got = {c["case"]: c for c in runs[mpi].get("cases", [])}.get(case)
            row += [MISSING] * 5 if got is None else [
                _ms(got["mpi_us"], 1),
                _ms(got["auto_us"], 1) + ("ᵖ" if got.get("auto_packed") else ""),
                _ms(got["pack_us"], 1),
                f"{got['auto_ratio']:.2f}×", f"{got['auto_vs_best']:.2f}×"]
        rows.append(row)
    return _table(header, ["---"] + ["---:"] * 5 * len(MPIS), rows)


def _ratio(name, key):
    return _x(_results(name).get(key))


def _digits_subs():
    """digits_<scenario>_<scheme>_vs_none: the scheme's seconds in all under a straggler
    scenario of digits_bench as a share of uncoded training's (every scheme trains the
    same models for the same steps); digits_<scenario>_msgc_vs_gc: m-sgc's against gc's."""
    seconds = {(sc["name"], c["scheme"]): c["runtime_s"]
               for sc in _results("digits.json").get("scenarios", []) for c in sc["cases"]}

    def share(scenario, scheme, of):
        got, base = seconds.get((scenario, scheme)), seconds.get((scenario, of))
        return _x(None if None in (got, base) else got / base)

    out = {}
    for scenario in ("mild", "heavy"):
        for scheme, key in (("gc", "gc"), ("sr-sgc", "srsgc"), ("m-sgc", "msgc"),
                            ("DistributedOptimizer partial", "partial")):
            out[f"digits_{scenario}_{key}_vs_none"] = share(scenario, scheme, "none")
        out[f"digits_{scenario}_msgc_vs_gc"] = share(scenario, "m-sgc", "gc")
    return out


def _fortran(case, key, mpis=("mpich", "openmpi")):
    return [r[key] for m in mpis for r in _results(f"fortran-{m}.json").get("rows", [])
            if r["case"] == case]


def _fortran_call_ns(mpi):
    rows = [r for r in _results(f"fortran-{mpi}.json").get("rows", [])
            if r["case"] == "proc_null"]
    return _ns_span([(r["auto_us"] - r["MPI_us"]) * 1e3 / 2 for r in rows])   # 2 calls


def _ns_span(values):
    """Nanoseconds added, as "+19–30 ns"."""
    got = _range(values, "{:.0f}", " ns")
    return got if got == MISSING else "+" + got


def _model_point(key, block=8, stride=512, total=65536):
    """A time of the MPICH model's measurement at one grid point, in µs."""
    d = _results("model-mpich.json")
    try:
        i, j, k = (d["block_bytes"].index(block), d["stride_bytes"].index(stride),
                   d["total_bytes"].index(total))
        return f"{d['seconds'][key][i][j][k] * 1e6:.0f} µs"
    except (KeyError, ValueError, TypeError, IndexError):
        return MISSING


def _kind_cost_subs():
    """benchmarks/kind_cost.py's lowest and highest cost per call of each setting."""
    ns = _results("kind-cost.json").get("ns_per_call", {})
    return {f"kind_cost_{key}": _range(ns.get(name, []), "{:.1f}", " ns")
            for key, name in (("host", "no device backend"), ("sim", "simulated device"))}


def _ft_subs():
    """benchmarks/ft_bench.py: the jobs whose MPI_Finalize or recovery hung."""
    d = _results("ft-openmpi.json")
    if not d:
        return {"ft_finalize_hangs": MISSING, "ft_recovery_hangs": MISSING, "ft_jobs": MISSING,
                "ft_finished": MISSING}
    return {"ft_finished": f"{d['finished']} of {d['jobs']}",
            "ft_finalize_hangs": f"{d['finalize_hangs']} of {d['jobs']}",
            "ft_recovery_hangs": f"{d['recovery_hangs']} of {d['jobs']}",
            "ft_jobs": str(d["jobs"])}


def _a2a(mpi):
    return [c for n in (2, 4) for c in _cases(f"alltoall-{mpi}-{n}.json")]


def substitutions():
    """Figures the pages quote in their prose, by name ({{ name }} in MyST)."""
    small = [c for m, _ in MPIS for c in _cases(f"c-{m}.json")
             if c["case"] == "ping-pong 64 x 8 B / 528 B"]
    grid = [c for m, _ in MPIS for c in _cases(f"app-types-{m}.json")
            if c["pattern"] == "grid fields (WRF)"]
    kept = [_results(f"startup-{m}.json").get("median_s", {}).get("preload-path, answers kept")
            for m, _ in MPIS]
    builds = [_results(f"startup-{m}.json").get("first_build_s", {}) for m, _ in MPIS]
    return {
        **_kind_cost_subs(),
        **_ft_subs(),
        **_ddt_subs(),
        **_internode_model_subs(),
        "build_host_s": _range([b["host kernels"] for b in builds if "host kernels" in b],
                               "{:.0f}", " s"),
        "build_cuda_s": _range([b["host and CUDA kernels"] for b in builds
                                if "host and CUDA kernels" in b], "{:.0f}", " s"),
        "startup_kept_ms": _range([v * 1e3 for v in kept if v is not None], "{:.0f}", " ms"),
        "model_nested_us": _model_point("pingpong_mpi_nested"),
        "model_vector_us": _model_point("pingpong_mpi_one_vector"),
        "model_pack_us": _model_point("pingpong_pack"),
        **_partial_model_subs(),
        **_scaling_subs(),
        **_coding_subs(),
        **_digits_subs(),
        "c_small_auto": _x_span(c["auto_ratio"] for c in small),
        "c_identical_span": _x_span(c["auto_ratio"] for m, _ in MPIS
                                    for c in _cases(f"c-{m}.json") if not c["auto_packed"]),
        "c_small_rt": _us_span([c["mpi_us"] for c in small]),
        "grid_pack_us": _us_span([c[k] * 1e6 for c in grid for k in ("pack_mpi_s",
                                                                      "pack_ours_s")]),
        "fortran_x_pack_openmpi": _x(max(_fortran("x_face", "pack_speedup", ("openmpi",)),
                                         default=None)),
        "fortran_y_pack": _x_span(_fortran("y_face", "pack_speedup")),
        "fortran_call_mpich": _fortran_call_ns("mpich"),
        "fortran_call_openmpi": _fortran_call_ns("openmpi"),
        "fortran_proc_null_ratio": _x_span(_fortran("proc_null", "auto_speedup")),
        "fortran_proc_null_mpi_ns": _range([v * 1e3 / 2 for v in _fortran("proc_null",
                                                                          "MPI_us")],
                                           "{:.0f}", " ns"),
        "fortran_z_auto": _x_span(_fortran("z_face", "auto_speedup")),
        "a2a_mpich_auto_packed": _x_span(c["auto_ratio"] for c in _a2a("mpich")
                                         if c["auto_packed"]),
        "a2a_mpich_pack_left": _x_span(c["ratio"] for c in _a2a("mpich")
                                       if not c["auto_packed"]),
        "a2a_openmpi_pack": _x_span(c["ratio"] for c in _a2a("openmpi")),
        "a2a_auto_left": _x_span(c["auto_ratio"] for m, _ in MPIS for c in _a2a(m)
                                 if not c["auto_packed"]),
        "p2p_mpich_auto": _ratio("p2p-mpich.json", "geomean_auto"),
        "p2p_mpich_halo_auto": _ratio("p2p-mpich.json", "halo_auto"),
        "p2p_openmpi_pack": _ratio("p2p-openmpi.json", "geomean_pack"),
        "p2p_openmpi_auto": _ratio("p2p-openmpi.json", "geomean_auto"),
        "p2p_openmpi_pipeline": _ratio("p2p-openmpi.json", "geomean_pipeline"),
        "p2p_mpich_auto_top": _top_case("p2p-mpich.json", "auto_ratio"),
        "p2p_mpich_auto_low": _ratio("p2p-mpich.json", "lowest_auto"),
        "p2p_openmpi_auto_span": _x_span(c["auto_ratio"] for c in _cases("p2p-openmpi.json")
                                         if not c.get("auto_packed")),
        "pack_long_of_copy": _span(c["of_copy"] for m, _ in MPIS
                                   for c in _cases(f"pack-{m}.json")
                                   if c["block"] >= 256 and "of_copy" in c),
        "pack_lowest": ", ".join(_lowest_case(m) for m, _ in MPIS),
        "pack_geomean_mpich": _ratio("pack-mpich.json", "geomean"),
        "pack_geomean_openmpi": _ratio("pack-openmpi.json", "geomean"),
        "app_pack_top": _x(max((c["pack_vs_mpi"] for m, _ in MPIS
                                for c in _cases(f"app-types-{m}.json")), default=None), 1),
        "fresh_vs_loop_mpich": _x(next((c["ratio"] for c in _cases("allreduce-mpich.json")
                                        if c["case"] == "1000 x 1 KiB, new"), None), 1),
        "internode_auto_mpich": _internode_auto("mpich"),
        "internode_auto_openmpi": _internode_auto("openmpi"),
        "internode_pair_mpich": _internode_pair("mpich"),
        "internode_pair_openmpi": _internode_pair("openmpi"),
        "ddt_vs_manual": ", ".join(
            f"{label} {_lowest_highest(c['auto_vs_manual'] for c in cases if 'manual_s' in c)}"
            for label, cases in _ddt_runs()),
        "slurm_mpich_added": _seconds_span(
            v["median_s"] - _results("slurm-mpich.json")["variants"][plain]["median_s"]
            for plain, name in (("srun", "mpicomm run (srun)"),
                                ("mpiexec", "mpicomm run (mpiexec)"))
            for v in [_results("slurm-mpich.json").get("variants", {}).get(name)] if v),
        "slurm_openmpi_plain": _seconds_span(
            v["median_s"] for name, v in _results("slurm-openmpi.json").get("variants", {}).items()
            if name in SLURM_PLAIN),
        "partial_vs_fused": _lowest_highest((c[f] / c["fused"] for m, _ in MPIS
                                             for c in _results(f"partial-{m}.json").get("calls", [])
                                             for f in ("tree", "funnel")), 1),
        **{f"overhead_{m}_{case}": _ns(m, case) for m, _ in MPIS
           for case in ("proc_null", "pingpong")},
        "commit_added": _us_span(c["added_us"] for m, _ in MPIS
                                 for c in _cases(f"commit-{m}.json")),
        "app_vs_hand": _lowest_highest((c["pack_vs_hand"] for m, _ in MPIS
                                        for c in _cases(f"app-types-{m}.json")), 1),
    }


def _lowest_case(mpi):
    cases = _cases(f"pack-{mpi}.json")
    if not cases:
        return f"{MISSING} ({SHORT[mpi]})"
    c = min(cases, key=lambda c: c["ratio"])
    return f"{_x(c['ratio'])} ({SHORT[mpi]}, `{c['case']}`)"


def _seconds_span(values):
    values = sorted(values)
    if not values:
        return MISSING
    low, high = f"{values[0]:.2f}", f"{values[-1]:.2f}"
    return f"{low} s" if low == high else f"{low}–{high} s"


def _x_span(values):
    """The lowest and highest of some ratios, as "0.89–1.09×"."""
    values = sorted(values)
    return MISSING if not values else f"{values[0]:.2f}–{values[-1]:.2f}×"


def _top_case(name, key):
    """The highest of a figure over a result's cases, with the case ("3.74× (case)")."""
    cases = _cases(name)
    if not cases:
        return MISSING
    c = max(cases, key=lambda c: c[key])
    return f"{_x(c[key])} ({c['case']})"


def _ns(mpi, case):
    """The interposer's cost per call in overhead.py's case, "+N ns"."""
    got = next((c for c in _cases(f"overhead-{mpi}.json") if c["case"] == case), None)
    return MISSING if got is None else f"{got['per_call_ns']:+.1f} ns"


def _us_span(values):
    values = sorted(values)
    return MISSING if not values else f"{values[0]:.2f}–{values[-1]:.2f} µs"


def _range(values, fmt, unit=""):
    """The lowest and highest of some values, each as fmt makes it, then unit: one value
    where both read the same ("19–30 ns", "78%")."""
    values = sorted(values)
    if not values:
        return MISSING
    low, high = fmt.format(values[0]), fmt.format(values[-1])
    return f"{low}{unit}" if low == high else f"{low}–{high}{unit}"


def _span(values):
    """The lowest and highest of some fractions, as percentages ("78–118%")."""
    return _range([v * 100 for v in values], "{:.0f}", "%")


def _x(v, digits=2):
    return MISSING if v is None else f"{v:.{digits}f}×"


def _percent(v):
    return MISSING if v is None else f"{v * 100:.0f}%"


def _cases(name):
    return _results(name).get("cases", [])


def _pack(mpi):
    d = _results(f"pack-{mpi}.json")
    top = max((c["ratio"] for c in d.get("cases", [])), default=None)
    return f"{_x(d.get('geomean'))} (up to {_x(top, 1)})"


def _p2p(mpi):
    d = _results(f"p2p-{mpi}.json")
    return f"{_x(d.get('geomean_auto'))} (halo exchanges {_x(d.get('halo_auto'))})"


def _lowest_highest(values, digits=2):
    values = list(values)
    if not values:
        return MISSING
    return f"{_x(min(values), digits)} / {_x(max(values), digits)}"


def _app_types(mpi):
    got = {c["pattern"]: c["pack_vs_mpi"] for c in _cases(f"app-types-{mpi}.json")}
    return " / ".join(_x(got.get(p)) for p in ("particles (LAMMPS)", "mesh boundary (SPECFEM3D)"))


def _halos(mpi):
    return [c for c in _cases(f"c-{mpi}.json") if c["case"].startswith("halo3d")]


def _pencils(mpi):
    got = {c["case"]: c["auto_ratio"] for c in _cases(f"alltoall-{mpi}-4.json")}
    return " / ".join(_x(got.get(f"pencil {n}^3 alltoallw")) for n in (128, 256))


def _fused(mpi, case):
    got = {c["case"]: c for c in _cases(f"allreduce-{mpi}.json")}.get(case)
    return MISSING if got is None else f"{_x(got['ratio'], 1)} / {_x(got['fused_vs_hand'])}"


def _straggler(mpi):
    steps = {s["case"]: s for s in _results(f"allreduce-{mpi}.json").get("steps", [])}
    got = steps.get("one straggler")
    return MISSING if got is None else _x(got["ratio"], 1)


def _partial(mpi):
    got = _results(f"partial-{mpi}.json").get("received")
    if not got:
        return MISSING
    return f"{got['funnel']['bytes'] / got['tree']['bytes']:.1f}× less"


def _never_packs(cases, text):
    """text, and "(never packs)" where auto packed none of these cases (the share of calls
    it packed, recorded by each benchmark)."""
    cases = list(cases)
    if cases and all("auto_packed" in c for c in cases) and \
            not any(c["auto_packed"] for c in cases):
        return text + " (never packs)"
    return text


# README's table of figures: (what, figure for an MPI).
def _torch(mpi, key, case):
    got = {c["case"]: c for c in _cases(f"torch-{mpi}-2.json")}
    return " / ".join(_x(got.get(f"{m}{case}", {}).get(key))
                      for m in ("many small layers", "few large layers"))


README_ROWS = [
    ("`MPI_Pack` of halo faces and strided types, geometric mean (`pack_bench.py`)", _pack),
    ("point-to-point with `auto`, geometric mean of 19 cases (`p2p_bench.py`)",
     lambda m: _p2p(m) if m == "mpich" else
     _never_packs(_cases(f"p2p-{m}.json"), _ratio(f"p2p-{m}.json", "geomean_auto"))),
    ("DDTBench's patterns, 2-rank ping-pong with `auto`, lowest / highest over the "
     "patterns (`ddt_bench.py`)",
     lambda m: _lowest_highest(c["auto_vs_mpi"] for c in _cases(f"ddt-{m}.json"))),
    ("across two nodes (network namespaces of one machine, TCP): the C programs, "
     "DDTBench's patterns and the all-to-alls with `auto`, the MPI and `auto` alone in "
     "the alternation, lowest / highest (`internode_bench.py`)",
     lambda m: _internode_alone(m)),
    ("a C program's 3-D halo exchange (`examples/halo3d.c`, 64³ and 128³, 6 and 26 "
     "neighbours, 2 ranks), `auto` with the built-in defaults, lowest / highest of 4 "
     "(`c_bench.py`)",
     lambda m: _never_packs(_halos(m), _lowest_highest(c["auto_ratio"] for c in _halos(m)))),
    ("`MPI_Pack` of a particle list / a mesh boundary (`app_types_bench.py`)", _app_types),
    ("pencil transposes, `MPI_Alltoallw` with `auto`, 4 ranks, 128³ / 256³ "
     "(`alltoall_bench.py`)",
     lambda m: _never_packs([c for c in _cases(f"alltoall-{m}-4.json")
                             if c["case"].startswith("pencil")], _pencils(m))),
    ("fused allreduce of 1,000 × 1 KiB arrays, 4 ranks, against a loop of `Allreduce` / the "
     "hand-written concatenate-`Allreduce`-copy (`allreduce_bench.py`)",
     lambda m: _fused(m, "1000 arrays x 1 KiB")),
    ("the same with new arrays every call", lambda m: _fused(m, "1000 x 1 KiB, new")),
    ("a step with one straggler, partial against full allreduce, 4 ranks "
     "(`allreduce_bench.py`)", _straggler),
    ("partial aggregation at 8 ranks: bytes the busiest rank receives per call, root funnel "
     "/ tree (`partial_bench.py`)", _partial),
    ("cost models of partial aggregation, fused allreduce and a halo exchange fitted between "
     "two nodes, against runs at 2, 4 and 8 ranks across them: measured / model with the "
     "cores shared, lowest / highest (`scaling_bench.py`)",
     lambda m: _lowest_highest(c["measured_over_shared"]
                               for c in _results(f"scaling-{m}.json").get("checks", []))),
    ("a PyTorch training step, `mpicomm.torch.DistributedOptimizer` against "
     "`DistributedDataParallel` on gloo, 2 ranks, many small / few large layers "
     "(`torch_bench.py`)", lambda m: _torch(m, "vs DDP", "")),
    ("the same, one rank straggling each step: `partial` mode against DDP",
     lambda m: _torch(m, "partial vs DDP", ", one straggler")),
]
README_BEGIN = "<!-- figures: written by docs/tables.py --readme from benchmarks/results -->"
README_END = "<!-- end of figures -->"


def readme_table():
    header = ["what"] + [SHORT[mpi] for mpi, _ in MPIS]
    rows = [[what] + [fn(mpi) for mpi, _ in MPIS] for what, fn in README_ROWS]
    return _table(header, ["---"] * (1 + len(MPIS)), rows)


def readme_with_table(text):
    """README's text with its table of figures written anew (between the markers)."""
    start, end = text.index(README_BEGIN) + len(README_BEGIN), text.index(README_END)
    return text[:start] + "\n" + readme_table() + text[end:]


def pack(mpi):
    d = _results(f"pack-{mpi}.json")
    cases = d.get("cases", [])
    label = dict(MPIS)[mpi]
    if not cases:
        return f"**{label}**: no results\n"
    head = (f"**{label}** (memcpy {d['memcpy_gbs']:.1f} GB/s, best of {d['reps']}): "
            f"geometric mean **{_x(d['geomean'])}**, lowest "
            f"{_x(min(c['ratio'] for c in cases))}\n\n")
    rows = [[f"`{c['case']}`", str(c["block"]), f"{c['bytes'] / 1e6:.2f}", f"{c['mpi_gbs']:.2f}",
             f"{c['mpicomm_gbs']:.2f}", _x(c["ratio"]), _percent(c.get("of_copy")),
             f"{c['bound_gbs']:.2f}", _percent(c.get("of_bound"))] for c in cases]
    return head + _table(["case", "block (B)", "packed (MB)", "MPI GB/s", "mpicomm GB/s",
                          "ratio", "of copy", "line bound GB/s", "of bound"],
                         ["---"] + ["---:"] * 8, rows)


def p2p():
    header = ["case", "block (B)"]
    for mpi, _ in MPIS:
        header += [f"{SHORT[mpi]}: MPI µs", "pack", "auto", "pipeline", "auto packed / piped"]
    runs = {mpi: {c["case"]: c for c in _cases(f"p2p-{mpi}.json")} for mpi, _ in MPIS}
    cases = list(dict.fromkeys(c for got in runs.values() for c in got))
    rows = []
    for case in cases:
        first = next(got[case] for got in runs.values() if case in got)
        row = [case, str(first["block"])]
        for mpi, _ in MPIS:
            c = runs[mpi].get(case)
            row += [MISSING] * 5 if c is None else [
                f"{c['mpi_us']:.0f}", _x(c["ratio"]), _x(c["auto_ratio"]),
                _x(c["pipeline_ratio"]),
                f"{c['auto_packed'] * 100:.0f}% / {c['auto_piped'] * 100:.0f}%"]
        rows.append(row)
    return _table(header, ["---", "---:"] + ["---:"] * 5 * len(MPIS), rows)


def _ddt_runs():
    """(label, cases) of ddt_bench.py's runs: each MPI with its measured model and with
    the built-in defaults."""
    return [(f"{SHORT[mpi]} {kind}", _cases(f"ddt-{mpi}{suffix}.json"))
            for mpi, _ in MPIS for kind, suffix in (("model", ""), ("built-in", "-builtin"))]


def _ddt_subs():
    """Over ddt_bench.py's runs: auto against the MPI where it packed nothing (identical
    calls), and under Open MPI the patterns packing won in both runs that auto left."""
    same = [c["auto_vs_mpi"] for _, cases in _ddt_runs() for c in cases if not c["auto_packs"]]
    runs = [_cases(f"ddt-openmpi{suffix}.json") for suffix in ("", "-builtin")]
    left = []
    for pattern in dict.fromkeys(c["pattern"] for c in runs[0]):
        got = [c for cases in runs for c in cases if c["pattern"] == pattern]
        if len(got) == 2 and all(c["pack_vs_mpi"] > 1.05 and not c["auto_packs"] for c in got):
            left.append(f"{pattern} {_x_span(c['pack_vs_mpi'] for c in got)}")
    return {"ddt_identical_span": _x_span(same),
            "ddt_openmpi_left": ", ".join(left) if left else "none"}


def _ddt_table(columns, cells, needs=None):
    """Per pattern, per run of _ddt_runs(): the columns cells(case) gives."""
    runs = _ddt_runs()
    header = ["pattern", "KiB"]
    for label, _ in runs:
        header += [f"{label}: {columns[0]}", *columns[1:]]
    patterns = list(dict.fromkeys(c["pattern"] for _, cases in runs for c in cases))
    rows = []
    for pattern in patterns:
        first = next(c for _, cases in runs for c in cases if c["pattern"] == pattern)
        row = [pattern, f"{first['bytes'] / 1024:.0f}"]
        for _, cases in runs:
            c = next((c for c in cases if c["pattern"] == pattern and (not needs or needs in c)),
                     None)
            row += [MISSING] * len(columns) if c is None else cells(c)
        rows.append(row)
    return _table(header, ["---", "---:"] + ["---:"] * len(columns) * len(runs), rows)


def ddt():
    return _ddt_table(("MPI µs", "auto", "pack"), lambda c: [
        f"{c['mpi_s'] * 1e6:.0f}", _x(c["auto_vs_mpi"]) + ("ᵖ" if c["auto_packs"] else ""),
        _x(c["pack_vs_mpi"])])


def ddt_manual():
    """Against DDTBench's manual path: per run, the manual path's time and how the MPI's
    own datatype path and auto compare with it (above 1: faster than packing by hand)."""
    return _ddt_table(("manual µs", "MPI", "auto"), lambda c: [
        f"{c['manual_s'] * 1e6:.0f}", _x(c["mpi_vs_manual"]), _x(c["auto_vs_manual"])],
        needs="manual_s")


def codegen():
    runs = {mpi: _results(f"codegen-{mpi}.json").get("us_per_exchange", []) for mpi, _ in MPIS}
    key = lambda c: (c["dims"], c["n"], c["ghost"], c["neighbors"])
    rounds = next((_results(f"codegen-{mpi}.json").get("rounds") for mpi, _ in MPIS
                   if runs[mpi]), None)
    header = [f"generated exchange, 4 ranks, µs (median of {rounds})"]
    for mpi, _ in MPIS:
        header += [f"{SHORT[mpi]} passthrough", "pack", "auto"]
    rows = []
    for case in dict.fromkeys(key(c) for got in runs.values() for c in got):
        dims, n, ghost, nb = case
        row = [f"{dims}-D, n={n}, ghost {ghost}, {nb}"]
        for mpi, _ in MPIS:
            c = next((c for c in runs[mpi] if key(c) == case), None)
            row += [MISSING] * 3 if c is None else [f"{c['passthrough']:.0f}"] + [
                f"{c[m]:.0f} ({_x(c['passthrough'] / c[m])})" for m in ("pack", "auto")]
        rows.append(row)
    return _table(header, ["---"] + ["---:"] * 3 * len(MPIS), rows)


SLURM_PLAIN = {"srun": "`srun`", "mpiexec": "`mpiexec`"}


def slurm():
    runs = {mpi: _results(f"slurm-{mpi}.json") for mpi, _ in MPIS}
    rounds = next((d.get("rounds") for d in runs.values() if d), None)
    header = [f"launch, median of {rounds} (best)"]
    for mpi, label in MPIS:
        header += [f"{label} s", "vs plain"]
    rows = []
    for name in dict.fromkeys(n for d in runs.values() for n in d.get("variants", {})):
        row = [SLURM_PLAIN.get(name, name)]
        for mpi, _ in MPIS:
            v = runs[mpi].get("variants", {}).get(name)
            ratio = v and (v.get("ratio_to_srun") or v.get("ratio_to_mpiexec"))
            row += [MISSING] * 2 if v is None else [
                f"{v['median_s']:.3f} ({v['best_s']:.3f})", _x(ratio) if ratio else ""]
        rows.append(row)
    return _table(header, ["---"] + ["---:"] * 2 * len(MPIS), rows)


PARTIAL_CASES = {"1000 arrays x 1 KiB": "1000 × 1 KiB", "100 arrays x 40 KiB": "100 × 40 KiB"}


def partial():
    runs = {mpi: _results(f"partial-{mpi}.json") for mpi, _ in MPIS}
    first = next((d for d in runs.values() if d), {})
    header = [f"{first.get('ranks', MISSING)} ranks, medians of {first.get('reps', MISSING)}"]
    for mpi, _ in MPIS:
        header += [f"{SHORT[mpi]} fused", "tree", "funnel"]
    forms = ("fused", "tree", "funnel")
    rows = []
    for case in dict.fromkeys(c["case"] for d in runs.values() for c in d.get("calls", [])):
        row = [f"a call, everyone on time, {PARTIAL_CASES.get(case, case)}, ms"]
        for mpi, _ in MPIS:
            c = next((c for c in runs[mpi].get("calls", []) if c["case"] == case), None)
            row += [MISSING] * 3 if c is None else [f"{c[f]:.2f}" for f in forms]
        rows.append(row)
    row = ["busiest rank per call, 100 × 40 KiB"]
    for mpi, _ in MPIS:
        got = runs[mpi].get("received", {})
        row += [""] + [MISSING if f not in got else
                       f"{got[f]['bytes'] / 2 ** 20:.1f} MiB, {got[f]['messages']:.0f} messages"
                       for f in forms[1:]]
    rows.append(row)
    row = ["a step with a straggler (20 ms + 200 ms on the last rank, deadline 10 ms), "
           "on-time ranks, ms"]
    for mpi, _ in MPIS:
        got = runs[mpi].get("straggler_ms", {})
        row += [MISSING if f not in got else f"{got[f]:.1f}" for f in forms]
    rows.append(row)
    return _table(header, ["---"] + ["---:"] * 3 * len(MPIS), rows)


STARTUP = (("python -c pass", "`python -c pass` (the interpreter alone)"),
           ("preload-path, answers kept",
            "`mpicomm preload-path`, answers kept (every launch after the first)"),
           ("preload-path, nothing kept", "`mpicomm preload-path`, nothing kept (probes the "
            "MPI, asks `mpicc`, hashes the sources)"),
           ("mpicomm run -n 1 -- true", "`mpicomm run -n 1 -- true`"),
           ("mpiexec -n 1 true", "`mpiexec -n 1 true`"))


def startup():
    runs = {mpi: _results(f"startup-{mpi}.json").get("median_s", {}) for mpi, _ in MPIS}
    rows = [[label] + [MISSING if key not in runs[mpi] else f"{runs[mpi][key] * 1e3:.0f} ms"
                       for mpi, _ in MPIS] for key, label in STARTUP]
    return _table([""] + [label for _, label in MPIS], ["---"] * (1 + len(MPIS)), rows)


def app_types():
    rows = [[c["pattern"], label, f"{c['bytes'] / 1e6:.2f}", _x(c["pack_vs_mpi"]),
             _x(c["pack_vs_hand"]), _x(c["auto_vs_mpi"]), _x(c["pack_method_vs_mpi"])]
            for mpi, label in MPIS for c in _cases(f"app-types-{mpi}.json")]
    return _table(["pattern", "MPI", "MB", "pack vs MPI", "pack vs by hand",
                   "ping-pong auto vs MPI", "pack method vs MPI"],
                  ["---", "---"] + ["---:"] * 5, rows)


def commit():
    runs = {mpi: {c["type"]: c for c in _cases(f"commit-{mpi}.json")} for mpi, _ in MPIS}
    header = ["type"]
    for mpi, _ in MPIS:
        header += [f"{SHORT[mpi]} alone", "with interposer", "added"]
    rows = []
    for kind in dict.fromkeys(k for got in runs.values() for k in got):
        row = [kind]
        for mpi, _ in MPIS:
            c = runs[mpi].get(kind)
            row += [MISSING] * 3 if c is None else [
                f"{c['alone_us']:.2f}", f"{c['interposer_us']:.2f}", f"+{c['added_us']:.2f}"]
        rows.append(row)
    return _table(header, ["---"] + ["---:"] * 3 * len(MPIS), rows)


def alltoall():
    header = ["case", "ranks"]
    for mpi, _ in MPIS:
        header += [f"{SHORT[mpi]} MPI µs", "pack", "auto", "auto packed"]
    rows = []
    for ranks in (2, 4):
        runs = {mpi: {c["case"]: c for c in _cases(f"alltoall-{mpi}-{ranks}.json")}
                for mpi, _ in MPIS}
        for case in dict.fromkeys(c for got in runs.values() for c in got):
            row = [case, str(ranks)]
            for mpi, _ in MPIS:
                c = runs[mpi].get(case)
                row += [MISSING] * 4 if c is None else [
                    f"{c['mpi_us']:.0f}", _x(c["ratio"]), _x(c["auto_ratio"]),
                    f"{c['auto_packed'] * 100:.0f}%"]
            rows.append(row)
    return _table(header, ["---", "---"] + ["---:"] * 4 * len(MPIS), rows)


def _us(v):
    return f"{v:.3f}" if v < 1 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


# benchmarks/internode_bench.py's runs: (label, file suffix, case key, the MPI's µs, pack
# and auto as the MPI's time over theirs, whether auto packed).
INTERNODE = (
    ("C program (`c_bench.py`)", "c", "case", lambda c: c["mpi_us"],
     lambda c: c["mpi_us"] / c["pack_us"], lambda c: c["auto_ratio"],
     lambda c: c["auto_packed"] > 0.5),
    ("DDTBench (`ddt_bench.py`)", "ddt", "pattern", lambda c: c["mpi_s"] * 1e6,
     lambda c: c["pack_vs_mpi"], lambda c: c["auto_vs_mpi"], lambda c: c["auto_packs"]),
    ("all-to-all (`alltoall_bench.py`)", "alltoall", "case", lambda c: c["mpi_us"],
     lambda c: c["ratio"], lambda c: c["auto_ratio"], lambda c: c["auto_packed"] > 0.5),
)


def _internode_cases(mpi):
    """[(benchmark label, case name, MPI µs, pack, auto, auto packed)] across two nodes."""
    out = []
    for label, suffix, key, mpi_us, pack_x, auto_x, packed in INTERNODE:
        for c in _cases(f"internode-{mpi}-{suffix}.json"):
            out.append((label, c[key], mpi_us(c), pack_x(c), auto_x(c), bool(packed(c))))
    return out


def internode():
    """Across two nodes: per case, per MPI, the MPI's time and pack and auto against it
    (ᵖ: auto packed)."""
    header = ["benchmark", "case"]
    for mpi, _ in MPIS:
        header += [f"{SHORT[mpi]}: MPI µs", "pack", "auto"]
    runs = {mpi: {(c[0], c[1]): c for c in _internode_cases(mpi)} for mpi, _ in MPIS}
    keys = list(dict.fromkeys(k for got in runs.values() for k in got))
    rows = []
    for key in keys:
        row = list(key)
        for mpi, _ in MPIS:
            c = runs[mpi].get(key)
            row += [MISSING] * 3 if c is None else [
                _us(c[2]), _x(c[3]), _x(c[4]) + ("ᵖ" if c[5] else "")]
        rows.append(row)
    return _table(header, ["---", "---"] + ["---:"] * 3 * len(MPIS), rows)


def _internode_pair_ratios(mpi):
    """auto against the MPI in DDTBench's patterns and the all-to-alls across two nodes,
    the two alone in the alternation."""
    return ([c["auto_vs_mpi"] for c in _cases(f"internode-{mpi}-ddt-pair.json")] +
            [c["auto_ratio"] for c in _cases(f"internode-{mpi}-alltoall-pair.json")])


def _internode_pair(mpi):
    """_internode_pair_ratios: lowest / highest."""
    return _lowest_highest(_internode_pair_ratios(mpi))


def _internode_auto(mpi):
    """auto against the MPI across two nodes: lowest / highest over every case."""
    return _lowest_highest(c[4] for c in _internode_cases(mpi))


def _internode_model_subs():
    """DDTBench across the two nodes with a model measured there: auto against the MPI
    (all modes, and the MPI and auto alone), and how many patterns auto packed."""
    out = {}
    for mpi, _ in MPIS:
        cases = _cases(f"internode-{mpi}-model-ddt.json")
        pair = _cases(f"internode-{mpi}-model-ddt-pair.json")
        out[f"internode_model_{mpi}"] = _lowest_highest(c["auto_vs_mpi"] for c in cases)
        out[f"internode_model_pair_{mpi}"] = _lowest_highest(c["auto_vs_mpi"] for c in pair)
        out[f"internode_model_packed_{mpi}"] = (
            f"{sum(c['auto_packs'] for c in cases)} of {len(cases)}" if cases else MISSING)
    return out


def _internode_alone(mpi):
    """auto against the MPI across two nodes as a program meets it: the C programs (a
    launch per variant) and DDTBench's patterns and the all-to-alls with the MPI and auto
    alone in the alternation; lowest / highest."""
    return _lowest_highest([c["auto_ratio"] for c in _cases(f"internode-{mpi}-c.json")] +
                           _internode_pair_ratios(mpi))


def fortran():
    runs = {mpi: _results(f"fortran-{mpi}.json") for mpi, _ in MPIS}
    header = ["case", "n"]
    for mpi, _ in MPIS:
        header += [f"{runs[mpi].get('mpi', SHORT[mpi])}: MPI µs", "auto ×", "pack ×"]
    keys = list(dict.fromkeys((r["case"], r["n"]) for d in runs.values()
                              for r in d.get("rows", [])))
    rows = []
    for case, n in keys:
        row = [case.replace("_", " "), str(n)]
        for mpi, _ in MPIS:
            r = next((r for r in runs[mpi].get("rows", []) if (r["case"], r["n"]) == (case, n)),
                     None)
            row += [MISSING] * 3 if r is None else [
                _us(r["MPI_us"]), f"{r['auto_speedup']:.2f}", f"{r['pack_speedup']:.2f}"]
        rows.append(row)
    return _table(header, ["---", "---:"] + ["---:"] * 3 * len(MPIS), rows)


def _bytes(n):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n:.0f} B"


def _seconds(s):
    return f"{s:.2f} s" if s >= 1 else f"{s * 1e3:.1f} ms"


def partial_model():
    d = _results("partial-mpich.json")
    model = d.get("model")
    if not model:
        return "no results\n"
    measured = {c["case"]: c for c in d.get("calls", [])}.get("100 arrays x 40 KiB", {})
    rows = []
    for ranks, p in sorted(model["predicted_ms"].items(), key=lambda kv: int(kv[0])):
        tree, funnel = _seconds(p["tree"] / 1e3), _seconds(p["funnel"] / 1e3)
        if int(ranks) == d.get("ranks") and measured:
            tree += f" (measured {_seconds(measured['tree'] / 1e3)})"
            funnel += f" (measured {_seconds(measured['funnel'] / 1e3)})"
        rows.append([f"{int(ranks):,}", tree, funnel, _bytes(p["tree_busiest_bytes"]),
                     _bytes(p["funnel_root_bytes"])])
    return _table(["ranks", "tree (k = 2)", "funnel", "bytes the busiest rank receives: tree",
                   "funnel's root"], ["---:"] * 5, rows)


def _ms3(ms):
    """Milliseconds to three significant figures ("0.142 ms", "27.3 ms", "1,290 ms")."""
    return f"{ms:,.0f} ms" if ms >= 1000 else f"{float(f'{ms:.3g}'):g} ms"


def scaling(mpi):
    """The scaling models against the runs across two nodes: predicted (one rank per
    core), predicted with the cores shared, measured, and measured over the latter."""
    rows = [[f"{c['ranks']} ({c['per_node']}, {c['ranks_per_core']:g})", c["case"],
             _ms3(c["predicted_ms"]), _ms3(c["shared_ms"]), _ms3(c["measured_ms"]),
             _x(c["measured_over_shared"])]
            for c in _results(f"scaling-{mpi}.json").get("checks", [])]
    return _table(["ranks (per node, per core)", "case", "predicted", "cores shared",
                   "measured", "measured / cores shared"], ["---:", "---"] + ["---:"] * 4,
                  rows)


def scaling_projection():
    """The fitted models at 1,024 and 4,096 ranks, per MPI."""
    header = ["ranks", "per node"]
    for mpi, _ in MPIS:
        header += [f"{SHORT[mpi]}: tree", "fused", "halo"]
    runs = {mpi: {(p["ranks"], p["per_node"]): p for p in _results(f"scaling-{mpi}.json")
                  .get("projection", [])} for mpi, _ in MPIS}
    keys = list(dict.fromkeys(k for got in runs.values() for k in got))
    rows = []
    for key in keys:
        row = [f"{key[0]:,}", str(key[1])]
        for mpi, _ in MPIS:
            p = runs[mpi].get(key)
            row += [MISSING] * 3 if p is None else [
                _ms3(p[f"{c}_ms"]) for c in ("tree", "fused", "halo")]
        rows.append(row)
    return _table(header, ["---:", "---:"] + ["---:"] * 3 * len(MPIS), rows)


def _scaling_subs():
    out = {}
    for mpi, _ in MPIS:
        d = _results(f"scaling-{mpi}.json")
        f = d.get("fit")
        out[f"scaling_fit_{mpi}"] = MISSING if not f else "; ".join(
            f"{what} a = {f[k + '_a_us']:.1f} µs, b = {f[k + '_b_ns_per_byte']:.3f} ns/B"
            for what, k in (("on a node", "local"), ("crossing", "local_x"),
                            ("between the nodes", "remote"), ("crossing", "remote_x"))) + (
            f"; add c = {f['c_ns_per_byte']:.3f} ns/B, copy d = {f['d_ns_per_byte']:.3f} ns/B")
        for case in ("tree", "fused", "halo"):
            out[f"scaling_{case}_{mpi}"] = _x_span(
                c["measured_over_shared"] for c in d.get("checks", []) if c["case"] == case)
    out["scaling_cores"] = next((str(_results(f"scaling-{mpi}.json")["cores"]) for mpi, _ in MPIS
                                 if "cores" in _results(f"scaling-{mpi}.json")), MISSING)
    return out


def _partial_model_subs():
    out = {}
    for mpi, _ in MPIS:
        d = _results(f"partial-{mpi}.json")
        model = d.get("model") or {}
        out[f"partial_model_{mpi}"] = MISSING if not model else (
            f"a = {model['a_us']:.1f} µs, b = {model['b_ns_per_byte']:.3f} ns/B, "
            f"c = {model['c_ns_per_byte']:.3f} ns/B")
        measured = {c["case"]: c for c in d.get("calls", [])}.get("100 arrays x 40 KiB")
        predicted = model.get("predicted_ms", {}).get(str(d.get("ranks")))
        out[f"partial_model_ratio_{mpi}"] = MISSING if not (measured and predicted) else \
            _x_span(measured[k] / predicted[k] for k in ("tree", "funnel"))
        out["partial_model_bytes"] = _bytes(model["bytes"]) if model else MISSING
    return out


def coding_loads():
    rows = [[str(r["lam"])] + [f"{r[k]:.4f}" for k in ("none", "gc", "sr-sgc", "m-sgc")]
            for r in _results("coding.json").get("loads", [])]
    return _table(["λ", "none", "gc", "sr-sgc", "m-sgc"], ["---:"] * 5, rows)


def coding_simulated():
    rows = [[c["scheme"], f"`{json.dumps(c['params'])}`", f"{c['load']:.4f}", str(c["T"]),
             f"{c['runtime_s']:.0f}", str(c["waitouts"])]
            for c in _results("coding.json").get("simulated", [])]
    return _table(["scheme", "parameters", "load", "T", "runtime s", "wait-outs"],
                  ["---", "---"] + ["---:"] * 4, rows)


def _coding_subs():
    d = _results("coding.json")
    speed = d.get("speed", {})
    sim = speed.get("simulate_256x10000_ms", {})
    gain = d.get("m_sgc_gain_over_gc")
    return {"coding_decode_ms": _ms(speed.get("decode_median_ms"), 2) + " ms",
            "coding_decode_cached_ms": _ms(speed.get("decode_cached_ms"), 2) + " ms",
            "coding_simulate_ms": (f"{min(sim.values()):.0f}–{max(sim.values()):.0f} ms"
                                   if sim else MISSING),
            "coding_msgc_vs_gc": MISSING if gain is None else f"{gain * 100:.0f}%",
            "coding_first_simulate_s": MISSING if "first_simulate_s" not in speed else
            f"{speed['first_simulate_s']:.1f} s",
            **_coded_run_subs()}


def _coded_run_subs():
    """The coded run's real times against its simulation, and m-sgc's gain over gc."""
    run = _results("coded-run.json")
    rows = {r["scheme"]: r for r in run.get("rows", [])}
    off = [abs(r["real_s"] / r["simulated_s"] - 1) for r in rows.values()]
    gc, msgc = rows.get("gc"), rows.get("m-sgc")
    same = run.get("same_ranking")
    waits = all(r["real_waitouts"] == r["simulated_waitouts"] for r in rows.values())
    return {"coded_agreement": MISSING if same is None or not rows else
            f"{'the same' if same else 'a different'} ranking, "
            f"{'the same' if waits else 'different'} wait-outs",
            "coded_real_vs_simulated": MISSING if not off else f"{max(off) * 100:.0f}%",
            "coded_real_msgc_vs_gc": MISSING if not (gc and msgc) else
            f"{(1 - msgc['real_s'] / gc['real_s']) * 100:.0f}%"}


def _reduced_in(threaded):
    """Where DistributedOptimizer's auto reduced the buckets, over the repetitions."""
    ways = {True: "thread", False: "at step()"}
    got = [threaded] if isinstance(threaded, bool) else list(threaded or [])
    if not got:
        return MISSING
    if len(set(got)) == 1:
        return ways[got[0]]
    return ", ".join(f"{ways[w]} ×{got.count(w)}" for w in (True, False))


def torch_steps():
    header = ["model, ranks", "MPI", "DDP (gloo) ms", "Allreduce loop ms",
              "DistributedOptimizer ms", "× DDP", "without shared memory × DDP",
              "loop × DDP", "no reduction × DDP", "reduced (auto)"]
    rows, strag = [], []
    for mpi, name in MPIS:
        for n in (2, 4):
            for c in _cases(f"torch-{mpi}-{n}.json"):
                if "DDP (gloo) ms" in c:
                    rows.append([f"{c['case']}, {n}", SHORT[mpi], _ms(c["DDP (gloo) ms"], 2),
                                 _ms(c["Allreduce loop ms"], 2),
                                 _ms(c["DistributedOptimizer ms"], 2), _x(c["vs DDP"]),
                                 _x(c.get("no shared memory vs DDP")),
                                 _x(c["loop vs DDP"]), _x(c.get("no reduction vs DDP")),
                                 _reduced_in(c.get("reduction thread"))])
                else:
                    strag.append([f"{c['case']}, {n}", SHORT[mpi], _ms(c["DDP (gloo) s"], 2),
                                  _ms(c["DistributedOptimizer s"], 2),
                                  _ms(c["DistributedOptimizer partial s"], 2),
                                  _x(c["partial vs DDP"]),
                                  str(c["steps with a rank left out"])])
    out = _table(header, ["---", "---"] + ["---:"] * 7 + ["---"], rows)
    out += "\n" + _table(["model, ranks", "MPI", "DDP (gloo) s", "allreduce s", "partial s",
                          "partial × DDP", "steps with a rank left out"],
                         ["---", "---"] + ["---:"] * 5, strag)
    return out


def digits():
    d = _results("digits.json")
    rows = []
    for sc in d.get("scenarios", []):
        for c in sc["cases"]:
            rows.append([f"{sc['name']} ({sc['slowdown']:g}×)", c["scheme"], str(c["ranks"]),
                         _ms(c["runtime_s"], 2),
                         _ms(c["runtime_s"] / (c["models"] * d["steps"]) * 1e3, 1),
                         _ms(c["seconds_to_target"], 2) + (
                             "" if c["reached"] == c["runs"] else
                             f" ({c['reached']} of {c['runs']})"),
                         _percent(c["accuracy"]), f"{c['waitouts']:.0f}",
                         f"{c['left_out']:.0f}"])
    target = _percent(d.get("target"))
    return _table(["stragglers (slowdown)", "scheme", "ranks", "s in all", "ms per step",
                   f"s to {target} (first model)", "test accuracy", "wait-outs",
                   "steps with a rank left out"], ["---", "---"] + ["---:"] * 7, rows)


TABLES = {
    "fortran.md": fortran,
    "alltoall.md": alltoall,
    "ddt.md": ddt,
    "ddt-manual.md": ddt_manual,
    "startup.md": startup,
    "partial-calls.md": partial,
    "slurm-launch.md": slurm,
    "codegen-exchanges.md": codegen,
    "app-types.md": app_types,
    "commit.md": commit,
    "p2p.md": p2p,
    "pack-mpich.md": lambda: pack("mpich"),
    "pack-openmpi.md": lambda: pack("openmpi"),
    "c-programs.md": c_programs,
    "allreduce-cases.md": allreduce_cases,
    "allreduce-fresh.md": allreduce_fresh,
    "allreduce-overlap.md": allreduce_overlap,
    "allreduce-algorithms-mpich.md": lambda: allreduce_algorithms("mpich"),
    "allreduce-algorithms-openmpi.md": lambda: allreduce_algorithms("openmpi"),
    "allreduce-steps.md": allreduce_steps,
    "torch.md": torch_steps,
    "partial-model.md": partial_model,
    "coding-loads.md": coding_loads,
    "coding-simulated.md": coding_simulated,
    "digits.md": digits,
    "internode.md": internode,
    "scaling-mpich.md": lambda: scaling("mpich"),
    "scaling-openmpi.md": lambda: scaling("openmpi"),
    "scaling-projection.md": scaling_projection,
}


def write(outdir):
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for name, make in TABLES.items():
        (outdir / name).write_text(make())
    return list(TABLES)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Write the documentation's tables and figures "
                                 "from benchmarks/results (conf.py does it at every build).")
    ap.add_argument("outdir", nargs="?", help="the folder to write them into")
    ap.add_argument("--readme", metavar="README.md",
                    help="rewrite README's table of figures in this file instead")
    args = ap.parse_args(argv)
    if args.readme:
        path = Path(args.readme)
        path.write_text(readme_with_table(path.read_text()))
        return
    if not args.outdir:
        ap.error("name the folder to write into, or --readme README.md")
    for name in write(args.outdir):
        print(name)


if __name__ == "__main__":
    main()
