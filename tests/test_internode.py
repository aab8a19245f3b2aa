"""Peers on other nodes: a real Slurm cluster of two nodes (slurmd in network and UTS
namespaces of their own, joined by a bridge: real TCP between them; see
tests/support/slurm_cluster.py), 4 ranks, 2 per node. The interposer looks each peer
up as on this node or another and answers from the model's table of that locality;
`mpicomm measure` in a two-node allocation times both; the MPI's bytes everywhere."""
import json
import os
import re
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from support import helpers, slurm_cluster
from mpicomm import installation, model

HERE = Path(__file__).parent
MPICOMM = [sys.executable, "-m", "mpicomm"]
MISSING = slurm_cluster.multinode_missing()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

# The synthetic models' grid: each point a block length at a stride of its row
# (max(b + 64, class)) and a size.
BLOCKS, STRIDES, TOTALS = [8, 256], [128, 2048], [4096, 65536]
POINTS = [(b, max(b + 64, c), s) for b in BLOCKS for c in STRIDES for s in TOTALS]


@pytest.fixture(scope="module")
def nodes():
    c = slurm_cluster.SlurmCluster(cpus=4, nodes=2).start()
    yield c
    c.stop()


def run4(cluster, argv, env=None, timeout=600):
    """argv on 4 ranks, 2 on each node, through `mpicomm run`."""
    return cluster.run(["salloc", "-N", "2", "--ntasks-per-node=2", *MPICOMM, "run", "--",
                        *argv], env=env, timeout=timeout)


def locality_model(path, on_node, between):
    """A model whose pack method wins (2x) at the points where on_node (between nodes:
    between) is true and loses (2x) elsewhere, for blocking and nonblocking calls and
    both constructions alike."""
    def tables(wins):
        wins = np.asarray(wins, bool).reshape(len(BLOCKS), len(STRIDES), len(TOTALS))
        pack = np.full(wins.shape, 1e-3)
        passed = np.where(wins, 2e-3, 0.5e-3)
        return {"block_bytes": BLOCKS, "stride_bytes": STRIDES, "total_bytes": TOTALS,
                **{f"{g}/{t}": passed for g in ("method", "exchange")
                   for t in ("passthrough", "passthrough_nested")},
                "method/pack": pack, "exchange/pack": pack,
                "pingpong_bytes": [8], "pingpong_seconds": [1e-6]}
    with h5py.File(path, "w") as f:
        f.attrs["mpicomm_model"] = np.bytes_(model.FORMAT)
        f.attrs["mpi_vendor"] = np.bytes_(installation.probe().vendor)
        for name, value in tables(on_node).items():
            f[name] = np.array(value)
        f["pack_seconds"] = f["unpack_seconds"] = np.full((len(BLOCKS), len(TOTALS)), 1e-3)
        if between is not None:
            g = f.create_group("internode")
            g.attrs["hosts"] = np.bytes_("node1 node2")
            for name, value in tables(between).items():
                g[name] = np.array(value)
    return path


# Each rank ping-pongs a byte vector at every point with its partner on its own node
# (rank ^ 1) and with one on the other (rank ^ 2); it counts the calls packed and checks
# the bytes it received against its partner's (the gaps untouched).
LOCALITY = """
import json, sys
import numpy as np
from mpi4py import MPI
from mpicomm.interposer import Interposer
ip, comm = Interposer(), MPI.COMM_WORLD
r, points = comm.rank, json.loads(sys.argv[1])
hosts = comm.allgather(MPI.Get_processor_name())
got = {"host": hosts[r], "local_host": hosts[r ^ 1], "remote_host": hosts[r ^ 2],
       "local": [], "remote": [], "same": True}
for where, peer in (("local", r ^ 1), ("remote", r ^ 2)):
    for i, (block, stride, total) in enumerate(points):
        n = total // block
        dt = MPI.BYTE.Create_vector(n, block, stride).Commit()
        mine = np.random.default_rng(1000 * r + i).integers(0, 256, n * stride, np.uint8)
        theirs = np.random.default_rng(1000 * peer + i).integers(0, 256, n * stride, np.uint8)
        into = np.zeros_like(mine)
        before = ip.stat("method_pack")
        if r < peer:
            comm.Send([mine, 1, dt], peer); comm.Recv([into, 1, dt], peer)
        else:
            comm.Recv([into, 1, dt], peer); comm.Send([mine, 1, dt], peer)
        got[where].append(ip.stat("method_pack") - before)
        sel = np.zeros((n, stride), bool)
        sel[:, :block] = True
        sel = sel.ravel()
        got["same"] &= bool(np.array_equal(into[sel], theirs[sel]) and not into[~sel].any())
        dt.Free()
got["remote_calls"] = ip.stat("remote_calls")
every = comm.gather(got)
if r == 0:
    print("LOCALITY", json.dumps(every))
"""


