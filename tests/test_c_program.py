"""The interposer serves non-Python programs: a C program built with mpicc, run preloaded."""
from pathlib import Path

import pytest

from support import helpers

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    return helpers.compile_c(HERE / "c" / "pack_check.c",
                             tmp_path_factory.mktemp("c") / "pack_check")


@pytest.mark.parametrize("nprocs", [1, 2])
def test_c_program_preloaded_packs_like_pmpi(program, nprocs):
    res = helpers.mpicomm_run(nprocs, [str(program), "--expect-fast"],
                              env={"MPICOMM_STATS": "1"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "pack_check OK 5 types" in res.stdout
    stats = helpers.stats_lines(res.stderr)
    assert [s["rank"] for s in stats] == list(range(nprocs))
    for s in stats:            # 4 canonical, 1 of the table form: all 5 packed here
        assert s["types_committed"] == 5 and s["types_canonical"] == 4 and s["types_table"] == 1
        assert s["pack_fast"] == 5 and s["pack_fallback"] == 0
        assert s["unpack_fast"] == 5 and s["unpack_fallback"] == 0
        assert s["bytes_packed"] > 0


def test_c_program_without_interposer(program):
    res = helpers.mpicomm_run(2, [str(program)], interposer=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "pack_check OK" in res.stdout and "mpicomm-stats" not in res.stderr


def test_disable_makes_every_wrapper_pass_through(program):
    res = helpers.mpicomm_run(1, [str(program)], env={"MPICOMM_DISABLE": "1",
                                                     "MPICOMM_STATS": "1"})
    assert res.returncode == 0, res.stdout + res.stderr
    (s,) = helpers.stats_lines(res.stderr)
    assert s["enabled"] == 0 and s["types_committed"] == 0 and s["pack_fast"] == 0


def test_stats_keys_are_integers(program):
    res = helpers.mpicomm_run(1, [str(program)], env={"MPICOMM_STATS": "1"})
    (s,) = helpers.stats_lines(res.stderr)
    for key in ("types_committed", "types_canonical", "pack_fast", "pack_fallback",
                "unpack_fast", "unpack_fallback", "bytes_packed"):
        assert isinstance(s[key], int)


def test_log_levels(program):
    res = helpers.mpicomm_run(1, [str(program)], env={"MPICOMM_LOG": "debug"})
    assert "type: canonical" in res.stderr and "type: table of 2 pieces" in res.stderr
    res = helpers.mpicomm_run(1, [str(program)], env={"MPICOMM_LOG": "loud"})
    assert res.returncode == 0
    assert "MPICOMM_LOG=loud is not one of error, warn, info, debug" in res.stderr


@pytest.mark.parametrize("method, shape", [("auto", ["256", "256", "512"]),
                                           ("pack", ["64", "8", "528"]),
                                           ("pack", ["128", "1024", "135200"])])
def test_the_c_benchmarks_ping_pong_gets_its_bytes(tmp_path, method, shape):
    """benchmarks/typed_pingpong.c checks every byte it receives (gaps untouched); under
    the built-in defaults MPICH 5 and Open MPI 5 pack its 64 KiB of 256-byte rows."""
    exe = helpers.compile_c(HERE.parent / "benchmarks" / "typed_pingpong.c",
                            tmp_path / "typed_pingpong")
    args = ["--blocks", shape[0], "--block-bytes", shape[1], "--stride-bytes", shape[2],
            "--iters", "20", "--reps", "2"]
    res = helpers.mpicomm_run(2, [str(exe), *args],
                              env={"MPICOMM_METHOD": method, "MPICOMM_MODEL": "builtin",
                                   "MPICOMM_STATS": "1"})
    assert res.returncode == 0 and " OK" in res.stdout, res.stdout + res.stderr
    inst = helpers.inst()
    packs = method == "pack" or inst.version.startswith("5")
    assert all((s["method_pack"] > 0) == packs for s in helpers.stats_lines(res.stderr))
