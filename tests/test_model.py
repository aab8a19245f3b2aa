"""The measured model behind MPICOMM_METHOD=auto: `mpicomm measure` writes it, the
interposer reads it at MPI_Init (rank 0 reads, all ranks use it), `mpicomm info`
shows it. Real runs under mpiexec, real HDF5 files."""
import json
import sys

import h5py
import numpy as np
import pytest

from support import helpers
from mpicomm import installation, model

# Rank 0 prints what every rank decided: the model in use and its method counters.
PROBE = """
import json
import numpy as np
from mpi4py import MPI
from mpicomm.interposer import Interposer
ip, comm = Interposer(), MPI.COMM_WORLD
dt = MPI.BYTE.Create_vector(1024, 8, 16).Commit()
buf = np.zeros(1 << 14, np.uint8)
peer = 1 - comm.rank
if comm.rank == 0:
    comm.Send([buf, 1, dt], peer); comm.Recv([buf, 1, dt], peer)
else:
    comm.Recv([buf, 1, dt], peer); comm.Send([buf, 1, dt], peer)
got = comm.gather({"model": ip.model, "pack": ip.stat("method_pack"),
                   "passthrough": ip.stat("method_passthrough")})
if comm.rank == 0:
    print("PROBE", json.dumps(got))
"""


def probe(env, prefix=()):
    """Run PROBE on 2 ranks (argv prefix, e.g. `env VAR=...`, seen by the ranks only)."""
    res = helpers.mpicomm_run(2, [*prefix, sys.executable, "-c", PROBE], env=env)
    assert res.returncode == 0, res.stderr
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("PROBE ")]
    assert line, res.stdout + res.stderr
    return json.loads(line[0][6:]), res.stderr


def cli(*args, env=None):
    return helpers.cli(*args, env=env, timeout=900)


def synthetic(path, pack_faster, vendor=None, drop=None, pipeline=None, library=None,
              device=None, backend="sim"):
    """A model file whose pack method is everywhere faster (or slower) than the MPI;
    pipeline: seconds of the pipelined method at 1 MiB (None: no pipelined table);
    library: the MPI library version it claims (None: it records none); device: seconds
    of each device method everywhere ({"staged": 1e-3, ...}), measured on backend."""
    blocks, totals = np.array([1, 64, 4096]), np.array([1024, 1 << 20])
    slow, fast = np.full((3, 2), 2e-3), np.full((3, 2), 1e-3)
    with h5py.File(path, "w") as f:
        f.attrs["mpicomm_model"] = np.bytes_(model.FORMAT)
        f.attrs["mpi_vendor"] = np.bytes_(vendor or installation.probe().vendor)
        if library:
            f.attrs["mpi_library_version"] = np.bytes_(library)
        tables = {"block_bytes": blocks, "total_bytes": totals,
                  "method/passthrough": slow if pack_faster else fast,
                  "method/pack": fast if pack_faster else slow,
                  "pack_seconds": fast, "unpack_seconds": fast,
                  "pingpong_bytes": np.array([8]), "pingpong_seconds": np.array([1e-6])}
        if pipeline is not None:
            tables["pipeline_total_bytes"] = np.array([1 << 20])
            tables["method/pipeline"] = np.full((3, 1), pipeline)
        if device:
            f.attrs["device_backend"] = np.bytes_(backend)
            f.attrs["device_name"] = np.bytes_("a device")
            tables["device_block_bytes"] = np.array([8, 1024])
            tables["device_total_bytes"] = np.array([1 << 14, 1 << 18])
            for name, seconds in device.items():
                tables[f"device/{name}"] = np.full((2, 2), seconds)
        for name, value in tables.items():
            if name != drop:
                f[name] = value
    return path


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    out = tmp_path_factory.mktemp("model") / "m.h5"
    res = cli("measure", "--quick", "--reps", "3", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == str(out)
    return out


def _gpu():
    try:
        import cupy
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:                   # no CuPy, no driver
        return False


def test_measure_writes_the_tables_and_their_provenance(measured):
    inst = installation.probe()
    m = model.read(measured)
    a = m["attrs"]
    assert a["mpi_vendor"] == inst.vendor
    assert inst.version in a["mpi_library_version"]
    assert a["host"] and a["date"].startswith("20") and a["ranks"] == 2
    nb, ns = len(m["block_bytes"]), len(m["total_bytes"])
    for name in ("pack_seconds", "unpack_seconds"):
        assert m[name].shape == (nb, ns) and np.all(m[name] > 0) and np.all(np.isfinite(m[name]))
    for name in ("method/passthrough", "method/passthrough_nested", "method/pack"):
        assert m[name].shape == (nb, len(m["stride_bytes"]), ns)
    assert len(m["pingpong_seconds"]) == len(m["pingpong_bytes"]) > 0
    # The pipelined method is timed at the sizes of two chunks (128 KiB) or more.
    assert list(m["pipeline_total_bytes"]) == [s for s in m["total_bytes"] if s >= 1 << 18]
    assert m["method/pipeline"].shape == (nb, len(m["pipeline_total_bytes"])) == (nb, 1)
    assert np.all(m["method/pipeline"] > 0) and a["pipeline_chunk"] == 131072
    # A bigger message takes longer: a check that the figures are measured, not made up.
    # (Ratios of 500000x and 16x in data, so a busy machine cannot turn them around.)
    assert m["pingpong_seconds"][-1] > m["pingpong_seconds"][0]
    assert m["pack_seconds"][:, -1].sum() > m["pack_seconds"][:, 0].sum()
    # No device, no device tables.
    assert _gpu() or "device_block_bytes" not in m


def test_measure_times_the_device_methods_where_a_device_is_usable(tmp_path):
    """On the simulated device: the device grid, each method's ping-pong, the device
    kernel and device-to-host copies, and the backend they were measured on."""
    out = tmp_path / "m.h5"
    res = cli("measure", "--quick", "--reps", "2", "-o", str(out),
              env={"MPICOMM_DEVICE": "sim"})
    assert res.returncode == 0, res.stderr
    m = model.read(out)
    assert m["attrs"]["device_backend"] == "sim"
    assert m["attrs"]["device_name"] == "simulated device"
    shape = (len(m["device_block_bytes"]), len(m["device_total_bytes"]))
    assert shape == (2, 2)
    names = {"staged", "oneshot"}
    assert {k[7:] for k in m if k.startswith("device/")} == names | {
        "pack_seconds", "copy_to_host_seconds"}
    for name in names | {"pack_seconds"}:
        t = m[f"device/{name}"]
        assert t.shape == shape and np.all(t > 0) and np.all(np.isfinite(t))
    # 16x the bytes take the device kernel longer: measured, not made up. (The ping-pongs
    # of two ranks on a shared 2-core machine are too noisy at these sizes to order.)
    assert np.all(m["device/pack_seconds"][:, 1] > m["device/pack_seconds"][:, 0])
    assert m["device/copy_to_host_seconds"].shape == (2,)
    res = cli("info", "--no-build", env={"MPICOMM_MODEL": str(out)})
    assert "device buffers on simulated device (sim)" in res.stdout, res.stdout


# Rank 0 prints the device methods each rank took for a strided device buffer (sent
# there and back), after checking the bytes that came back.
DEVICE_PROBE = """
import json
import numpy as np
from mpi4py import MPI
from mpicomm import device
from mpicomm.interposer import Interposer
ip, comm = Interposer(), MPI.COMM_WORLD
dt = MPI.BYTE.Create_vector(1024, 8, 16).Commit()
host = (np.arange(1 << 14) % 251).astype(np.uint8)
buf, peer = device.asarray(host), 1 - comm.rank
if comm.rank == 0:
    comm.Send([buf, 1, dt], peer); comm.Recv([buf, 1, dt], peer)
else:
    comm.Recv([buf, 1, dt], peer); comm.Send([buf, 1, dt], peer)
assert (device.asnumpy(buf) == host).all()
got = comm.gather({m: ip.stat("method_" + m) for m in ("staged", "oneshot")})
if comm.rank == 0:
    print("PROBE", json.dumps(got))
"""


@pytest.mark.parametrize("faster, backend, want", [
    ("oneshot", "sim", "oneshot"), ("staged", "sim", "staged"),
    ("oneshot", "cuda", "staged"),      # measured on another backend: the default
])
def test_auto_follows_the_device_tables(tmp_path, faster, backend, want):
    times = {"staged": 2e-3, "oneshot": 2e-3, faster: 1e-3}
    path = synthetic(tmp_path / "m.h5", False, device=times, backend=backend)
    res = helpers.mpicomm_run(2, [sys.executable, "-c", DEVICE_PROBE],
                              env={"MPICOMM_MODEL": str(path), "MPICOMM_DEVICE": "sim"})
    assert res.returncode == 0, res.stdout + res.stderr
    got = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("PROBE ")][0][6:])
    assert got == [{"staged": 2 * (want == "staged"), "oneshot": 2 * (want == "oneshot")}] * 2


