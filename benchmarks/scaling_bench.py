#!/usr/bin/env python3
"""A scaling projection checked against measurement: cost models of partial aggregation
(the tree of allreduce_partial), the fused allreduce and a halo exchange, fitted from
per-message costs measured between two nodes, then checked against runs of the three at
2, 4 and 8 ranks spread over the two nodes, and projected to 1,024 and 4,096 ranks.

The nodes: the tests' two-node Slurm cluster (tests/support/slurm_cluster.py; network
namespaces of one machine joined by a bridge, so ranks on different nodes talk TCP). It
needs root and Debian's Slurm. From the repository's root, in an MPI's environment:

    python -m benchmarks.scaling_bench [--reps 9] --json benchmarks/results/scaling-mpich.json

1. Fit: 2 ranks on one node, then 2 ranks on different nodes (no third rank to take
   their cores), at 8 B to 4 MiB: a ping-pong (one message at a time) gives each
   link's latency a (the 8-byte one-way time) and seconds per byte b (the least-squares
   slope through 256 KiB, 1 MiB and 4 MiB), an exchange (MPI_Sendrecv both ways at once) the same for messages that
   cross each other (ax, bx); numpy's float32 add gives the reduction's seconds per
   byte c, its copy the seconds per byte d.
2. Check: at 2, 4 and 8 ranks (1, 2 and 4 on each node, placed in blocks: the first half
   on node1), the median of --reps of the slowest rank's time of each:
   - tree: allreduce_partial along its binary tree, everyone on time, M = 100 arrays of
     40 KiB;
   - fused: allreduce_fused of the same arrays;
   - halo: a periodic 1-D halo exchange, each rank a 128 KiB face to each of its two
     neighbours, MPI_Irecv/MPI_Isend/MPI_Waitall.
3. The models, with each message costing a + nb on the link it crosses (ax + n bx where
   messages cross):
   - tree: the arrays copied into the rank's message and the result out (2Md); a rank
     receives its children's messages and adds each (k(a + Mb + Mc)), then sends the
     result on to each child (k(a + Mb)); the critical path through the tree as placed;
   - fused: copied into one buffer and back (2Md) and reduced as a ring: 2(n-1) steps in
     which every rank sends M/n bytes to the next while receiving from the previous, as
     slow as the ring's slowest link, with (n-1)M/n bytes added;
   - halo: a rank's two faces sent while its neighbours' arrive (2(ax + F bx)), on the
     links to its neighbours.
   The models are for one rank per core. Where the runs share cores (4 and 8 ranks on a
   2-core machine) every rank's work waits its turn: the prediction times ranks per
   core is the model with the cores shared. Measured over that, per case.

On the target machine: inside a Slurm allocation of two nodes or more (at least 4 tasks
on each), `python benchmarks/scaling_bench.py --here --json FILE` runs the same steps there
(`mpicomm run` with srun), and "cores shared" counts the ranks on a node against its
cores.

The worker (--role fit or check) runs under `mpicomm run`; the driver launches it.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
NODES = "two network namespaces of one machine joined by a bridge (TCP)"
SIZES = [8, 1024, 16384, 262144, 1 << 20, 4 << 20]
SLOPE_FROM = 256 * 1024             # b: the least-squares slope over 256 KiB to 4 MiB
ARRAYS, ARRAY_BYTES = 100, 40 * 1024
FACE_BYTES = 128 * 1024
RANKS = (2, 4, 8)
PROJECT = (1024, 4096)
CASES = ("tree", "fused", "halo")
# The two nodes share this machine's cores, more ranks than cores at 4 and 8 ranks, which
# Slurm does not know (it was told 4 CPUs per node): Open MPI's waiting ranks would spin
# through their time slices (milliseconds) while the rank they wait for waits for a core.
# MPICH yields the core while it waits; Open MPI is asked to do the same.
YIELD = {"OMPI_MCA_mpi_yield_when_idle": "1"}


# The models: pure functions of the fitted costs and the placement.
def link(costs, nodes, i, j, crossing=False):
    """(a, b) of the link between ranks i and j, for messages one at a time or crossing
    each other."""
    where = "local" if nodes[i] == nodes[j] else "remote"
    return costs[f"{where}_x" if crossing else where]


def tree_s(costs, nodes, nbytes, k=2):
    """allreduce_partial's critical path: up the tree (receive and add each child's
    message), then down (send the result to each child)."""
    n, c = len(nodes), costs["c"]

    def children(v):
        return range(k * v + 1, min(k * v + k, n - 1) + 1)

    def up(v):
        kids = list(children(v))
        if not kids:
            return 0.0
        a_b = [link(costs, nodes, v, w) for w in kids]
        return max(up(w) for w in kids) + sum(a + nbytes * b + nbytes * c for a, b in a_b)

    def down(v):
        kids = list(children(v))
        if not kids:
            return 0.0
        a_b = [link(costs, nodes, v, w) for w in kids]
        return sum(a + nbytes * b for a, b in a_b) + max(down(w) for w in kids)

    return 2 * nbytes * costs["d"] + (up(0) + down(0) if n > 1 else 0.0)


def fused_s(costs, nodes, nbytes):
    """allreduce_fused: copied in and out, reduced as a ring over the slowest link."""
    n = len(nodes)
    if n == 1:
        return 2 * nbytes * costs["d"]
    a, b = max((link(costs, nodes, i, (i + 1) % n, True) for i in range(n)),
               key=lambda l: l[1])
    return (2 * nbytes * costs["d"] + 2 * (n - 1) * (a + nbytes / n * b)
            + (n - 1) * nbytes / n * costs["c"])


def halo_s(costs, nodes, face):
    """The periodic 1-D halo: the slowest rank's two sends."""
    n = len(nodes)
    return max(sum(a + face * b for a, b in (link(costs, nodes, r, (r - 1) % n, True),
                                             link(costs, nodes, r, (r + 1) % n, True)))
               for r in range(n))


