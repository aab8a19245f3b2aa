#!/usr/bin/env python3
"""Across two nodes, side by side in one run: the C halo exchange and strided ping-pongs
of benchmarks/c_bench.py (2 ranks, one on each node), DDTBench's patterns of
benchmarks/ddt_bench.py (2 ranks, one on each node) and the pencil all-to-all of
benchmarks/alltoall_bench.py (4 ranks, 2 on each node), the MPI alone against the
interposer's choice (auto) and the pack method, each benchmark as it runs on one node.

The nodes: the tests' two-node Slurm cluster (tests/support/slurm_cluster.py: slurmd in
network and UTS namespaces of their own, node1 and node2, joined by a bridge of this
machine, so that the MPI sees two hosts and its ranks on different nodes talk TCP). It
needs root and Debian's Slurm. From the repository's root, in an MPI's environment:

    python -m benchmarks.internode_bench [--model FILE] [--rounds 5] [--reps 15] \\
        [--only c,ddt,alltoall] --json-prefix benchmarks/results/internode-mpich

--model: the model auto follows (a file measured in a two-node allocation, with its
inter-node tables; default: the built-in rules). Writes PREFIX-c.json, PREFIX-ddt.json,
PREFIX-ddt-pair.json (ddt_bench alternating the MPI and auto alone: over TCP a mode's
traffic sets the wire's state for the next), PREFIX-alltoall.json and
PREFIX-alltoall-pair.json (the MPI and auto alone; both all-to-all runs keep each
mode's best timing: 4 ranks on the 2 shared cores over TCP draw spikes of several times
a call's time), each benchmark's own format, with "nodes" added.
"""
import argparse
import json
import sys
import tempfile
from pathlib import Path

from tests.support import slurm_cluster

HERE = Path(__file__).resolve().parent
NODES = "two network namespaces of one machine joined by a bridge (TCP)"


def salloc(cluster, per_node, argv, env, timeout=3600):
    """argv inside an allocation of two nodes with per_node tasks on each."""
    # Not from the checkout: its mpicomm folder would shadow the installed package.
    res = cluster.run(["salloc", "-N", "2", f"--ntasks-per-node={per_node}", *argv],
                      env=env, timeout=timeout, cwd=tempfile.gettempdir())
    sys.stdout.write(res.stdout)
    if res.returncode != 0:
        sys.exit(f"internode_bench: {' '.join(argv)} failed:\n{res.stderr[-3000:]}")
    return res


def mark(path, what):
    """Record in a benchmark's JSON where it ran."""
    data = json.loads(Path(path).read_text())
    data["nodes"] = NODES
    data["across"] = what
    Path(path).write_text(json.dumps(data, indent=1))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="builtin",
                    help="the model auto follows (default: the built-in rules)")
    ap.add_argument("--rounds", type=int, default=5, help="c_bench's launches per variant")
    ap.add_argument("--reps", type=int, default=15, help="ddt_bench's and alltoall_bench's "
                    "repetitions")
    ap.add_argument("--only", default="c,ddt,alltoall",
                    help="the benchmarks to run, of c, ddt, alltoall")
    ap.add_argument("--json-prefix", required=True)
    args = ap.parse_args(argv)
    want = set(args.only.split(","))
    if want - {"c", "ddt", "alltoall"}:
        ap.error(f"--only: unknown benchmark {', '.join(sorted(want - {'c', 'ddt', 'alltoall'}))}")
    reason = slurm_cluster.multinode_missing()
    if reason:
        sys.exit(f"internode_bench: {reason}")
    model = args.model if args.model == "builtin" else str(Path(args.model).resolve())
    # The nodes share this machine's 2 cores, which Slurm does not know: Open MPI's waiting
    # ranks would spin through the time slices of the ranks they wait for (the 4-rank
    # all-to-alls); MPICH yields the core while it waits, Open MPI is asked to.
    env = {"MPICOMM_MODEL": model, "OMPI_MCA_mpi_yield_when_idle": "1"}
    py, mpicomm = sys.executable, [sys.executable, "-m", "mpicomm", "run"]
    prefix = str(Path(args.json_prefix).resolve())
    cluster = slurm_cluster.SlurmCluster(cpus=4, nodes=2).start()
    try:
        print(f"# across {NODES}; model {model}", flush=True)
        if "c" in want:
            salloc(cluster, 1, [py, str(HERE / "c_bench.py"), "--rounds", str(args.rounds),
                                "--json", f"{prefix}-c.json"], env)
            mark(f"{prefix}-c.json", "2 ranks, one on each node")
        if "ddt" in want:
            salloc(cluster, 1, [*mpicomm, "-n", "2", "--", py, str(HERE / "ddt_bench.py"),
                                "--reps", str(args.reps), "--json", f"{prefix}-ddt.json"], env)
            mark(f"{prefix}-ddt.json", "2 ranks, one on each node")
            # The MPI and auto alone: no packed traffic before either in the alternation.
            salloc(cluster, 1, [*mpicomm, "-n", "2", "--", py, str(HERE / "ddt_bench.py"),
                                "--reps", str(args.reps), "--modes", "mpi,auto", "--json",
                                f"{prefix}-ddt-pair.json"], env)
            mark(f"{prefix}-ddt-pair.json", "2 ranks, one on each node; the MPI and auto only")
        if "alltoall" in want:
            # Best of the timings: 4 ranks on the 2 shared cores over TCP draw spikes of
            # several times the call's time, and medians of identical calls in two slots
            # of the rotation differed by up to 1.6x.
            salloc(cluster, 2, [*mpicomm, "-n", "4", "--", py, str(HERE / "alltoall_bench.py"),
                                "--reps", str(args.reps), "--best", "--json",
                                f"{prefix}-alltoall.json"], env)
            mark(f"{prefix}-alltoall.json", "4 ranks, 2 on each node")
            salloc(cluster, 2, [*mpicomm, "-n", "4", "--", py, str(HERE / "alltoall_bench.py"),
                                "--reps", str(args.reps), "--best", "--modes", "mpi,auto",
                                "--json", f"{prefix}-alltoall-pair.json"], env)
            mark(f"{prefix}-alltoall-pair.json",
                 "4 ranks, 2 on each node; the MPI and auto only")
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
