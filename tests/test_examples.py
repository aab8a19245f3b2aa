"""The examples run as users would run them."""
import re
import sys
from pathlib import Path

import pytest

from support import helpers

ROOT = Path(__file__).resolve().parents[1]


def test_pack_faces_example_runs_preloaded_on_the_fast_path():
    res = helpers.mpicomm_run(2, [sys.executable, str(ROOT / "examples" / "pack_faces.py"),
                                  "--n", "40", "--ghost", "2"], env={"MPICOMM_STATS": "1"})
    assert res.returncode == 0, res.stderr
    assert [ln for ln in res.stdout.splitlines() if ln.startswith("rank")] == \
        [f"rank {r}: 6 faces of 40^3, ghost 2: OK" for r in range(2)], res.stdout
    assert all(s["pack_fast"] == 6 for s in helpers.stats_lines(res.stderr))


def test_pack_faces_rejects_a_ghost_too_wide():
    res = helpers.mpicomm_run(1, [sys.executable, str(ROOT / "examples" / "pack_faces.py"),
                                  "--n", "4", "--ghost", "2"])
    assert res.returncode != 0 and "must exceed twice --ghost" in res.stderr


HALO_LINE = re.compile(r"halo3d: (\d+) ranks .*, (\d+)\^3 per rank, ghost (\d+), (\d+) neighbours"
                       r"(?: \((?:collective|persistent)\))?(?: on the \w+ device)?: "
                       r"([\d.]+) ms per exchange; check (\w+)")


def halo_result(res):
    m = HALO_LINE.search(res.stdout)
    assert m, res.stdout + res.stderr
    return m.groups()


@pytest.mark.parametrize("nprocs, neighbors, ghost", [(1, 26, 2), (2, 6, 1), (2, 26, 2),
                                                      (4, 26, 1)])
@pytest.mark.parametrize("interposer", [True, False])
def test_halo3d_py_ghosts_match_the_neighbours(nprocs, neighbors, ghost, interposer):
    res = helpers.mpicomm_run(nprocs, [sys.executable, str(ROOT / "examples" / "halo3d.py"),
                                       "--n", "20", "--ghost", str(ghost), "--neighbors",
                                       str(neighbors), "--iters", "2", "--warmup", "1"],
                              interposer=interposer)
    assert res.returncode == 0, res.stdout + res.stderr
    ranks, n, g, nb, ms, check = halo_result(res)
    assert (int(ranks), int(n), int(g), int(nb), check) == (nprocs, 20, ghost, neighbors, "OK")


@pytest.fixture(scope="module")
def halo3d_c(tmp_path_factory):
    return helpers.compile_c(ROOT / "examples" / "halo3d.c",
                             tmp_path_factory.mktemp("halo") / "halo3d")