def test_the_interposer_reads_the_measured_model(measured):
    # The library version it records is the running MPI's, as the interposer reads it.
    assert model.read(measured)["attrs"]["mpi_library_version"] == \
        installation.library_line(installation.probe().library_version)
    got, err = probe({"MPICOMM_MODEL": str(measured), "MPICOMM_LOG": "info"})
    assert [g["model"] for g in got] == [str(measured)] * 2
    assert f"model {measured}" in err
    assert all(g["pack"] + g["passthrough"] == 2 for g in got)


@pytest.mark.parametrize("pack_faster", [True, False])
def test_auto_follows_the_model(tmp_path, pack_faster):
    path = synthetic(tmp_path / "m.h5", pack_faster)
    got, _ = probe({"MPICOMM_MODEL": str(path)})
    for g in got:
        assert g["model"] == str(path)
        assert (g["pack"], g["passthrough"]) == ((2, 0) if pack_faster else (0, 2))


def test_default_location_is_the_per_user_cache(tmp_path):
    cache = tmp_path / "cache"
    expect = model.default_path(installation.probe().vendor)
    assert expect.parent.name == "models"
    expect = cache / "models" / expect.name
    expect.parent.mkdir(parents=True)
    synthetic(expect, pack_faster=False)
    # Only the ranks see the new cache directory (the launcher keeps its cached build).
    got, _ = probe({}, prefix=("env", f"MPICOMM_CACHE_DIR={cache}"))
    assert [g["model"] for g in got] == [str(expect)] * 2
    assert all(g["passthrough"] == 2 for g in got)
    res = cli("info", "--no-build", env={"MPICOMM_CACHE_DIR": str(cache)})
    assert res.returncode == 0, res.stderr
    assert str(expect) in res.stdout


@pytest.mark.parametrize("case, reason", [
    ("missing", "no model at"),
    ("not-hdf5", "not a readable HDF5 file"),
    ("other-mpi", "measured under another MPI"),
    ("other-version", "measured under another version of this MPI"),
    ("no-table", "tables are missing"),
    ("bad-internode", "inter-node tables (internode/) are missing a table or malformed"),
])
def test_a_bad_model_is_named_and_the_defaults_used(tmp_path, case, reason):
    path = tmp_path / "m.h5"
    if case == "not-hdf5":
        path.write_text("not a model")
    elif case == "other-mpi":
        synthetic(path, True, vendor="Some Other MPI")
    elif case == "other-version":
        synthetic(path, True, library=f"{installation.probe().vendor} 0.0.1")
    elif case == "no-table":
        synthetic(path, True, drop="method/pack")
    elif case == "bad-internode":       # a grid between nodes without its tables
        synthetic(path, True)
        with h5py.File(path, "a") as f:
            f["internode/block_bytes"] = f["block_bytes"][()]
            f["internode/total_bytes"] = f["total_bytes"][()]
        with pytest.raises(model.ModelError, match="internode/method/passthrough is missing"):
            model.read(path)
    got, err = probe({"MPICOMM_MODEL": str(path)})
    assert [g["model"] for g in got] == ["builtin"] * 2
    assert f"model {path}" in err or f"no model at {path}" in err
    assert reason in err
    if case == "other-version":
        res = cli("info", "--no-build", env={"MPICOMM_MODEL": str(path)})
        assert "measured under another version" in res.stdout, res.stdout


