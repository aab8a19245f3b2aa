"""Checks a generated halo exchange (mpicomm codegen halo --lang python), written
independently of the generator, as halo_check.c does for C:

    mpiexec -n P python halo_check.py MODULE_DIR MODULE PERIODS N0 [N1 [N2]]

Rank 0 prints "halo_check OK <cells>" or "halo_check FAILED <cells> cells wrong".
"""
import importlib
import itertools
import sys

import numpy as np
from mpi4py import MPI


def main(argv):
    sys.path.insert(0, argv[1])
    gen = importlib.import_module(argv[2])
    cls = getattr(gen, "".join(w.capitalize() for w in argv[2].split("_")))
    D, G = gen.NDIMS, gen.GHOST
    periods = [c == "1" for c in argv[3]]
    n = [int(v) for v in argv[4:]]
    assert len(periods) == D and len(n) == D, "usage: see the docstring"
    faces_only = len(gen.DIRECTIONS) == 2 * D
    world = MPI.COMM_WORLD
    cart = world.Create_cart(MPI.Compute_dims(world.Get_size(), D), periods=periods)
    dims, _, coords = cart.Get_topo()
    edge = [d * m for d, m in zip(dims, n)]
    shape = [m + 2 * G for m in n]

    def value(glob):
        v = 0
        for k in range(D):
            v = v * edge[k] + glob[k]
        return v + 1

    # 1. Owned cells get 1 + their global index, ghosts 0.
    field = np.zeros(shape, dtype=gen.DTYPE)
    for idx in itertools.product(*(range(G, m + G) for m in n)):
        field[idx] = value([c * m + i - G for c, m, i in zip(coords, n, idx)])
    # 2. The generated exchange, twice (the second must change nothing).
    with cls(cart, n) as h:
        h.exchange(field)
        h.exchange(field)
    # 3. Every cell against what it must hold.
    bad = checked = 0
    for idx in itertools.product(*(range(e) for e in shape)):
        d = [-1 if i < G else 1 if i >= m + G else 0 for i, m in zip(idx, n)]
        served = all(p or 0 <= c + v < s for p, c, v, s in zip(periods, coords, d, dims))
        if faces_only and sum(map(abs, d)) > 1:
            served = False
        glob = [(c * m + i - G) % E for c, m, i, E in zip(coords, n, idx, edge)]
        want = value(glob) if served else 0
        bad += field[idx] != want
        checked += bool(any(d) and served)
    bad, checked = cart.allreduce(int(bad)), cart.allreduce(checked)
    if cart.Get_rank() == 0:
        print(f"halo_check FAILED {bad} cells wrong" if bad else
              f"halo_check OK {checked} ghost cells filled", flush=True)
    cart.Free()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
