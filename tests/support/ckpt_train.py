"""A small data-parallel training job that checkpoints and can be made to crash
(tests/test_checkpoint_restart.py).

    mpicomm run -n 2 -- python tests/ckpt_train.py --ckpt run.h5 --steps 20 --every 4 \\
        [--crash-at 10] --out final.npy

Linear regression by minibatch SGD: each rank holds its own deterministic data and
its own random stream for minibatches; gradients are averaged with allreduce_fused.
The weights, the momentum and a shared random stream are checkpointed every --every
steps, each rank's stream with them. With --crash-at S rank 1 dies (os._exit) in
step S; run again without it and the job resumes from the last checkpoint. Rank 0
writes the final weights to --out and prints RESULT {json}.
"""
import argparse
import hashlib
import json
import os

import numpy as np
from mpi4py import MPI

from mpicomm import checkpoint
from mpicomm.collectives import allreduce_fused


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--every", type=int, default=4)
    ap.add_argument("--crash-at", type=int, default=-1)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    me = comm.Get_rank()
    data_rng = np.random.default_rng(100 + me)
    x = data_rng.standard_normal((512, 16))
    y = x @ np.linspace(-1, 1, 16) + 0.01 * data_rng.standard_normal(512)
    w, momentum = np.zeros(16), np.zeros(16)
    shared_rng, my_rng = np.random.default_rng(7), np.random.default_rng(1000 + me)
    ckpt = checkpoint.Checkpoint(args.ckpt, every=args.every)
    start, state, mine = ckpt.restore({"w": w, "momentum": momentum, "shared_rng": shared_rng},
                                      mine={"rng": my_rng})
    for step in range(start, args.steps):
        if step == args.crash_at and me == 1:
            os._exit(3)
        batch = my_rng.choice(512, 32, replace=False)
        grad = x[batch].T @ (x[batch] @ w - y[batch]) / 32
        allreduce_fused([grad], op="average")
        lr = 0.05 * (1 + 0.1 * shared_rng.random())          # a shared random schedule
        momentum[...] = 0.9 * momentum + grad
        w -= lr * momentum
        ckpt.save_if_due(step + 1, {"w": w, "momentum": momentum, "shared_rng": shared_rng},
                         mine={"rng": my_rng})
    if me == 0:
        np.save(args.out, w)
        print("RESULT", json.dumps({"resumed_from": start, "steps": args.steps,
                                    "sha256": hashlib.sha256(w.tobytes()).hexdigest()}),
              flush=True)


if __name__ == "__main__":
    main()