def test_builtin_defaults_when_asked(tmp_path):
    got, _ = probe({"MPICOMM_MODEL": "builtin"})
    inst = installation.probe()
    # 8-byte blocks: MPICH's derived path is weak there, Open MPI's pipelines.
    want = (2, 0) if inst.vendor == "MPICH" else (0, 2)
    assert [(g["pack"], g["passthrough"]) for g in got] == [want] * 2
    res = cli("info", "--no-build", env={"MPICOMM_MODEL": "builtin"})
    assert "built-in defaults" in res.stdout


def test_info_shows_the_model_and_its_provenance(measured):
    res = cli("info", env={"MPICOMM_MODEL": str(measured)})
    assert res.returncode == 0, res.stderr
    assert str(measured) in res.stdout
    assert f"with {installation.probe().vendor}" in res.stdout
    assert "auto packs (P) or leaves to the MPI (.)" in res.stdout


def test_measure_refuses_to_overwrite_a_file_that_is_not_a_model(tmp_path):
    precious = tmp_path / "data.h5"
    precious.write_bytes(b"precious")
    res = cli("measure", "--quick", "--reps", "1", "-o", str(precious))
    assert res.returncode == 2
    assert "refusing to overwrite" in res.stderr and str(precious) in res.stderr
    assert precious.read_bytes() == b"precious"
    res = cli("measure", "--reps", "0", "-o", str(tmp_path / "new.h5"))
    assert res.returncode == 2 and "--reps" in res.stderr
    assert not (tmp_path / "new.h5").exists()


# Rank 0 prints how many messages each rank pipelined on COMM_WORLD and on a duplicate
# whose hints assert exact lengths and no wildcards (MPI-4 info assertions).
ASSERTED = """
import json
import numpy as np
from mpi4py import MPI
from mpicomm.interposer import Interposer
ip, world = Interposer(), MPI.COMM_WORLD
info = MPI.Info.Create()
for key in ("mpi_assert_exact_length", "mpi_assert_no_any_source", "mpi_assert_no_any_tag"):
    info.Set(key, "true")
asserted = world.Dup(info)
dt = MPI.DOUBLE.Create_vector(1 << 16, 2, 3).Commit()        # 1 MiB of a vector
buf = np.arange(3 << 16, dtype="f8") + world.rank
peer, got = 1 - world.rank, {}
for name, comm in (("world", world), ("asserted", asserted)):
    before = ip.stat("method_pipeline")
    out = np.zeros_like(buf)
    r = comm.Irecv([out, 1, dt], peer, 3)
    comm.Send([buf, 1, dt], peer, 3)
    r.Wait()
    assert (out.reshape(-1, 3)[:, :2] == (buf - world.rank + peer).reshape(-1, 3)[:, :2]).all()
    got[name] = ip.stat("method_pipeline") - before
asserted.Free()
got = world.gather(got)
if world.rank == 0:
    print("PROBE", json.dumps(got))
"""


@pytest.mark.parametrize("pipeline_faster", [True, False])
def test_auto_pipelines_only_where_asserted_and_faster(tmp_path, pipeline_faster):
    path = synthetic(tmp_path / "m.h5", False, pipeline=5e-4 if pipeline_faster else 5e-3)
    res = helpers.mpicomm_run(2, [sys.executable, "-c", ASSERTED],
                              env={"MPICOMM_MODEL": str(path)})
    assert res.returncode == 0, res.stdout + res.stderr
    got = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("PROBE ")][0][6:])
    assert got == [{"world": 0, "asserted": 2 if pipeline_faster else 0}] * 2
    lines = model.summary(path, installation.probe().vendor)
    assert lines[-1].endswith("1 MiB" if pipeline_faster else "no size measured")


# Rank 0 prints, per case, how many calls auto packed on each rank: the case's type made
# by the script's make(*case) (with its buffer), sent by blocking calls, or (argv[2]
# "exchange") by Isend and Irecv at once.
CASE_PROBE = """
import json, sys
import numpy as np
from mpi4py import MPI
from mpicomm import measure
from mpicomm.interposer import Interposer
ip, comm = Interposer(), MPI.COMM_WORLD
peer, packed = 1 - comm.rank, []
rng = np.random.default_rng(5)
MAKE
for case in json.loads(sys.argv[1]):
    dt, buf = make(*case)
    before = ip.stat("method_pack")
    if sys.argv[2] == "exchange":
        MPI.Request.Waitall([comm.Irecv([buf.copy(), 1, dt], peer),
                             comm.Isend([buf, 1, dt], peer)])
    elif comm.rank == 0:
        comm.Send([buf, 1, dt], peer); comm.Recv([buf, 1, dt], peer)
    else:
        comm.Recv([buf, 1, dt], peer); comm.Send([buf, 1, dt], peer)
    packed.append(ip.stat("method_pack") - before)
    dt.Free()
got = comm.gather(packed)
if comm.rank == 0:
    print("PROBE", json.dumps(got))
"""
# Cases (block, stride class, total, nested): the layout built as mpicomm measure builds
# its grid points.
CASES = CASE_PROBE.replace("MAKE", """
def make(block, cls, total, nested):
    return (measure._vector(block, total, cls, nested).Commit(),
            np.ones(measure._span(block, total, cls), np.uint8))
""")


def packed_cases(cases, env, pattern="pingpong", script=CASES):
    """Per case of script (CASES or INDEXED): did auto pack its calls on both ranks."""
    res = helpers.mpicomm_run(2, [sys.executable, "-c", script, json.dumps(cases), pattern],
                              env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    got = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("PROBE ")][0][6:])
    assert got[0] == got[1]
    assert set(got[0]) <= {0, 2}
    return [n == 2 for n in got[0]]


def test_measure_times_strides_and_constructions(measured):
    m = model.read(measured)
    shape = (len(m["block_bytes"]), len(m["stride_bytes"]), len(m["total_bytes"]))
    assert list(m["stride_bytes"]) == [128, 8192]
    for name in ("method/passthrough", "method/passthrough_nested", "method/pack",
                 "exchange/passthrough", "exchange/passthrough_nested", "exchange/pack"):
        t = m[name]
        assert t.shape == shape
        ok = np.isfinite(t)
        assert np.all(t[ok] > 0)
        # Not measured only where the layout would span more than 64 MiB.
        for i, k, j in zip(*np.nonzero(~ok)):
            b, c, s = m["block_bytes"][i], m["stride_bytes"][k], m["total_bytes"][j]
            assert s // b * max(b + 64, c) > 64 << 20


