#!/usr/bin/env python3
"""How often Open MPI's ULFM recovery and the MPI_Finalize after it hang: --jobs
launches of a 4-rank job (`mpicomm run --ft`, tests/support/ft_kill.py) whose rank 1
dies at step 2 of 5; the survivors shrink with mpicomm.ft and finish.

    python benchmarks/ft_bench.py [--jobs 30] [--finalize-s 3] [--timeout 60] [--json F]

Per job: finished (the survivors' sums right: 10 for the two steps before the failure,
8 for the three after), the finalize watchdog fired in
some process (its message on standard error: MPI_Finalize did not return within
MPICOMM_FT_FINALIZE_S), or hung (killed at --timeout: the recovery itself never
returned), and its wall time. Open MPI only (MPICH has no ULFM).
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from mpicomm import installation

PROGRAM = Path(__file__).resolve().parent.parent / "tests" / "support" / "ft_kill.py"
EXPECTED = [10.0, 10.0, 8.0, 8.0, 8.0]      # ranks 0-3 add rank + 1; rank 1 is lost at step 2
WATCHDOG = "mpicomm: MPI_Finalize did not return within"


def job(finalize_s, timeout):
    cmd = [sys.executable, "-m", "mpicomm", "run", "--ft", "-n", "4", "--", sys.executable,
           str(PROGRAM), "--kill-rank", "1", "--kill-at-step", "2", "--steps", "5"]
    env = {**os.environ, "MPICOMM_FT_FINALIZE_S": str(finalize_s)}
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        hung = False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        hung = True
    results = [json.loads(ln[7:]) for ln in out.splitlines() if ln.startswith("RESULT ")]
    return {"seconds": time.perf_counter() - t, "hung": hung,
            "finished": bool(results) and results[0]["sums"] == EXPECTED,
            "finalize_watchdog": err.count(WATCHDOG)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=30, help="launches (default 30)")
    p.add_argument("--finalize-s", type=float, default=3,
                   help="MPICOMM_FT_FINALIZE_S for the jobs (default 3)")
    p.add_argument("--timeout", type=float, default=60,
                   help="seconds after which a job counts as hung and is killed (default 60)")
    p.add_argument("--json", metavar="FILE", help="write the figures to FILE")
    args = p.parse_args(argv)
    inst = installation.probe()
    if not inst.is_openmpi:
        p.error(f"ULFM is Open MPI's; this environment's MPI is {inst.vendor}")
    jobs = []
    for i in range(args.jobs):
        jobs.append(job(args.finalize_s, args.timeout))
        j = jobs[-1]
        print(f"job {i + 1}/{args.jobs}: {j['seconds']:.1f} s"
              f"{', finalize watchdog' if j['finalize_watchdog'] else ''}"
              f"{', hung' if j['hung'] else ''}{'' if j['finished'] else ', no result'}",
              flush=True)
    summary = {"mpi": inst.library_version.splitlines()[0], "jobs": args.jobs,
               "finalize_s": args.finalize_s, "timeout_s": args.timeout,
               "finished": sum(j["finished"] for j in jobs),
               "finalize_hangs": sum(bool(j["finalize_watchdog"]) for j in jobs),
               "recovery_hangs": sum(j["hung"] for j in jobs),
               "median_s": statistics.median(j["seconds"] for j in jobs), "runs": jobs}
    print(f"{summary['finished']}/{args.jobs} finished; MPI_Finalize hung (watchdog) in "
          f"{summary['finalize_hangs']}, the recovery in {summary['recovery_hangs']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