def locality(cluster, env):
    res = run4(cluster, [sys.executable, "-c", LOCALITY, json.dumps(POINTS)], env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("LOCALITY ")]
    assert line, res.stdout + res.stderr
    ranks = json.loads(line[0][len("LOCALITY "):])
    for r in ranks:        # the pairs are as meant: the first on one node, the second not
        assert r["local_host"] == r["host"] != r["remote_host"], ranks
        assert r["same"], r
    return ranks


def test_auto_follows_the_table_of_the_peers_locality(nodes, tmp_path):
    """At every point of the grid packing wins on one node where it loses between
    nodes and the other way round: each rank packs for its partner on its own node
    exactly where the on-node table says so, for its partner on the other node where
    the inter-node table does; every received byte is the sender's."""
    rng = np.random.default_rng(30)
    on_node = rng.integers(0, 2, len(POINTS)).astype(bool)
    on_node[:2] = [True, False]
    between = ~on_node
    path = locality_model(tmp_path / "m.h5", on_node, between)
    for r in locality(nodes, {"MPICOMM_MODEL": str(path)}):
        assert r["local"] == [2 * int(w) for w in on_node], r
        assert r["remote"] == [2 * int(w) for w in between], r
        assert r["remote_calls"] == 2 * len(POINTS), r


def test_a_model_without_inter_node_tables_keeps_them_to_peers_on_its_node(nodes, tmp_path):
    """Packing wins everywhere on one node; the model was not measured between nodes:
    peers on the other node follow the built-in inter-node rules, not the on-node
    table (those rules pack none of these points, or only some)."""
    path = locality_model(tmp_path / "m.h5", [True] * len(POINTS), None)
    builtin = locality(nodes, {"MPICOMM_MODEL": "builtin"})
    assert builtin[0]["remote"] != [2] * len(POINTS), builtin
    for r, b in zip(locality(nodes, {"MPICOMM_MODEL": str(path)}), builtin):
        assert r["local"] == [2] * len(POINTS), r
        assert r["remote"] == b["remote"], (r, b)


# Each rank ping-pongs index lists (one double at random places) with its partner on
# the other node (rank ^ 2) and prints how many calls were packed, per case.
INDEX_LISTS = """
import json, sys
import numpy as np
from mpi4py import MPI
from mpicomm.interposer import Interposer
ip, comm = Interposer(), MPI.COMM_WORLD
r, peer, packed = comm.rank, comm.rank ^ 2, []
for total in json.loads(sys.argv[1]):
    n = total // 8
    at = np.sort(np.random.default_rng(n).choice(8 * n, n, replace=False))
    dt = MPI.DOUBLE.Create_indexed_block(1, at.tolist()).Commit()
    buf = np.ones(8 * 8 * n)
    before = ip.stat("method_pack")
    if r < peer:
        comm.Send([buf, 1, dt], peer); comm.Recv([buf, 1, dt], peer)
    else:
        comm.Recv([buf, 1, dt], peer); comm.Send([buf, 1, dt], peer)
    packed.append(ip.stat("method_pack") - before)
    dt.Free()
every = comm.gather(packed)
if r == 0:
    print("PACKED", json.dumps(every))
"""


def test_builtin_inter_node_rules_pack_short_index_lists(nodes):
    """Between nodes the built-in rules pack index lists of short blocks: under Open MPI
    5 blocking messages of 8 to 256 KiB of them (it walks the list entry by entry), under
    MPICH every message of 8 KiB or more of blocks of 8 to 512 B."""
    inst = installation.probe()
    ompi5 = inst.is_openmpi and int(inst.version.split(".")[0]) >= 5
    res = run4(nodes, [sys.executable, "-c", INDEX_LISTS, json.dumps([1 << 15, 1 << 19])],
               env={"MPICOMM_MODEL": "builtin"})
    assert res.returncode == 0, res.stdout + res.stderr
    every = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("PACKED ")][0][7:])
    want = [2, 0] if ompi5 else [2, 2] if inst.vendor == "MPICH" else [0, 0]
    assert every == [want] * 4


def test_one_node_builds_no_map(nodes):
    """All ranks on one node: no peer counts as remote."""
    res = nodes.run(["salloc", "-N", "1", "-n", "2", *MPICOMM, "run", "--", sys.executable,
                     "-c", "from mpi4py import MPI; import numpy as np; "
                     "from mpicomm.interposer import Interposer; c = MPI.COMM_WORLD; "
                     "dt = MPI.DOUBLE.Create_vector(64, 1, 4).Commit(); b = np.ones(256); "
                     "c.Sendrecv([b, 1, dt], 1 - c.rank, 0, [b, 1, dt], 1 - c.rank, 0); "
                     "print('REMOTE', Interposer().stat('remote_calls'))"])
    assert res.returncode == 0, res.stderr
    assert sorted(ln for ln in res.stdout.splitlines() if ln.startswith("REMOTE")) == \
        ["REMOTE 0", "REMOTE 0"], res.stdout