@pytest.mark.parametrize("pattern", ["pingpong", "exchange"])
def test_auto_leaves_to_the_mpi_what_the_measured_model_saw_packing_lose(measured, pattern):
    """Every measured point, both constructions, blocking calls and an exchange: auto
    packs exactly where the model measured packing 5% faster for that pattern; and some
    point was measured losing in a ping-pong (page strides: both methods touch a page
    per block, and the MPI overlaps its sender's copies with its receiver's where
    packing cannot), which auto leaves to the MPI."""
    m = model.read(measured)
    cases, want = [], []
    wins = [model.gains(m, nested, exchange=pattern == "exchange") >
            np.log(model.margin(pattern == "exchange")) for nested in (False, True)]
    for nested in (False, True):
        for i, b in enumerate(m["block_bytes"]):
            for k, c in enumerate(m["stride_bytes"]):
                for j, s in enumerate(m["total_bytes"]):
                    if s // b * max(b + 64, c) <= 64 << 20:
                        cases.append([int(b), int(c), int(s), nested])
                        # The interposer's reading of the construction (mpiw_model.c):
                        # 64 blocks or fewer move as nested vectors do, a long vector of
                        # 1024 or more as one, between them packing must win both ways.
                        blocks = s // b
                        built = [True] if nested or blocks <= 64 else \
                            [False] if blocks >= 1024 else [False, True]
                        want.append(all(bool(wins[n][i, k, j]) for n in built))
    assert pattern == "exchange" or not all(want), "no measured point where packing loses"
    assert packed_cases(cases, {"MPICOMM_MODEL": str(measured)}, pattern) == want


def strided_model(path, nested_pack, page_pack):
    """A synthetic model with the stride axis: in a ping-pong, packing wins below a page
    (for nested vectors only where nested_pack) and loses at page strides unless
    page_pack; in an exchange it wins everywhere."""
    blocks, strides, totals = [8, 64, 4096], [128, 8192], [4096, 1 << 20]
    pack = np.full((3, 2, 2), 1e-3)
    flat = np.full_like(pack, 2e-3)
    flat[:, 1, :] = 2e-3 if page_pack else 0.5e-3
    nested = flat.copy()
    nested[:, 0, :] = 2e-3 if nested_pack else 0.5e-3
    with h5py.File(path, "w") as f:
        f.attrs["mpicomm_model"] = np.bytes_(model.FORMAT)
        f.attrs["mpi_vendor"] = np.bytes_(installation.probe().vendor)
        for name, value in {"block_bytes": blocks, "stride_bytes": strides,
                            "total_bytes": totals, "method/passthrough": flat,
                            "method/passthrough_nested": nested, "method/pack": pack,
                            "exchange/passthrough": flat * 0 + 2e-3,
                            "exchange/passthrough_nested": flat * 0 + 2e-3,
                            "exchange/pack": pack,
                            "pack_seconds": pack[:, 0], "unpack_seconds": pack[:, 0],
                            "pingpong_bytes": [8], "pingpong_seconds": [1e-6]}.items():
            f[name] = np.array(value)
    return path


@pytest.mark.parametrize("nested_pack, page_pack", [(True, False), (False, False),
                                                    (True, True)])
def test_auto_follows_stride_and_construction(tmp_path, nested_pack, page_pack):
    path = strided_model(tmp_path / "m.h5", nested_pack, page_pack)
    # 8-byte blocks, 32 KiB: at 128 B and 8 KiB strides, as one vector and nested.
    cases = [[8, 128, 1 << 15, False], [8, 128, 1 << 15, True],
             [8, 8192, 1 << 15, False], [8, 8192, 1 << 15, True]]
    want = [True, nested_pack, page_pack, page_pack]
    assert packed_cases(cases, {"MPICOMM_MODEL": str(path)}) == want
    assert packed_cases(cases, {"MPICOMM_MODEL": str(path)}, "exchange") == [True] * 4
    lines = model.summary(path, installation.probe().vendor)
    # The map `mpicomm info` shows: per block, per stride class, one mark per size.
    page, nest = ("PP" if page_pack else ".."), ("PP" if nested_pack else "..")
    assert ["8", "PP", page, "|", nest, page] in [ln.split() for ln in lines], lines


PACK_CALLS = """
import json
import numpy as np
from mpi4py import MPI
from mpicomm.interposer import Interposer
ip, comm, got = Interposer(), MPI.COMM_WORLD, []
for block in (8, 64):
    dt = MPI.BYTE.Create_vector(512, block, 2 * block).Commit()
    src = np.random.default_rng(block).integers(0, 256, 1024 * block, np.uint8)
    ours, theirs, back = bytearray(512 * block), bytearray(512 * block), np.zeros_like(src)
    before = {k: ip.stat(k) for k in ("pack_fast", "unpack_fast")}
    dt.Pack(src, ours, 0, comm)
    dt.Unpack(ours, 0, back, comm)
    with ip.disabled():
        dt.Pack(src, theirs, 0, comm)
    same = ours == theirs and bool(np.array_equal(back.reshape(512, 2, block)[:, 0],
                                                  src.reshape(512, 2, block)[:, 0]))
    got.append([ip.stat(k) - v for k, v in before.items()] + [same])
print("PROBE", json.dumps(got))
"""


def test_a_block_between_measured_ones_gains_only_what_both_gain(tmp_path):
    """Packing measured 10x faster at 64-byte blocks and 10% slower at 8-byte ones: a
    32-byte block, between them, is left to the MPI (a straight line between the two
    would have packed it), the measured lengths follow their own rows."""
    path = strided_model(tmp_path / "m.h5", True, True)
    with h5py.File(path, "r+") as f:
        flat = f["method/pack"][...] * 10
        flat[0] = f["method/pack"][0] * 0.9
        for name in ("method/passthrough", "method/passthrough_nested"):
            del f[name]
            f[name] = flat
    cases = [[8, 128, 1 << 15, False], [32, 128, 1 << 15, False],
             [64, 128, 1 << 15, False]]
    assert packed_cases(cases, {"MPICOMM_MODEL": str(path)}) == [False, False, True]


