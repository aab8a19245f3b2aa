"""A job that loses a rank mid-run and finishes on the survivors (tests/test_ft.py).

    mpicomm run --ft -n 4 -- python tests/ft_kill.py --kill-rank 1 --kill-at-step 2

Each step sums every rank's value with Allreduce; the killed rank leaves with
os._exit at its step. Rank 0 of the survivors prints one RESULT line (JSON).
"""
import argparse
import json
import os

import numpy as np
from mpi4py import MPI

from mpicomm import ft


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kill-rank", type=int, default=1)
    ap.add_argument("--kill-at-step", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--result", help="also write the RESULT JSON to this file (rank 0)")
    args = ap.parse_args()
    comm = ft.resilient(MPI.COMM_WORLD)
    me = MPI.COMM_WORLD.Get_rank()
    failed, sums, step = [], [], 0
    while step < args.steps:
        if me == args.kill_rank and step == args.kill_at_step:
            os._exit(9)
        value = np.array([float(me + 1)])
        try:
            comm.Allreduce(MPI.IN_PLACE, value)
        except MPI.Exception as exc:
            comm, lost = ft.recover(comm, exc)
            failed += lost
            continue                       # redo this step on the survivors
        sums.append(float(value[0]))
        step += 1
    comm.Barrier()                 # nobody leaves while another survivor still works
    if comm.Get_rank() == 0:
        out = json.dumps({"failed_ranks": failed, "sums": sums, "survivors": comm.Get_size()})
        print("RESULT", out, flush=True)
        if args.result:            # the launcher may drop a failed job's last output
            with open(args.result, "w") as f:
                f.write(out)


if __name__ == "__main__":
    main()
