#!/usr/bin/env python3
"""The measurement behind the interposer's choice: where packing beats the MPI's own
derived-type path, by block length, stride, message size, construction (one long
vector, or nested vectors of 64 blocks) and pattern (a ping-pong of blocking calls, an
exchange of nonblocking ones), as `mpicomm measure` times it. The built-in
defaults (MPICOMM_MODEL=builtin) are read off this map.

    mpicomm measure -o model.h5
    python benchmarks/model_map.py model.h5 [--json results/model-mpich.json]

Prints `mpicomm info`'s map and writes the times and ratios (MPI / pack) as JSON.
"""
import argparse
import json

import numpy as np

from mpicomm import model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    m = model.read(args.model)
    a = m["attrs"]
    print("\n".join(model.summary(args.model, a["mpi_vendor"])))
    if args.json:
        def table(name):
            return np.where(np.isfinite(t := model._grid(m, name)), t, None).tolist()
        out = {"mpi": a["mpi_library_version"], "host": a.get("host"), "date": a.get("date"),
               "reps": int(a.get("reps", 0)),
               "block_bytes": [int(b) for b in m["block_bytes"]],
               "stride_bytes": model.strides(m),
               "total_bytes": [int(s) for s in m["total_bytes"]],
               "seconds": {f"{pattern}_{name}": table(f"{group}/{dataset}")
                           for pattern, group in (("pingpong", "method"),
                                                  ("exchange", "exchange"))
                           for name, dataset in (("mpi_one_vector", "passthrough"),
                                                 ("mpi_nested", "passthrough_nested"),
                                                 ("pack", "pack"))},
               "ratio_mpi_over_pack": {
                   f"{pattern}_{name}": np.exp(model.gains(m, nested, pattern == "exchange"))
                   .round(3).tolist()
                   for pattern in ("pingpong", "exchange")
                   for name, nested in (("one_vector", False), ("nested", True))}}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