def test_mpi_pack_follows_the_model(tmp_path):
    """MPI_Pack and MPI_Unpack are the MPI's own where the model measured them faster
    (8-byte blocks here), ours elsewhere (64-byte blocks), the bytes the same; a model
    without those tables, and the built-in defaults, pack everything here."""
    path = strided_model(tmp_path / "m.h5", nested_pack=True, page_pack=False)
    plain = tmp_path / "plain.h5"
    plain.write_bytes(path.read_bytes())
    with h5py.File(path, "a") as f:
        theirs = np.full((3, 2), 1e-3)
        theirs[0] = 0.5e-3                                   # 8-byte blocks: the MPI's faster
        for kind in ("pack_call", "unpack_call"):
            f[f"{kind}/mpi"] = theirs
            f[f"{kind}/mpicomm"] = np.full((3, 2), 1e-3)
    for model_path, want in ((path, [[0, 0, True], [1, 1, True]]),
                             (plain, [[1, 1, True]] * 2), ("builtin", [[1, 1, True]] * 2)):
        res = helpers.mpicomm_run(1, [sys.executable, "-c", PACK_CALLS],
                                  env={"MPICOMM_MODEL": str(model_path)})
        assert res.returncode == 0, res.stdout + res.stderr
        line = [ln for ln in res.stdout.splitlines() if ln.startswith("PROBE ")][0]
        assert json.loads(line[6:]) == want, model_path


FFT_COLUMNS = """
import json
import numpy as np
from mpi4py import MPI
from mpicomm.interposer import Interposer
ip, comm = Interposer(), MPI.COMM_WORLD
peer, n = 1 - comm.rank, 128
col = MPI.C_DOUBLE_COMPLEX.Create_vector(n, 1, n)
dt = col.Create_resized(0, 16).Create_contiguous(n // 2).Commit()
m = (np.arange(n * n) + 1j * comm.rank).reshape(n, n)
got = np.zeros_like(m)
before = ip.stat("method_pack")
comm.Sendrecv([m, 1, dt], peer, 0, [got, 1, dt], peer, 0)
packed = ip.stat("method_pack") - before
want = (np.arange(n * n) + 1j * peer).reshape(n, n)
ok = bool(np.array_equal(got[:, :n // 2], want[:, :n // 2]) and not got[:, n // 2:].any())
got = comm.gather([packed, ok])
if comm.rank == 0:
    print("PROBE", json.dumps(got))
"""


def test_builtin_defaults_pack_transposes_under_mpich():
    """A 2-D FFT's transpose (half the columns of a complex matrix as a resized column
    type): MPICH walks it column by column, the core by tiles of columns: the defaults
    pack it under MPICH, not under Open MPI; the columns arrive intact either way."""
    res = helpers.mpicomm_run(2, [sys.executable, "-c", FFT_COLUMNS],
                              env={"MPICOMM_MODEL": "builtin"})
    assert res.returncode == 0, res.stdout + res.stderr
    got = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("PROBE ")][0][6:])
    mpich = installation.probe().vendor == "MPICH"
    assert got == [[2 if mpich else 0, True]] * 2


def test_builtin_defaults_follow_stride_and_construction():
    """MPICH: small blocks packed when built as one long vector less than 8 KiB apart; the
    same face built of short nested vectors, or at page strides, left to the MPI in a
    ping-pong, as are small messages; under MPICH 5 blocks of 65 B to 2 KiB in messages
    of 8 KiB to 1 MiB too, to 3 KiB in messages to 256 KiB (8 to 64 KiB in an exchange),
    and messages of 8 KiB or more of at most 1024 blocks of at most 64 B, as the
    measurements behind the defaults found. Open MPI: the MPI, but for Open MPI
    5's messages sent alone of 8 to 32 KiB of blocks of 128 to 512 B, of 8 to 64 KiB of
    blocks of 64 to 127 B at most 512 B apart (to 16 KiB at most 2 KiB apart), of 32 to
    64 KiB of blocks of 192 to 319 B at most 1 KiB apart, and of 512 B to 2 KiB of
    8-byte blocks, and its messages over 8 KiB to 64 KiB of blocks of 24 to 63 B at most
    1.5 KiB apart, blocking or not, but at strides of a power of two from 512 B over
    32 KiB (from 1 KiB over 16 KiB)."""
    inst = installation.probe()
    mpich = inst.vendor == "MPICH"
    major = int(inst.version.split(".")[0])
    mpich5 = mpich and major >= 5
    ompi5 = inst.vendor == "Open MPI" and major >= 5
    cases = [[8, 128, 1 << 15, False], [8, 128, 1 << 15, True], [8, 8192, 1 << 15, False],
             [1024, 2048, 1 << 15, False], [8, 128, 4096, False], [1024, 2048, 1 << 18, False],
             [1024, 2048, 1 << 22, False], [4096, 8192, 1 << 15, False],
             [256, 512, 1 << 16, True], [2480, 1 << 17, 1 << 17, False],
             [2480, 1 << 17, 1 << 20, False]]
    want = [mpich, False, False, mpich5, False, mpich5, False, False, mpich5 or ompi5, mpich5,
            False]
    cases += [[256, 512, 1 << 14, False], [128, 2048, 1 << 15, True], [64, 128, 1 << 14, False],
              [1024, 2048, 1 << 14, False], [256, 512, 1 << 16, False]]
    want += [mpich5 or ompi5, mpich5 or ompi5, mpich5 or ompi5, mpich5, mpich5 or ompi5]
    cases += [[192, 1024, 48 << 10, False], [256, 4096, 1 << 16, False],
              [384, 512, 1 << 16, False], [128, 512, 1 << 16, False], [256, 512, 72 << 10, False]]
    want += [mpich5 or ompi5, mpich5, mpich5, mpich5, mpich5]
    cases += [[64, 128, 1 << 16, False], [64, 2048, 1 << 14, False], [64, 2048, 1 << 16, False],
              [64, 8192, 1 << 14, False], [8, 128, 1024, False], [8, 128, 2048, True],
              [8, 128, 256, False], [16, 128, 1024, False]]
    want += [mpich or ompi5, mpich5 or ompi5, mpich, mpich5, ompi5, ompi5, False, False]
    cases += [[24, 128, 1 << 14, True], [40, 512, 1 << 16, False], [48, 1024, 1 << 14, True],
              [16, 128, 1 << 14, True], [32, 8192, 1 << 15, True]]
    want += [mpich5 or ompi5, mpich, mpich5 or ompi5, mpich5, mpich5]
    assert packed_cases(cases, {"MPICOMM_MODEL": "builtin"}) == want
    # Nonblocking calls (an exchange, not a ping-pong): nested faces of 16 KiB or more
    # too, and page strides; under MPICH 5 every message under 8 KiB.
    cases = [[8, 2048, 1 << 18, True], [8, 2048, 1 << 15, True], [8, 8192, 1 << 18, True],
             [1024, 2048, 1 << 18, True], [8, 2048, 1 << 13, True], [8, 128, 4096, True],
             [8, 8208, 1 << 13, True], [24, 128, 1 << 15, True]]
    want = [mpich, mpich, mpich, False, mpich5, mpich5, mpich, mpich or ompi5]
    assert packed_cases(cases, {"MPICOMM_MODEL": "builtin"}, "exchange") == want


