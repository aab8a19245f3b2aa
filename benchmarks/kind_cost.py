#!/usr/bin/env python3
"""The per-call cost of telling host from device memory (benchmarks/kind_cost.c), built
with the interposer's device layer: without a device backend, on the simulated device,
and with the CUDA driver loaded (where there is one).

    python benchmarks/kind_cost.py
"""
import os
import subprocess
import sys
import tempfile

from mpicomm import build


def main():
    src = build.source_dir()
    here = os.path.dirname(os.path.abspath(__file__))
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
        for extra, args in (({}, []), ({"MPICOMM_DEVICE": "sim"}, []), ({}, ["--cuda"])):
            out = subprocess.run([exe, *args], env={**env, **extra}, capture_output=True,
                                 text=True, check=True)
            print(out.stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
