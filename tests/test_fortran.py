"""A Fortran program, unchanged, runs preloaded and meets the interposer as C programs
do: its subarray and vector types are decoded, packed by the generated kernels and sent
by the chosen method, with the same results as without the interposer.

The PyPI MPI wheels ship no Fortran bindings, so this uses the Debian packages of the
same MPI family as the wheel under test (libmpich-dev: MPICH 4.0, libopenmpi-dev:
Open MPI 4.1) with gfortran, as a site MPI; `make test` installs them
(scripts/prereqs.sh). The interposer is built for that MPI with `--mpicc`, as a user
of a site MPI would."""
import os
import subprocess
from pathlib import Path

import pytest

from support import helpers
from mpicomm import build

HERE = Path(__file__).resolve().parent
# halo_types: faces packed, unpacked and exchanged with every kind of send and receive
# (and from MPI_BOTTOM with absolute-address types);
# completion: every completion call, probes, cancel, Type_get_contents and
# Neighbor_alltoallw; persistent: MPI_SEND_INIT & co. started over several rounds.
# Per program: the types it commits and the MPI_Pack calls it makes.
PROGRAMS = {"halo_types": (6, 4), "completion": (3, 0), "persistent": (1, 0)}
TOOLS, SUFFIX, NO_FORTRAN = helpers.site_fortran()
pytestmark = pytest.mark.skipif(NO_FORTRAN is not None, reason=NO_FORTRAN or "")

BINDINGS = ["mpi", "mpi_f08"]
# Where each program's RESULT line holds its error counts (then its other results).
ERRORS = {"halo_types": slice(2, 3), "completion": slice(2, 9), "persistent": slice(2, 3)}
# MPICH 4.0's own mpi_f08 MPI_Waitany and MPI_Waitsome return 0-based indices (parts 1
# and 2 of completion count them); the interposer's entry points return 1-based ones.
MPICH40_F08_INDEX_PARTS = slice(2, 4)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The interposer built for the site MPI, and each program built with each module."""
    out = tmp_path_factory.mktemp("fortran")
    meta = build.build(mpicc=TOOLS["mpicc"], quiet=True)
    assert meta["mpi_vendor"] == helpers.inst().vendor, meta
    assert meta["fortran_entry_points"] > 0, meta
    programs = {}
    for name in PROGRAMS:
        for binding in BINDINGS:
            exe = out / f"{name}_{binding}"
            flags = ["-DF08"] if binding == "mpi_f08" else []
            source = HERE / "fortran" / f"{name}.F90"
            subprocess.run([TOOLS["mpif90"], "-O2", *flags, str(source), "-o", str(exe)],
                           check=True, cwd=out, env=_env())
            programs[name, binding] = exe
    return meta, programs


def _env():
    """Ours, without a preload (the compilers and launchers must not load it)."""
    return {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def run(program, library=None, **settings):
    """Two ranks under the site MPI's own mpiexec: (RESULT lines, stats per rank)."""
    cmd = [TOOLS["mpiexec"], "-n", "2"]
    if SUFFIX == "openmpi":
        cmd.append("--oversubscribe")
    if library:
        cmd += ["env", f"LD_PRELOAD={library}", "MPICOMM_STATS=1",
                *(f"{k}={v}" for k, v in settings.items())]
    res = subprocess.run(cmd + [str(program)], capture_output=True, text=True,
                         env=_env(), timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    results = sorted(line.split() for line in res.stdout.splitlines()
                     if line.startswith("RESULT"))
    assert [r[1] for r in results] == ["0", "1"], res.stdout
    return results, helpers.stats_lines(res.stderr + res.stdout)


@pytest.mark.parametrize("binding", BINDINGS)
@pytest.mark.parametrize("method", ["pack", "pipeline", "passthrough"])
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_fortran_program_same_results_and_served(site, name, binding, method):
    meta, programs = site
    plain, none = run(programs[name, binding])
    assert not none
    # A 4 KiB chunk makes every 12.8 KiB face a pipelined message.
    pre, stats = run(programs[name, binding], meta["library"], MPICOMM_METHOD=method,
                     MPICOMM_PIPELINE_CHUNK=4096)
    assert all(n == "0" for r in pre for n in r[ERRORS[name]]), pre
    if pre != plain:
        # Only where the MPI's own binding is known wrong, and only there.
        assert (meta["mpi_vendor"], meta["mpi_version"][:3], name, binding) == \
            ("MPICH", "4.0", "completion", "mpi_f08"), (plain, pre)
        bug = MPICH40_F08_INDEX_PARTS
        assert all(int(n) > 0 for r in plain for n in r[bug]), plain
        assert [r[:bug.start] + r[bug.stop:] for r in plain] == \
            [r[:bug.start] + r[bug.stop:] for r in pre], (plain, pre)
    types, packs = PROGRAMS[name]
    assert len(stats) == 2
    for s in stats:
        assert s["enabled"] and s["types_committed"] == types == s["types_canonical"], s
        assert s["pack_fast"] == packs == s["unpack_fast"], s
        carried = {"pack": s["method_pack"], "pipeline": s["method_pipeline"],
                   "passthrough": s["method_passthrough"]}
        if (name, method) == ("persistent", "pipeline"):
            # Persistent requests are never pipelined: the model packs or passes them.
            assert carried["pipeline"] == 0 and sum(carried.values()) == 6, s
            continue
        assert carried[method] > 0, s
        if method != "pipeline":       # messages under two chunks are not pipelined
            assert sum(carried.values()) == carried[method], s


@pytest.mark.parametrize("binding", BINDINGS)
@pytest.mark.parametrize("name", list(PROGRAMS))
def test_fortran_program_untouched_when_disabled(site, name, binding):
    """MPICOMM_DISABLE=1: every Fortran call but MPI_INIT and MPI_FINALIZE goes to the
    MPI's own entry point, so the run is the MPI's own."""
    meta, programs = site
    plain, _ = run(programs[name, binding])
    pre, stats = run(programs[name, binding], meta["library"], MPICOMM_DISABLE=1)
    assert pre == plain
    assert len(stats) == 2
    assert all(not s["enabled"] and s["types_committed"] == s["pack_fast"] == 0
               for s in stats), stats