# Cases (construction, n): the t face of an n^4 lattice of su3 vectors (24-byte sites),
# built as vectors of vectors (three levels with the su3 type) or as a 4-D subarray (six).
LATTICE = CASE_PROBE.replace("MAKE", """
def make(kind, n):
    su3 = MPI.C_FLOAT_COMPLEX.Create_contiguous(3)
    if kind == "nested":
        dt = su3.Create_vector(n, 1, n).Create_hvector(n * n, 1, n * n * 24)
    else:
        dt = su3.Create_subarray([n] * 4, [n, n, n, 1], [0, 0, 0, 1])
    su3.Free()
    return dt.Commit(), np.ones(n ** 4 * 24, np.uint8)
""")


def test_mpich_5s_single_copy_path_of_short_runs_is_left_for_packing():
    """MPICH 5 reads a message of 8 KiB or more of at most 1024 runs run by run (its
    single-copy path) where it can describe the type to the receiver, three levels deep at
    most: packed without a model (with one, as it measured 8 KiB: test_auto_follows_the_
    model's type is such a message). 4096 runs (a 16^4 lattice's face), the same face at
    8^4 built as a subarray (MPICH packs it itself) and a face under 8 KiB in a ping-pong
    are left to the MPI. Open MPI 5 packs the 8^4 face by its own rule, built either way."""
    inst = installation.probe()
    major = int(inst.version.split(".")[0])
    mpich5 = inst.vendor == "MPICH" and major >= 5
    ompi5 = inst.vendor == "Open MPI" and major >= 5
    # The subarray first: its answer, kept, must not answer for the nested face of the
    # same blocks, stride and size.
    cases = [["subarray", 8], ["nested", 8], ["nested", 16], ["nested", 5]]
    got = packed_cases(cases, {"MPICOMM_MODEL": "builtin"}, script=LATTICE)
    assert got == [ompi5, mpich5 or ompi5, False, False]


@pytest.mark.skipif(not (helpers.inst().is_openmpi and
                         int(helpers.inst().version.split(".")[0]) >= 5),
                    reason="a built-in rule of Open MPI 5's")
def test_open_mpi_5s_short_blocks_between_the_measured_strides_are_packed(measured):
    """A measured model's strides are powers of two: Open MPI 5's rule for blocks of 24 to
    63 B packs the 8^4 lattice's face (24-byte sites 192 B apart, 12 KiB) with one too."""
    got = packed_cases([["subarray", 8], ["nested", 8]], {"MPICOMM_MODEL": str(measured)},
                       script=LATTICE)
    assert got == [True, True]


# Cases (element bytes, elements per block, row elements, rows, planes): a 3-D subarray's
# face of blocks of a few elements, rows apart, rows in the innermost vector.
FACES = CASE_PROBE.replace("MAKE", """
def make(size, k, x, y, z):
    el = MPI.INT if size == 4 else MPI.DOUBLE
    dt = el.Create_subarray([z, y, x], [z, y, k], [0, 0, 0])
    return dt.Commit(), np.ones(z * y * x * size, np.uint8)
""")


def test_mpich_5s_faces_of_long_rows_are_packed():
    """MPICH 5 sends alone a face of blocks of 12 to 64 B 2 to 8 KiB apart, 128 to 1023
    of them in the innermost vector, as slowly as one long vector: packed from 512 KiB
    (blocks of 32 B or more, 256 or more in the innermost vector: from 64 KiB); 8-byte
    blocks, 64 in the innermost vector, rows 512 B apart and smaller messages are left to
    the MPI. Open MPI moves them all itself."""
    inst = installation.probe()
    mpich5 = inst.vendor == "MPICH" and int(inst.version.split(".")[0]) >= 5
    cases = [[8, 2, 256, 256, 256], [4, 3, 512, 256, 171], [8, 4, 256, 256, 8],
             [8, 4, 256, 64, 32], [8, 2, 256, 256, 32], [8, 1, 256, 256, 512],
             [8, 4, 64, 256, 128], [8, 2, 512, 128, 256]]
    got = packed_cases(cases, {"MPICOMM_MODEL": "builtin"}, script=FACES)
    assert got == [mpich5, mpich5, mpich5, False, False, False, False, mpich5]


INDEXED = CASE_PROBE.replace("MAKE", """
def make(width, total):
    if width:          # an index list: width doubles at random places
        n = total // (8 * width)
        at = np.sort(rng.choice(8 * n, n, replace=False))
        dt = MPI.DOUBLE.Create_indexed_block(width, (at * width).tolist())
        return dt.Commit(), np.ones(64 * n * width, np.uint8)
    n = total // 24    # a struct of two differently strided vectors: 12-byte blocks
    parts = [MPI.FLOAT.Create_vector(n, 3, 16), MPI.FLOAT.Create_vector(n, 3, 24)]
    dt = MPI.Datatype.Create_struct([1, 1], [0, 64 * n], parts)
    return dt.Commit(), np.ones(64 * n + 96 * n, np.uint8)
""")


