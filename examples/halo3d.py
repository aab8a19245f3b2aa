#!/usr/bin/env python3
"""3D halo exchange with MPI subarray datatypes (mpi4py), checked and timed.

    mpicomm run -n 4 -- python examples/halo3d.py [--n 64] [--ghost 1] [--neighbors 6|26]
                                                  [--collective | --persistent]
                                                  [--assertions] [--iters 20] [--warmup 3]
                                                  [--device cuda|sim]

Each rank owns an n^3 block of a periodic global grid (ranks on a 3D Cartesian
grid), with ghost layers of width --ghost. Every owned cell holds
((owner * G + gx) * G + gy) * G + gz for its global index (gx, gy, gz), G the
global edge; after each exchange every ghost cell must hold its neighbour's
owned value. Sends and receives use one subarray type per neighbour
(MPI_Isend/MPI_Irecv/MPI_Waitall), or with --collective one
MPI_Neighbor_alltoallw on the Cartesian communicator (6 neighbours), or with
--persistent requests made once (MPI_Recv_init/MPI_Send_init) and started each
exchange (MPI_Startall/MPI_Waitall), so the interposer sees derived datatypes. With --assertions the Cartesian communicator
carries MPI-4's info assertions of exact lengths and no wildcards, which is what
lets the interposer's auto method pipeline the faces where its model says so.
With --device the block lives in device memory (mpicomm.device: CuPy arrays on a GPU
with --device cuda, the simulated device's with --device sim under MPICOMM_DEVICE=sim),
and the same MPI calls take the device pointers: over an MPI that is not CUDA-aware,
such as the PyPI wheels, the interposer packs the faces on the device.
Rank 0 prints one line: the median time per exchange and the check result.
"""
import argparse
import itertools
import sys
import time

import numpy as np
from mpi4py import MPI


def directions(neighbors):
    dirs = [d for d in itertools.product((-1, 0, 1), repeat=3) if any(d)]
    return dirs if neighbors == 26 else [d for d in dirs if sum(map(abs, d)) == 1]


def region(d, n, g, ghost):
    """(subsizes, starts) of the owned cells sent toward d, or the ghosts filled from d."""
    sub, start = [], []
    for c in d:
        sub.append(n if c == 0 else g)
        if c == 0:
            start.append(g)
        elif ghost:
            start.append(0 if c < 0 else n + g)
        else:
            start.append(g if c < 0 else n)
    return sub, start


