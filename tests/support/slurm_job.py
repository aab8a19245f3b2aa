"""One rank of a Slurm test job: exchanges strided faces around a ring with the pack
method (through the interposer when it is loaded), checks them against numpy, and has
rank 0 print one line, `SLURMJOB {json}`, with what every rank saw.

    python tests/slurm_job.py [--load]      # --load: mpicomm.interposer.load() first
"""
import json
import os
import socket
import sys

if "--load" in sys.argv:
    import mpicomm.interposer
    mpicomm.interposer.load()

import numpy as np  # noqa: E402
from mpi4py import MPI  # noqa: E402

from mpicomm import interposer  # noqa: E402

N = 256


def main():
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    # A column face of an N x N grid: N blocks of one double, stride N.
    face = MPI.DOUBLE.Create_vector(N, 1, N).Commit()
    grid = np.arange(N * N, dtype=np.float64).reshape(N, N) + rank * N * N
    got = np.zeros((N, N))
    ip = interposer.Interposer() if interposer.preloaded() else None
    if ip:
        ip.set_method("pack")
    comm.Sendrecv([grid, 1, face], (rank + 1) % size, 7,
                  [got, 1, face], (rank - 1) % size, 7)
    left = (rank - 1) % size
    want = np.arange(N * N, dtype=np.float64).reshape(N, N)[:, 0] + left * N * N
    face.Free()
    seen = {
        "rank": rank, "size": size, "host": socket.gethostname(),
        "task": os.environ.get("SLURM_PROCID"),
        "preload": "libmpicomm" in os.environ.get("LD_PRELOAD", ""),
        "loaded": interposer.preloaded(),
        "method": os.environ.get("MPICOMM_METHOD"),
        "send_fast": ip.stat("send_fast") if ip else 0,
        "recv_fast": ip.stat("recv_fast") if ip else 0,
        "correct": bool(np.array_equal(got[:, 0], want) and not got[:, 1:].any()),
    }
    everyone = comm.gather(seen)
    if rank == 0:
        print("SLURMJOB " + json.dumps(everyone), flush=True)


if __name__ == "__main__":
    main()