@pytest.mark.parametrize("nprocs, neighbors", [(1, 6), (2, 26), (3, 26)])
def test_halo3d_c_ghosts_match_the_neighbours(halo3d_c, nprocs, neighbors):
    res = helpers.mpicomm_run(nprocs, [str(halo3d_c), "--n", "18", "--ghost", "2",
                                       "--neighbors", str(neighbors), "--iters", "2"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert halo_result(res)[-1] == "OK"


def halo_stats(halo3d_c, nprocs, n, env):
    """Both halo programs (26 neighbours, ghost 2, 3 exchanges) checked OK under env;
    each one's per-rank MPICOMM_STATS."""
    out = []
    for argv in ([sys.executable, str(ROOT / "examples" / "halo3d.py")], [str(halo3d_c)]):
        res = helpers.mpicomm_run(nprocs, argv + ["--n", str(n), "--ghost", "2", "--neighbors",
                                                  "26", "--iters", "2", "--warmup", "1"],
                                  env={**env, "MPICOMM_STATS": "1"})
        assert res.returncode == 0, res.stdout + res.stderr
        assert halo_result(res)[-1] == "OK"
        stats = helpers.stats_lines(res.stderr)
        assert len(stats) == nprocs
        out.append(stats)
    return out


@pytest.mark.parametrize("nprocs", [1, 2, 3])
def test_halo3d_with_the_pack_method(halo3d_c, nprocs):
    """Every face and edge goes through the interposer's pack-and-send path."""
    for stats in halo_stats(halo3d_c, nprocs, 16, {"MPICOMM_METHOD": "pack"}):
        assert all(s["send_fast"] == s["recv_fast"] == 3 * 26 for s in stats), stats


@pytest.mark.parametrize("nprocs", [1, 2, 3])
def test_halo3d_collective_exchange(nprocs):
    """MPI_Neighbor_alltoallw on the Cartesian communicator, packed by the interposer."""
    argv = [sys.executable, str(ROOT / "examples" / "halo3d.py"), "--collective", "--n", "16",
            "--ghost", "2", "--iters", "2", "--warmup", "1"]
    packed = helpers.mpicomm_run(nprocs, argv, env={"MPICOMM_METHOD": "pack",
                                                    "MPICOMM_STATS": "1"})
    plain = helpers.mpicomm_run(nprocs, argv, env={"MPICOMM_DISABLE": "1"})
    for res in (packed, plain):
        assert res.returncode == 0, res.stdout + res.stderr
        assert halo_result(res)[-1] == "OK"
    stats = helpers.stats_lines(packed.stderr)
    assert [s["neighbor_fast"] for s in stats] == [3] * nprocs, stats


@pytest.mark.parametrize("nprocs", [1, 3])
def test_halo3d_persistent_exchange(nprocs):
    """Persistent requests made once and started at each exchange, packed by the
    interposer: one MPI_Recv_init and one MPI_Send_init per neighbour."""
    argv = [sys.executable, str(ROOT / "examples" / "halo3d.py"), "--persistent", "--n", "12",
            "--ghost", "2", "--neighbors", "26", "--iters", "3", "--warmup", "1"]
    packed = helpers.mpicomm_run(nprocs, argv, env={"MPICOMM_METHOD": "pack",
                                                    "MPICOMM_STATS": "1"})
    plain = helpers.mpicomm_run(nprocs, argv, env={"MPICOMM_DISABLE": "1"})
    for res in (packed, plain):
        assert res.returncode == 0, res.stdout + res.stderr
        assert halo_result(res)[-1] == "OK" and "(persistent)" in res.stdout
    stats = helpers.stats_lines(packed.stderr)
    assert [(s["send_fast"], s["recv_fast"]) for s in stats] == [(26, 26)] * nprocs, stats
    assert all(s["bytes_packed"] > 0 for s in stats), stats


@pytest.mark.parametrize("nprocs", [1, 2, 3])
@pytest.mark.parametrize("kind", [[], ["--persistent"]])
def test_halo3d_on_the_simulated_device(nprocs, kind):
    """The halo in device memory: every face packed on the device and staged through host
    memory (26 sends and receives per rank and exchange), ghosts right."""
    argv = [sys.executable, str(ROOT / "examples" / "halo3d.py"), "--device", "sim", "--n",
            "10", "--ghost", "2", "--neighbors", "26", "--iters", "2", "--warmup", "1", *kind]
    res = helpers.mpicomm_run(nprocs, argv, env={"MPICOMM_DEVICE": "sim", "MPICOMM_STATS": "1"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert halo_result(res)[-1] == "OK" and "on the sim device" in res.stdout
    stats = helpers.stats_lines(res.stderr)
    exchanges = 1 if kind else 3                  # persistent: chosen once, at init
    assert [s["method_staged"] for s in stats] == [2 * 26 * exchanges] * nprocs, stats


def test_halo3d_device_needs_its_backend():
    res = helpers.mpicomm_run(1, [sys.executable, str(ROOT / "examples" / "halo3d.py"),
                                  "--device", "sim", "--n", "4"], env={"MPICOMM_DEVICE": ""})
    assert res.returncode != 0 and "--device sim but the device backend is cuda" in res.stderr


def test_halo3d_rejects_bad_options(halo3d_c):
    res = helpers.mpicomm_run(1, [sys.executable, str(ROOT / "examples" / "halo3d.py"),
                                  "--n", "2", "--ghost", "3"])
    assert res.returncode != 0 and "need 1 <= --ghost <= --n" in res.stderr
    res = helpers.mpicomm_run(1, [sys.executable, str(ROOT / "examples" / "halo3d.py"),
                                  "--collective", "--persistent"])
    assert res.returncode != 0 and "--collective and --persistent" in res.stderr
    res = helpers.mpicomm_run(1, [str(halo3d_c), "--neighbors", "7"])
    assert res.returncode != 0 and "--neighbors 6 or 26" in res.stderr


@pytest.mark.parametrize("nprocs", [1, 2, 3])
def test_halo3d_with_the_pipelined_method(halo3d_c, nprocs):
    """Faces of two chunks or more travel chunk by chunk; edges and corners as before."""
    env = {"MPICOMM_METHOD": "pipeline", "MPICOMM_PIPELINE_CHUNK": "4096"}
    for stats in halo_stats(halo3d_c, nprocs, 24, env):
        assert [s["method_pipeline"] for s in stats] == [3 * 6 * 2] * nprocs, stats