@pytest.mark.parametrize("packs", ["between", "on_node"])
def test_exchanges_with_mixed_localities_give_the_mpis_bytes(nodes, tmp_path, packs):
    """The point-to-point, all-to-all, neighbourhood and application-type suites of
    tests/mpi (every one compares with the MPI's own bytes) and the partial aggregation
    suite (late ranks left out, each step's result its own) on 4 ranks over two nodes,
    with a model that packs only between nodes (or only on one node): in every halo
    ring and all-to-all some messages are packed and some are the MPI's. Not the
    wildcard test: between the namespaced nodes MPICH 5's MPI_Probe(MPI_ANY_SOURCE)
    waits for ever on a message already sent, without the interposer too."""
    everywhere = [True] * len(POINTS)
    path = locality_model(tmp_path / "m.h5", everywhere if packs == "on_node" else
                          [False] * len(POINTS),
                          everywhere if packs == "between" else [False] * len(POINTS))
    suites = [str(HERE / "mpi" / f) for f in ("test_p2p_mpi.py", "test_alltoall_mpi.py",
                                              "test_neighbor_mpi.py",
                                              "test_app_types_mpi.py",
                                              "test_partial_mpi.py")]
    pytest_ = str(Path(sys.executable).parent / "pytest")   # not -m: the checkout would
    res = run4(nodes, [pytest_, "-q", "--with-mpi", "-p",          # shadow the installed package
                       "no:cacheprovider", "-x", *suites, "-k", "not wildcards"],
               env={"MPICOMM_MODEL": str(path)}, timeout=1200)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert " passed" in res.stdout and " failed" not in res.stdout, res.stdout[-2000:]


def test_node_shared_allreduce_and_torch_across_the_nodes(nodes):
    """The node-shared-memory allreduce (each node's part then reduced between the
    nodes) and mpicomm.torch, whose buckets then live in it, on 4 ranks over two nodes,
    against the MPI's Allreduce and single-process training."""
    suites = [str(HERE / "mpi" / f) for f in ("test_shared_mpi.py", "test_torch_mpi.py")]
    pytest_ = str(Path(sys.executable).parent / "pytest")
    res = run4(nodes, [pytest_, "-q", "--with-mpi", "-p", "no:cacheprovider", "-x", *suites,
                       "-k", "not test_cuda_gradients"], timeout=900)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert " passed" in res.stdout and " failed" not in res.stdout, res.stdout[-2000:]
    assert " skipped" not in res.stdout, res.stdout[-2000:]
    # Nodes holding different numbers of ranks (2 and 1): refused by name, the rest
    # skipped with the reason.
    res = nodes.run(["salloc", "-N", "2", "-n", "3", *MPICOMM, "run", "--", pytest_, "-q",
                     "--with-mpi", "-p", "no:cacheprovider", "-rs", suites[0]], timeout=600)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert " failed" not in res.stdout and "nothing to share" in res.stdout, res.stdout[-2000:]
    assert len(re.findall(r"^2 passed, \d+ skipped", res.stdout, re.M)) == 3, \
        res.stdout[-2000:]


def test_measure_in_a_two_node_allocation_times_both(nodes, tmp_path):
    """`mpicomm measure` on two nodes: the grid on one node, then between two ranks on
    different nodes into the same file; the interposer reads both; info shows both."""
    out = tmp_path / "model.h5"
    res = nodes.run(["salloc", "-N", "2", "--ntasks-per-node=2", *MPICOMM, "measure",
                     "--quick", "--reps", "1", "-v", "-o", str(out)], timeout=900)
    assert res.returncode == 0, res.stderr
    assert "srun -n 2 -N 1 " in res.stderr and "srun -n 2 -N 2 --ntasks-per-node=1" in \
        res.stderr, res.stderr
    m = model.read(out)
    remote = model.internode(m)
    assert remote is not None and remote["attrs"]["hosts"].split() == ["node1", "node2"]
    assert remote["attrs"]["interconnect"]
    for name in model.HOST_TABLES:
        t = remote[name]
        assert t.shape == m[name].shape and np.all(t[np.isfinite(t)] > 0), name
    lines = model.summary(out, installation.probe().vendor)
    assert any(ln.startswith("between nodes, measured between node1 and node2") for ln in lines)
    res = run4(nodes, [sys.executable, "-c", "from mpi4py import MPI"],
               env={"MPICOMM_MODEL": str(out), "MPICOMM_LOG": "info"})
    assert res.returncode == 0 and "between nodes: measured" in res.stderr, res.stderr