def global_values(cart, coords, n, g, G):
    """Expected value of every local cell (owned and ghost), from global indices."""
    dims = cart.Get_topo()[0]
    axes = []
    for k in range(3):
        local = np.arange(-g, n + g)
        axes.append((coords[k] * n + local) % (dims[k] * n))
    gx, gy, gz = np.meshgrid(*axes, indexing="ij")
    owner_coords = [ax // n for ax in (gx, gy, gz)]
    owner = np.vectorize(lambda a, b, c: cart.Get_cart_rank([a, b, c]))(*owner_coords)
    return ((owner * G + gx) * G + gy) * G + gz


# Every receive posts exactly the size sent and names its source and tag.
ASSERTIONS = ("mpi_assert_exact_length", "mpi_assert_no_any_source", "mpi_assert_no_any_tag")


class Halo:
    """One rank's block, its ghost layers, and one send and receive type per neighbour."""

    def __init__(self, comm, n, g, neighbors, collective=False, assertions=False,
                 persistent=False, device=None):
        dims = MPI.Compute_dims(comm.Get_size(), 3)
        self.cart = comm.Create_cart(dims, periods=[True] * 3)
        if assertions:
            info = MPI.Info.Create()
            for key in ASSERTIONS:
                info.Set(key, "true")
            self.cart.Set_info(info)
            info.Free()
        self.dims, self.n, self.g, self.neighbors = dims, n, g, neighbors
        coords = self.cart.Get_coords(self.cart.Get_rank())
        shape = [n + 2 * g] * 3
        self.expect = global_values(self.cart, coords, n, g, max(dims) * n).astype(np.float64)
        self.a = np.full(shape, -1.0)
        owned = (slice(g, n + g),) * 3
        self.a[owned] = self.expect[owned]
        self.filled = np.zeros(shape, bool)
        self.filled[owned] = True
        self.device = device
        if device:
            self.a = device.asarray(self.a)
        dirs = directions(neighbors)
        if collective:
            if neighbors != 6:
                raise ValueError("the collective exchange has the 6 Cartesian neighbours only")
            # MPI's order of Cartesian neighbours: per dimension, the -1 then the +1 side.
            dirs = [tuple(s if k == dim else 0 for k in range(3))
                    for dim in range(3) for s in (-1, 1)]
        self.collective = collective
        self.plan = []
        for i, d in enumerate(dirs):
            peer = self.cart.Get_cart_rank([c + dc for c, dc in zip(coords, d)])
            send = MPI.DOUBLE.Create_subarray(shape, *region(d, n, g, False)).Commit()
            recv = MPI.DOUBLE.Create_subarray(shape, *region(d, n, g, True)).Commit()
            self.plan.append((peer, send, recv, i, dirs.index(tuple(-c for c in d))))
            sub, start = region(d, n, g, True)
            self.filled[tuple(slice(s, s + k) for s, k in zip(start, sub))] = True
        self.requests = None
        if persistent:
            a, cart = self.a, self.cart
            self.requests = [cart.Recv_init([a, 1, recv], peer, back)
                             for peer, _, recv, _, back in self.plan]
            self.requests += [cart.Send_init([a, 1, send], peer, i)
                              for peer, send, _, i, _ in self.plan]

    def exchange(self):
        cart, a = self.cart, self.a
        if self.collective:
            # The send side is given one element further on (displacement -8 bytes), so
            # that the two buffers are not the same pointer (the MPI refuses aliasing).
            k = len(self.plan)
            cart.Neighbor_alltoallw(
                [a.reshape(-1)[1:], ([1] * k, [-8] * k), [send for _, send, _, _, _ in self.plan]],
                [a, ([1] * k, [0] * k), [recv for _, _, recv, _, _ in self.plan]])
            return
        if self.requests:
            MPI.Prequest.Startall(self.requests)
            MPI.Request.Waitall(self.requests)
            return
        reqs = [cart.Irecv([a, 1, recv], peer, back) for peer, _, recv, _, back in self.plan]
        reqs += [cart.Isend([a, 1, send], peer, i) for peer, send, _, i, _ in self.plan]
        MPI.Request.Waitall(reqs)

    def check(self):
        """True on every rank when every filled ghost holds its owner's value."""
        a = self.device.asnumpy(self.a) if self.device else self.a
        ok = bool(np.array_equal(a[self.filled], self.expect[self.filled]))
        return self.cart.allreduce(ok, op=MPI.LAND)

    def free(self):
        for req in self.requests or ():
            req.Free()
        for _, send, recv, _, _ in self.plan:
            send.Free()
            recv.Free()
        self.cart.Free()


KIND = {(False, False): "", (True, False): " (collective)", (False, True): " (persistent)"}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=64, help="owned cells per edge (default 64)")
    ap.add_argument("--ghost", type=int, default=1, help="ghost width (default 1)")
    ap.add_argument("--neighbors", type=int, choices=(6, 26), default=6)
    ap.add_argument("--collective", action="store_true",
                    help="one MPI_Neighbor_alltoallw instead of Isend/Irecv (6 neighbours)")
    ap.add_argument("--persistent", action="store_true",
                    help="persistent requests made once, started each exchange")
    ap.add_argument("--assertions", action="store_true",
                    help="assert exact lengths and no wildcards on the Cartesian communicator "
                         "(MPI-4 info hints)")
    ap.add_argument("--iters", type=int, default=20, help="timed exchanges (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed exchanges first (default 3)")
    ap.add_argument("--device", choices=("cuda", "sim"),
                    help="the block in device memory: a GPU's (CuPy) or the simulated device's "
                         "(MPICOMM_DEVICE=sim)")
    args = ap.parse_args(argv)
    if args.ghost < 1 or args.n < args.ghost:
        ap.error(f"need 1 <= --ghost <= --n, got --ghost {args.ghost} --n {args.n}")
    if args.collective and args.neighbors != 6:
        ap.error("--collective exchanges with the 6 Cartesian neighbours only")
    if args.collective and args.persistent:
        ap.error("--collective and --persistent are two different exchanges: give one")
    device = None
    if args.device:
        from mpicomm import device
        if device.backend() != args.device:
            ap.error(f"--device {args.device} but the device backend is {device.backend()} "
                     "(MPICOMM_DEVICE=sim selects the simulated device, unset the GPU)")
        if args.collective:
            ap.error("--collective takes host arrays only")

    world = MPI.COMM_WORLD
    halo = Halo(world, args.n, args.ghost, args.neighbors, args.collective, args.assertions,
                args.persistent, device)
    for _ in range(args.warmup):
        halo.exchange()
    times = []
    for _ in range(args.iters):
        halo.cart.Barrier()
        t = time.perf_counter()
        halo.exchange()
        times.append(time.perf_counter() - t)
    all_ok = halo.check()
    med = halo.cart.allreduce(float(np.median(times)), op=MPI.MAX)
    if world.Get_rank() == 0:
        print(f"halo3d: {world.Get_size()} ranks {halo.dims}, {args.n}^3 per rank, ghost "
              f"{args.ghost}, {args.neighbors} neighbours{KIND[args.collective, args.persistent]}"
              f"{' on the ' + args.device + ' device' if args.device else ''}: "
              f"{med * 1e3:.3f} ms per exchange; "
              f"check {'OK' if all_ok else 'FAILED'}", flush=True)
    halo.free()
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