@pytest.mark.skipif(not (helpers.inst().is_openmpi and
                         int(helpers.inst().version.split(".")[0]) >= 5),
                    reason="a built-in rule of Open MPI 5's")
@pytest.mark.parametrize("which", ["builtin", "measured"])
def test_open_mpi_5s_short_index_lists_are_packed(which, request):
    """Open MPI 5 walks an index list entry by entry: index lists of blocks of at most
    32 B on average are packed at 2 to 96 KiB, to 160 KiB with blocks of at most 16 B,
    with the built-in defaults and with a measured model (whose vectors never have that
    shape); with the built-in defaults larger and smaller messages stay Open MPI's,
    24-byte blocks at 128 KiB and indexed blocks of 64 B too (the rules
    for vectors do not apply to them), and a struct of strided members with 12-byte
    blocks, which Open MPI moves with its vector loops."""
    model_env = "builtin" if which == "builtin" else str(request.getfixturevalue("measured"))
    cases, want = [[1, 1 << 15], [3, 1 << 15], [1, 4096], [1, 1 << 17]], [True] * 4
    if which == "builtin":            # elsewhere the measured model answers
        cases, want = (cases + [[1, 1 << 18], [1, 1024], [8, 8192], [0, 1 << 15],
                                [3, 1 << 17]], want + [False] * 5)
    assert packed_cases(cases, {"MPICOMM_MODEL": model_env}, script=INDEXED) == want


# Rank 0 prints how many calls of each rank auto packed: a transpose's column block
# (16-byte elements 8 KiB apart, the next column 16 B on: 64 interleaved columns of 512)
# and a vector of the same stride without interleaving.
TRANSPOSE = """
import json
import numpy as np
from mpi4py import MPI
from mpicomm.interposer import Interposer
ip, comm = Interposer(), MPI.COMM_WORLD
pair = MPI.DOUBLE.Create_contiguous(2)
col = pair.Create_vector(512, 1, 512)
one = col.Create_resized(0, 16)
got = []
for dt in (one.Create_contiguous(64).Commit(), pair.Create_vector(2048, 1, 512).Commit()):
    lb, extent = dt.Get_true_extent()
    buf = np.ones(lb + extent, np.uint8)
    before = ip.stat("method_pack")
    if comm.rank == 0:
        comm.Send([buf, 1, dt], 1); comm.Recv([buf, 1, dt], 1)
    else:
        comm.Recv([buf, 1, dt], 0); comm.Send([buf, 1, dt], 0)
    got.append(ip.stat("method_pack") - before)
got = comm.gather(got)
if comm.rank == 0:
    print("PROBE", json.dumps(got))
"""


def test_interleaved_columns_count_their_span_not_their_stride(tmp_path):
    """A transpose's columns share cache lines across the outer loop: the model reads
    their span per block (32 B here), where packing wins in the model below, not their
    8 KiB stride, where it loses; a long vector of the same stride is still left to
    the MPI."""
    path = strided_model(tmp_path / "m.h5", nested_pack=True, page_pack=False)
    res = helpers.mpicomm_run(2, [sys.executable, "-c", TRANSPOSE],
                              env={"MPICOMM_MODEL": str(path)})
    assert res.returncode == 0, res.stdout + res.stderr
    got = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("PROBE ")][0][6:])
    assert got == [[2, 0]] * 2


# Rank 0 prints, per case (form, side, block, bytes per peer, nested), how many sides and
# blocks auto packed on each rank: the all-to-all as mpicomm measure times it (that side
# strided, the other contiguous).
COLLECTIVE_CASES = """
import json, sys
import numpy as np
from mpi4py import MPI
from mpicomm import measure, measure_alltoall
from mpicomm.interposer import Interposer
ip, comm = Interposer(), MPI.COMM_WORLD
ring, packed = comm.Create_cart([comm.size], periods=[True]), []
for form, side, block, total, nested in json.loads(sys.argv[1]):
    extent = measure._span(block, total)
    dt = measure._vector(block, total, nested=nested).Create_resized(0, extent).Commit()
    sbuf = np.arange(extent * 2, dtype=np.int64).astype(np.uint8)
    rbuf = np.zeros_like(sbuf)
    before = ip.stat("method_pack")
    measure_alltoall._call(comm, ring, form, dt, extent, sbuf, rbuf, side)()
    packed.append(ip.stat("method_pack") - before)
    dt.Free()
got = comm.gather(packed)
if comm.rank == 0:
    print("PROBE", json.dumps(got))
"""


def collective_cases(cases, env):
    res = helpers.mpicomm_run(2, [sys.executable, "-c", COLLECTIVE_CASES, json.dumps(cases)],
                              env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    got = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("PROBE ")][0][6:])
    assert got[0] == got[1]
    return [n > 0 for n in got[0]]


def collective_want(m, form, side, i, j, block, total, nested):
    """auto's rule (mpiw_model.c): the type's construction by its innermost count (64
    blocks nested, a vector of total/block blocks as one), at the model's 2 ranks."""
    blocks = total // block
    leaf = 64 if nested and blocks > 64 else blocks
    g = [model.collective_gains(m, form, n, side)[i, 0, j] for n in (False, True)]
    gain = g[1] if leaf <= 64 or blocks <= 64 else g[0] if leaf >= 1024 else min(g)
    return bool(gain > np.log(model.MARGIN))