def blocks(ranks, per_node):
    """Node of each rank, placed in blocks of per_node."""
    return [r // per_node for r in range(ranks)]


def predict(costs, nodes):
    """Seconds per case for ranks placed on nodes."""
    nbytes = ARRAYS * ARRAY_BYTES
    return {"tree": tree_s(costs, nodes, nbytes), "fused": fused_s(costs, nodes, nbytes),
            "halo": halo_s(costs, nodes, FACE_BYTES)}


# The worker.
def _slowest_median(comm, reps, fn):
    import numpy as np
    from mpi4py import MPI
    times = []
    for _ in range(reps):
        comm.Barrier()
        t = time.perf_counter()
        fn()
        times.append(comm.allreduce(time.perf_counter() - t, op=MPI.MAX))
    return float(np.median(times))


def _pingpong(comm, me, peer, nbytes, reps, crossing, iters=10):
    """Best time of a message of nbytes between ranks 0 and peer, one way at a time (a
    round trip halved) or both ways at once (MPI_Sendrecv); every rank calls."""
    import numpy as np
    buf = np.zeros(max(nbytes // 4, 1), np.float32)
    got = np.empty_like(buf)
    best = math.inf
    for _ in range(reps):
        comm.Barrier()
        t = time.perf_counter()
        for _ in range(iters):
            if me in (0, peer) and crossing:
                other = peer if me == 0 else 0
                comm.Sendrecv(buf, other, 0, got, other, 0)
            elif me == 0:
                comm.Send(buf, peer)
                comm.Recv(buf, peer)
            elif me == peer:
                comm.Recv(buf, 0)
                comm.Send(buf, 0)
        best = min(best, (time.perf_counter() - t) / (iters if crossing else 2 * iters))
    return comm.bcast(best, root=0)


def _best(fn, reps):
    best = math.inf
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _slope(times):
    """The least-squares seconds per byte through {bytes: seconds}: with one pair of
    sizes, a single slow time of the smaller one could make it negative."""
    sizes = list(times)
    mean_n = sum(sizes) / len(sizes)
    mean_t = sum(times.values()) / len(sizes)
    return (sum((n - mean_n) * (t - mean_t) for n, t in times.items())
            / sum((n - mean_n) ** 2 for n in sizes))


def fit(comm, nodes, reps):
    """The costs of the link between ranks 0 and 1 (of 2), and of numpy's add and copy."""
    import numpy as np
    if len(nodes) != 2:
        raise SystemExit("scaling_bench --role fit: runs on 2 ranks")
    where = "local" if nodes[0] == nodes[1] else "remote"
    out = {}
    for name, crossing in ((where, False), (f"{where}_x", True)):
        times = {n: _pingpong(comm, comm.Get_rank(), 1, n, reps, crossing) for n in SIZES}
        a = times[SIZES[0]]
        b = _slope({n: t for n, t in times.items() if n >= SLOPE_FROM})
        out[name] = [a, b]
        out[f"{name}_s"] = {str(n): t for n, t in times.items()}
    x = np.ones(1 << 20, np.float32)
    y = np.ones_like(x)
    out["c"] = comm.bcast(_best(lambda: np.add(x, y, out=x), reps) / x.nbytes, root=0)
    out["d"] = comm.bcast(_best(lambda: np.copyto(y, x), reps) / x.nbytes, root=0)
    return out


def check(comm, reps):
    import numpy as np
    from mpi4py import MPI
    from mpicomm.collectives import PartialAllreduce, allreduce_fused
    n, me = comm.Get_size(), comm.Get_rank()
    grads = [np.zeros(ARRAY_BYTES // 4, np.float32) for _ in range(ARRAYS)]
    tree = PartialAllreduce(comm, fanout=2)
    face = FACE_BYTES // 8
    send = [np.zeros(face), np.zeros(face)]
    recv = [np.empty(face), np.empty(face)]
    left, right = (me - 1) % n, (me + 1) % n

    def halo():
        reqs = [comm.Irecv(recv[0], left, 0), comm.Irecv(recv[1], right, 1),
                comm.Isend(send[0], left, 1), comm.Isend(send[1], right, 0)]
        MPI.Request.Waitall(reqs)

    fns = {"tree": lambda: tree.allreduce(grads, 30.0, n),
           "fused": lambda: allreduce_fused(grads), "halo": halo}
    for fn in fns.values():
        for _ in range(5):
            fn()
    got = {name: _slowest_median(comm, reps, fn) for name, fn in fns.items()}
    tree.close()
    return got


def worker(args):
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    hosts = comm.allgather(MPI.Get_processor_name())
    order = list(dict.fromkeys(hosts))
    nodes = [order.index(h) for h in hosts]
    got = fit(comm, nodes, args.reps) if args.role == "fit" else check(comm, args.reps)
    if comm.Get_rank() == 0:
        Path(args.json).write_text(json.dumps({
            "mpi": " ".join(MPI.Get_library_version().splitlines()[0].split(",")[0].split()),
            "ranks": len(nodes),
            "nodes": nodes, "hosts": order, "cores": len(os.sched_getaffinity(0)),
            "reps": args.reps, "got": got}, indent=1))
    return 0


# The driver.
def report(fitted, checks, cores, cores_per_node=False):
    """The models' predictions against the checks, and the projection; cores: of each
    node (cores_per_node) or of the one machine all the nodes share."""
    links = ("local", "remote", "local_x", "remote_x")
    costs = {**{k: fitted[k] for k in links}, "c": fitted["c"], "d": fitted["d"]}
    rows = []
    for run in checks:
        nodes = run["nodes"]
        pred = predict(costs, nodes)
        per_core = (nodes.count(0) if cores_per_node else len(nodes)) / cores
        shared = max(1.0, per_core)
        for case in CASES:
            rows.append({"ranks": len(nodes), "per_node": nodes.count(0),
                         "ranks_per_core": per_core, "case": case,
                         "predicted_ms": pred[case] * 1e3,
                         "shared_ms": pred[case] * shared * 1e3,
                         "measured_ms": run["got"][case] * 1e3,
                         "measured_over_predicted": run["got"][case] / pred[case],
                         "measured_over_shared": run["got"][case] / (pred[case] * shared)})
    projection = []
    for per_node in (1, 4):
        for ranks in PROJECT:
            pred = predict(costs, blocks(ranks, per_node))
            projection.append({"ranks": ranks, "per_node": per_node,
                               **{f"{c}_ms": pred[c] * 1e3 for c in CASES}})
    fit = {"c_ns_per_byte": costs["c"] * 1e9, "d_ns_per_byte": costs["d"] * 1e9,
           "message_s": {k: fitted[f"{k}_s"] for k in links}}
    for k in links:
        fit[f"{k}_a_us"], fit[f"{k}_b_ns_per_byte"] = costs[k][0] * 1e6, costs[k][1] * 1e9
    return {"fit": fit, "checks": rows, "projection": projection}


def driver(args):
    py = sys.executable
    tmp = Path(tempfile.mkdtemp(prefix="scaling-"))
    worker = [py, str(Path(__file__).resolve())]
    if args.here:
        # 1. Steps of this allocation (the target machine's nodes).
        nodes_of = int(os.environ.get("SLURM_JOB_NUM_NODES", "0") or 0)
        if nodes_of < 2:
            sys.exit("scaling_bench --here: run it inside a Slurm allocation of 2 nodes or "
                     "more (salloc -N 2 --ntasks-per-node=4 ...)")
        cluster, where = None, "this Slurm allocation's first two nodes"

        def run(nodes, per_node, argv):
            return subprocess.run(
                [py, "-m", "mpicomm", "run", "-n", str(nodes * per_node), "--srun-args",
                 f"-N {nodes} --ntasks-per-node={per_node}", "--no-interposer", "--", *argv],
                capture_output=True, text=True, timeout=1800, cwd=tempfile.gettempdir())
    else:
        # 1. The tests' two namespaced nodes of this machine.
        sys.path.insert(0, str(HERE.parent))
        from tests.support import slurm_cluster
        reason = slurm_cluster.multinode_missing()
        if reason:
            sys.exit(f"scaling_bench: {reason}")
        cluster, where = slurm_cluster.SlurmCluster(cpus=4, nodes=2).start(), NODES

        def run(nodes, per_node, argv):
            return cluster.run(["salloc", "-N", str(nodes), f"--ntasks-per-node={per_node}", py,
                                "-m", "mpicomm", "run", "--no-interposer", "--", *argv],
                               timeout=1800, cwd=tempfile.gettempdir(), env=YIELD)

    def launch(per_node, role, out, nodes=2):
        res = run(nodes, per_node, [*worker, "--role", role, "--reps", str(args.reps),
                                    "--json", str(out)])
        if res.returncode != 0:
            sys.exit(f"scaling_bench: {role} on {nodes * per_node} ranks failed:\n"
                     f"{res.stdout[-2000:]}{res.stderr[-3000:]}")
        return json.loads(Path(out).read_text())

    try:
        fitted = launch(2, "fit", tmp / "fit-local.json", nodes=1)
        remote = launch(1, "fit", tmp / "fit-remote.json")
        fitted["got"].update({k: v for k, v in remote["got"].items() if k.startswith("remote")})
        checks = [launch(ranks // 2, "check", tmp / f"check-{ranks}.json") for ranks in RANKS]
    finally:
        if cluster is not None:
            cluster.stop()
    cores = fitted["cores"]
    result = {"mpi": fitted["mpi"], "nodes": where, "hosts": remote["hosts"], "cores": cores,
              "cores_per": "node" if args.here else "machine", "reps": args.reps,
              **report(fitted["got"], checks, cores, cores_per_node=args.here)}
    f = result["fit"]
    print(f"# {result['mpi']}; {where}; {cores} cores a {result['cores_per']}; medians of "
          f"{args.reps}")
    for k in ("local", "remote", "local_x", "remote_x"):
        print(f"fit {k}: a {f[k + '_a_us']:.1f} us, b {f[k + '_b_ns_per_byte']:.3f} ns/B")
    print(f"fit: add {f['c_ns_per_byte']:.3f} ns/B, copy {f['d_ns_per_byte']:.3f} ns/B")
    print(f"{'ranks':>5} {'case':<6}{'predicted ms':>14}{'cores shared':>14}"
          f"{'measured ms':>13}{'meas/shared':>13}")
    for r in result["checks"]:
        print(f"{r['ranks']:>5} {r['case']:<6}{r['predicted_ms']:>14.2f}{r['shared_ms']:>14.2f}"
              f"{r['measured_ms']:>13.2f}{r['measured_over_shared']:>12.2f}x")
    for p in result["projection"]:
        print(f"projected {p['ranks']} ranks, {p['per_node']} per node: " + ", ".join(
            f"{c} {p[c + '_ms']:.1f} ms" for c in CASES))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=9, help="repetitions, median (or best of "
                    "the ping-pongs) kept (default 9)")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--here", action="store_true",
                    help="measure in the Slurm allocation this runs in (2 nodes or more: the "
                    "target machine) instead of the two namespaced nodes of this machine")
    ap.add_argument("--role", choices=("fit", "check"),
                    help="run as the worker under mpicomm run (the driver launches it)")
    args = ap.parse_args(argv)
    if args.role and not args.json:
        ap.error("--role needs --json")
    return worker(args) if args.role else driver(args)


if __name__ == "__main__":
    sys.exit(main())