def test_coded_training_across_nodes_decodes_what_one_node_does(nodes):
    """examples/coded_training.py with M-SGC, the master and its 3 workers spread over
    both nodes, workers slowed at random: every job decoded exactly, and the training
    the same as on one node (exact gradients: the same steps)."""
    program = str(HERE.parent / "examples" / "coded_training.py")
    args = [sys.executable, program, "--scheme", "m-sgc", "--B", "1", "--W", "3", "--lam",
            "1", "--jobs", "16", "--straggle-prob", "0.2", "--slow-s", "0.05"]
    out = {}
    for where, alloc in (("two", ["-N", "2", "--ntasks-per-node=2"]), ("one", ["-N", "1",
                                                                              "-n", "4"])):
        res = nodes.run(["salloc", *alloc, *MPICOMM, "run", "--", *args], timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
        line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
        assert line, res.stdout + res.stderr
        out[where] = json.loads(line[0][len("RESULT "):])
    for got in out.values():
        assert got["decoded"] == 16 and got["max_rel_grad_err"] <= 1e-9, got
    assert out["two"]["final_loss"] == pytest.approx(out["one"]["final_loss"], rel=1e-9)


def _scaling_bench():
    sys.path.insert(0, str(HERE.parent / "benchmarks"))
    try:
        import scaling_bench
    finally:
        sys.path.pop(0)
    return scaling_bench


def test_the_scaling_models_follow_each_edges_link():
    """benchmarks/scaling_bench.py's models: on one node a complete tree costs the docs'
    H(2k(a + Mb) + kMc) plus the copies; an edge between nodes costs its own link; the
    ring is as slow as its slowest link; a halo rank pays for its two neighbours' links."""
    sb = _scaling_bench()
    a, b, c, d, m = 2e-6, 1e-9, 0.25e-9, 0.1e-9, 1 << 20
    costs = {"local": (a, b), "local_x": (a, b), "remote": (10 * a, 4 * b),
             "remote_x": (10 * a, 4 * b), "c": c, "d": d}
    for n, height in ((3, 1), (7, 2), (15, 3)):
        assert sb.tree_s(costs, [0] * n, m) == pytest.approx(
            2 * m * d + height * (2 * 2 * (a + m * b) + 2 * m * c))
    one, two = sb.tree_s(costs, [0, 0, 0], m), sb.tree_s(costs, [0, 0, 1], m)
    assert two - one == pytest.approx(2 * (9 * a + 3 * m * b))
    assert sb.fused_s(costs, [0, 0, 1, 1], m) > sb.fused_s(costs, [0] * 4, m)
    assert sb.fused_s(costs, [0] * 4, m) == pytest.approx(
        2 * m * d + 6 * (a + m / 4 * b) + 3 * m / 4 * c)
    assert sb.halo_s(costs, [0, 0, 1, 1], m) == pytest.approx((a + m * b) + (10 * a + 4 * m * b))
    assert sb.halo_s(costs, [0, 0, 0, 0], m) == pytest.approx(2 * (a + m * b))


def test_the_scaling_check_runs_across_the_nodes(nodes, tmp_path):
    """scaling_bench's check on 4 ranks, 2 per node: the ranks placed in blocks, a time
    for each case."""
    out = tmp_path / "check.json"
    res = run4(nodes, [sys.executable, str(HERE.parent / "benchmarks" / "scaling_bench.py"),
                       "--role", "check", "--reps", "1", "--json", str(out)])
    assert res.returncode == 0, res.stdout + res.stderr
    got = json.loads(out.read_text())
    assert got["nodes"] == [0, 0, 1, 1] and got["hosts"] == ["node1", "node2"]
    assert set(got["got"]) == {"tree", "fused", "halo"} and all(
        t > 0 for t in got["got"].values())


def test_the_scaling_bench_measures_inside_an_allocation(nodes, tmp_path):
    """scaling_bench --here, as a user runs it on the target machine: the fit and the
    checks at 2, 4 and 8 ranks in the allocation it runs in, cores counted per node."""
    out = tmp_path / "here.json"
    res = nodes.run(["salloc", "-N", "2", "--ntasks-per-node=4", sys.executable,
                     str(HERE.parent / "benchmarks" / "scaling_bench.py"), "--here", "--reps",
                     "1", "--json", str(out)], timeout=600, cwd=str(tmp_path))
    assert res.returncode == 0, res.stdout + res.stderr
    got = json.loads(out.read_text())
    assert got["hosts"] == ["node1", "node2"] and got["cores_per"] == "node"
    assert sorted({c["ranks"] for c in got["checks"]}) == [2, 4, 8]
    assert all(c["measured_ms"] > 0 and c["predicted_ms"] > 0 for c in got["checks"])
    assert got["fit"]["remote_a_us"] > 0 and got["fit"]["local_b_ns_per_byte"] > 0