def test_measure_times_the_alltoalls_and_auto_follows_them(measured):
    """Every form, block, size and construction the quick model timed at 2 ranks: auto
    packs the all-to-all exactly where the model measured packing it 5% faster (but for
    Open MPI 5's neighbour all-to-alls, which follow the exchange tables: tested below)."""
    m = model.read(measured)
    assert model.collective_forms(m) == list(model.COLLECTIVE_FORMS)
    assert list(m["collective/ranks"]) == [2]
    shape = (len(m["collective/block_bytes"]), 1, len(m["collective/total_bytes"]))
    cases, want = [], []
    for form, side in ((f, s) for f in model.COLLECTIVE_FORMS for s in model.COLLECTIVE_SIDES):
        for name in model.COLLECTIVE_TABLES:
            t = m[f"collective/{side}/{form}/{name}"]
            assert t.shape == shape and np.all(t > 0) and np.all(np.isfinite(t))
        if form in model.as_exchanges(m):
            continue
        for i, b in enumerate(m["collective/block_bytes"]):
            for j, s in enumerate(m["collective/total_bytes"]):
                for nested in (False, True):
                    cases.append([form, side, int(b), int(s), nested])
                    want.append(collective_want(m, form, side, i, j, int(b), int(s), nested))
    assert collective_cases(cases, {"MPICOMM_MODEL": str(measured)}) == want
    res = cli("info", "--no-build", env={"MPICOMM_MODEL": str(measured)})
    assert "MPI_Alltoallw, receive side: auto packs (P) or leaves to the MPI (.)" in res.stdout
    neighbour = "MPI_Neighbor_alltoallv, MPI_Neighbor_alltoallw: as the exchanges they are"
    assert (neighbour in res.stdout) == bool(model.as_exchanges(m))


def test_alltoalls_follow_their_own_tables_not_the_exchange(tmp_path):
    """A model whose exchange tables say pack and whose all-to-all tables say the MPI:
    the all-to-alls go to the MPI, where a model without them would pack; and the other
    way round. Open MPI 5's neighbour all-to-alls are its point-to-point exchanges and
    follow the exchange tables whatever their own say."""
    inst = installation.probe()
    ompi5 = inst.is_openmpi and int(inst.version.split(".")[0]) >= 5
    as_exchange = [ompi5 and form in model.EXCHANGE_FORMS_OPEN_MPI_5
                   for form in model.COLLECTIVE_FORMS]
    cases = [[form, "send", 8, 1 << 16, False] for form in model.COLLECTIVE_FORMS]
    for coll_pack in (False, True):
        path = strided_model(tmp_path / f"m{coll_pack}.h5", True, True)
        with h5py.File(path, "a") as f:
            f["collective/block_bytes"] = np.array([8, 4096])
            f["collective/ranks"] = np.array([2, 4])
            f["collective/total_bytes"] = np.array([4096, 1 << 20])
            for form, side in ((f, s) for f in model.COLLECTIVE_FORMS
                               for s in model.COLLECTIVE_SIDES):
                base = f"collective/{side}/{form}"
                f[f"{base}/passthrough"] = np.full((2, 2, 2), 2e-3)
                f[f"{base}/passthrough_nested"] = np.full((2, 2, 2), 2e-3)
                f[f"{base}/pack"] = np.full((2, 2, 2), 1e-3 if coll_pack else 4e-3)
        assert collective_cases(cases, {"MPICOMM_MODEL": str(path)}) == \
            [coll_pack or x for x in as_exchange]
    old = strided_model(tmp_path / "old.h5", True, True)       # no all-to-all tables
    assert collective_cases(cases, {"MPICOMM_MODEL": str(old)}) == [True] * 5
    lines = model.summary(old, installation.probe().vendor)
    assert any("not timed as themselves" in ln for ln in lines)


# Rank 0 prints whether auto packed each send side: an Alltoallw whose blocks are 32 KiB
# of adjacent 1 KiB rows, built as a subarray (argv[1] "subarray") or as one vector of
# 32 KiB blocks; the receive side contiguous.
RUNS = """
import json, sys
import numpy as np
from mpi4py import MPI
from mpicomm.interposer import Interposer
ip, comm = Interposer(), MPI.COMM_WORLD
n = comm.size
if sys.argv[1] == "subarray":
    t = [MPI.DOUBLE.Create_subarray([32, 128 * n, 128], [32, 32, 128], [0, 32 * j, 0]).Commit()
         for j in range(n)]
else:
    t = [MPI.DOUBLE.Create_vector(32, 4096, 4096 * 4 * n).Commit() for j in range(n)]
displs = [0] * n if sys.argv[1] == "subarray" else [j * 32768 for j in range(n)]
x = np.ones(32 * 128 * n * 128)
y = np.zeros(n * 4096 * 32)
before = ip.stat("method_pack")
comm.Alltoallw([x, ([1] * n, displs), t], [y, ([4096 * 32] * n, [j * 4096 * 32 * 8 for j in range(n)]), [MPI.DOUBLE] * n])
got = comm.gather(ip.stat("method_pack") - before)
if comm.rank == 0:
    print("PROBE", json.dumps(got))
"""


def test_an_alltoall_side_is_looked_up_at_the_runs_it_was_built_of(tmp_path):
    """All-to-all tables where 1 KiB blocks pack faster and 32 KiB ones do not: under
    MPICH, which moves a subarray row by row, a side of 32 KiB blocks built of 1 KiB
    subarray rows is packed; one built as 32 KiB blocks is not, nor is either under Open
    MPI, which merges adjacent rows when the type is committed."""
    mpich = installation.probe().vendor == "MPICH"
    path = strided_model(tmp_path / "m.h5", True, True)
    with h5py.File(path, "a") as f:
        f["collective/block_bytes"] = np.array([1024, 32768])
        f["collective/ranks"] = np.array([2, 4])
        f["collective/total_bytes"] = np.array([1 << 16, 1 << 22])
        for form, side in ((f, s) for f in model.COLLECTIVE_FORMS
                           for s in model.COLLECTIVE_SIDES):
            for name in ("passthrough", "passthrough_nested"):
                f[f"collective/{side}/{form}/{name}"] = np.full((2, 2, 2), 2e-3)
            pack = np.full((2, 2, 2), 1e-3)
            pack[1] = 4e-3
            f[f"collective/{side}/{form}/pack"] = pack
    for built, want in (("subarray", int(mpich)), ("vector", 0)):
        res = helpers.mpicomm_run(2, [sys.executable, "-c", RUNS, built],
                                  env={"MPICOMM_MODEL": str(path)})
        assert res.returncode == 0, res.stdout + res.stderr
        got = json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("PROBE ")][0][6:])
        assert got == [want, want], built
