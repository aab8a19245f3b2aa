#!/usr/bin/env python3
"""The per-call cost of telling host from device memory (benchmarks/kind_cost.c), built
with the interposer's device layer: without a device backend, on the simulated device,
and with the CUDA driver loaded (where there is one). Each setting runs --runs times
(each run: best of 7 rounds of a million calls); the lowest and highest are reported.

    python benchmarks/kind_cost.py [--runs 5] [--json FILE]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

from mpicomm import build

SETTINGS = (("no device backend", {}, []), ("simulated device", {"MPICOMM_DEVICE": "sim"}, []),
            ("CUDA driver loaded", {}, ["--cuda"]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="runs of each setting (default 5)")
    p.add_argument("--json", metavar="FILE", help="write the figures to FILE")
    args = p.parse_args(argv)
    src = build.source_dir()
    here = os.path.dirname(os.path.abspath(__file__))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "kind_cost")
        subprocess.run(["cc", "-O2", "-std=gnu11",
                        *(f"-I{src / d}" for d in ("include", "core", "gen", "device")),
                        os.path.join(here, "kind_cost.c"),
                        *map(str, sorted((src / "core").glob("*.c"))),
                        str(src / "gen" / "mpic_kernels.c"),
                        *map(str, sorted((src / "device").glob("*.c"))),
                        "-ldl", "-lpthread", "-o", exe], check=True)
        env = {k: v for k, v in os.environ.items() if k != "MPICOMM_DEVICE"}
        for name, extra, cmd in SETTINGS:
            ns = []
            for _ in range(args.runs):
                out = subprocess.run([exe, *cmd], env={**env, **extra}, capture_output=True,
                                     text=True, check=True).stdout.strip()
                found = re.search(r"([0-9.]+) ns per call", out)
                if not found:
                    print(f"{name}: {out}")
                    break
                ns.append(float(found.group(1)))
            if ns:
                results[name] = ns
                print(f"{name}: {min(ns):.1f} to {max(ns):.1f} ns per call ({len(ns)} runs)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"runs": args.runs, "ns_per_call": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
