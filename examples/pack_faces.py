#!/usr/bin/env python3
"""Pack the six faces of a 3D block with MPI subarray types and check them against numpy.

    mpicomm run -n 2 -- python examples/pack_faces.py [--n 64] [--ghost 1]

Every rank fills its block with values that encode the rank and the global
index, builds one subarray type per face, MPI_Pack's each face and compares the
bytes with the numpy slice. With the interposer preloaded the packs run on its
generated kernels (MPICOMM_STATS=1 shows pack_fast). Rank 0 prints one line per rank.
"""
import argparse
import sys

import numpy as np
from mpi4py import MPI


def faces(n, g):
    """(name, subsizes, starts, numpy slice) for the six owned faces of width g."""
    full = slice(g, n - g)
    out = []
    for axis in range(3):
        for side, start in (("lo", g), ("hi", n - 2 * g)):
            sub, st, sl = [n - 2 * g] * 3, [g] * 3, [full] * 3
            sub[axis], st[axis], sl[axis] = g, start, slice(start, start + g)
            out.append((f"{'xyz'[axis]}{side}", sub, st, tuple(sl)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="block edge including ghosts (default 64)")
    ap.add_argument("--ghost", type=int, default=1, help="ghost width (default 1)")
    args = ap.parse_args(argv)
    if args.n < 2 * args.ghost + 1 or args.ghost < 1:
        ap.error(f"--n {args.n} must exceed twice --ghost {args.ghost}")
    comm = MPI.COMM_WORLD
    n, g = args.n, args.ghost
    idx = np.arange(n ** 3, dtype=np.float64).reshape(n, n, n)
    a = comm.Get_rank() * 1e9 + idx
    bad = []
    for name, sub, st, sl in faces(n, g):
        t = MPI.DOUBLE.Create_subarray([n] * 3, sub, st).Commit()
        out = bytearray(t.Get_size())
        t.Pack(a, out, 0, comm)
        if out != np.ascontiguousarray(a[sl]).tobytes():
            bad.append(name)
        t.Free()
    lines = comm.gather(f"rank {comm.Get_rank()}: 6 faces of {n}^3, ghost {g}: "
                        f"{'OK' if not bad else 'MISMATCH ' + ','.join(bad)}")
    if comm.Get_rank() == 0:
        print("\n".join(lines), flush=True)
    return 1 if comm.allreduce(len(bad)) else 0


if __name__ == "__main__":
    sys.exit(main())
