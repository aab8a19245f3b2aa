"""User code generation (`mpicomm codegen`, mpicomm.codegen), checked by running what it
writes: generated halo exchanges against tests/codegen/halo_check.{c,py} (written
independently of the generator) on 3 and 4 ranks, with and without the interposer; and
generated section datatypes packed with MPI_Pack against numpy's indexing of the same
array, for random shapes, sections, orders and element types."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from support import helpers
from mpicomm import build, codegen

HERE = Path(__file__).parent
cli = helpers.cli

HALO_CASES = [  # dims, ghost, neighbors, dtype, periods, n, ranks
    (1, 1, "faces", "int32", "1", [7], 3),
    (1, 3, "all", "float64", "0", [5], 4),
    (2, 2, "all", "float64", "10", [5, 4], 4),
    (2, 1, "faces", "float32", "01", [3, 6], 3),
    (3, 1, "faces", "float64", "111", [4, 3, 5], 4),
    (3, 2, "all", "int64", "010", [5, 4, 3], 4),
]


def _compile(source, target, *defines, include=None):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    # Warnings as errors, unused functions included: a header-only library must not make
    # a program that calls only some of its functions fail to build.
    cmd = [helpers.mpicc(), "-O1", "-std=gnu11", "-Wall", "-Wextra", "-Werror", *defines, *([f"-I{include}"] if include else []),
           "-o", str(target), str(source)]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    return target


def c_checker(tmp_path, header, name="check"):
    """tests/codegen/halo_check.c built around a generated C header."""
    (tmp_path / "gen.h").write_text(header)
    return _compile(HERE / "codegen" / "halo_check.c", tmp_path / name,
                    '-DHALO_HEADER="gen.h"', include=tmp_path)


def py_checker(tmp_path, module, periods, n):
    """The command line of tests/codegen/halo_check.py for a generated module."""
    return [sys.executable, str(HERE / "codegen" / "halo_check.py"), str(tmp_path), module,
            periods, *map(str, n)]


def packed_and_bare(ranks, argv):
    """argv run with the interposer packing (MPICOMM_METHOD=pack) and without it: the
    first run's output and its ranks' counters, once both passed and printed the same."""
    res = helpers.mpicomm_run(ranks, argv, env={"MPICOMM_STATS": "1", "MPICOMM_METHOD": "pack"})
    assert res.returncode == 0 and "halo_check OK" in res.stdout, res.stdout + res.stderr
    bare = helpers.mpicomm_run(ranks, argv, interposer=False)
    assert bare.returncode == 0 and bare.stdout == res.stdout, bare.stdout + bare.stderr
    return res.stdout, helpers.stats_lines(res.stderr)


@pytest.mark.parametrize("case", HALO_CASES, ids=lambda c: f"{c[0]}d-g{c[1]}-{c[2]}-{c[3]}-p{c[4]}")
def test_generated_c_halo_exchange_fills_every_ghost_cell(tmp_path, case):
    dims, ghost, neighbors, dtype, periods, n, ranks = case
    prog = c_checker(tmp_path, codegen.halo(dims, ghost, neighbors, dtype, "c"))
    _, stats = packed_and_bare(ranks, [str(prog), periods, *map(str, n)])
    assert len(stats) == ranks
    nb = len(codegen.genhalo.directions(dims, neighbors))
    assert all(s["types_committed"] == 2 * nb for s in stats), stats
    if dims > 1:                               # non-contiguous faces: the interposer packs
        assert sum(s["send_fast"] for s in stats) > 0, stats


@pytest.mark.parametrize("case", HALO_CASES[1:5], ids=lambda c: f"{c[0]}d-{c[2]}-p{c[4]}")
def test_generated_python_halo_exchange_fills_every_ghost_cell(tmp_path, case):
    dims, ghost, neighbors, dtype, periods, n, ranks = case
    (tmp_path / "my_halo.py").write_text(codegen.halo(dims, ghost, neighbors, dtype, "python",
                                                      prefix="my_halo"))
    res = helpers.mpicomm_run(ranks, py_checker(tmp_path, "my_halo", periods, n))
    assert res.returncode == 0 and "halo_check OK" in res.stdout, res.stdout + res.stderr


ALLTOALLW_CASES = [  # dims, ghost, dtype, periods, n, ranks
    (1, 1, "float64", "1", [6], 2),          # one periodic dimension of 2 ranks
    (2, 1, "float32", "10", [5, 4], 4),
    (3, 2, "int64", "111", [4, 3, 5], 4),
]


@pytest.mark.parametrize("case", ALLTOALLW_CASES, ids=lambda c: f"{c[0]}d-g{c[1]}-p{c[3]}")
def test_generated_neighbor_alltoallw_exchange_fills_every_ghost_cell(tmp_path, case):
    dims, ghost, dtype, periods, n, ranks = case
    (tmp_path / "halo.py").write_text(codegen.halo(dims, ghost, "faces", dtype, "python",
                                                   exchange="alltoallw"))
    prog = c_checker(tmp_path, codegen.halo(dims, ghost, "faces", dtype, "c",
                                            exchange="alltoallw"))
    out, stats = packed_and_bare(ranks, [str(prog), periods, *map(str, n)])
    assert all(s["send_fast"] == 0 for s in stats), stats        # no point to point at all
    if dims > 1:                                                   # packed by the interposer
        assert all(s["neighbor_fast"] == 2 for s in stats), stats
    py = helpers.mpicomm_run(ranks, py_checker(tmp_path, "halo", periods, n))
    assert py.returncode == 0 and py.stdout == out, py.stdout + py.stderr


def test_generated_halo_counts_agree_between_c_and_python(tmp_path):
    dims, ghost, neighbors, dtype, periods, n, ranks = HALO_CASES[5]
    (tmp_path / "halo.py").write_text(codegen.halo(dims, ghost, neighbors, dtype, "python"))
    prog = c_checker(tmp_path, codegen.halo(dims, ghost, neighbors, dtype, "c"))
    c = helpers.mpicomm_run(ranks, [str(prog), periods, *map(str, n)])
    py = helpers.mpicomm_run(ranks, py_checker(tmp_path, "halo", periods, n))
    assert c.stdout == py.stdout and "ghost cells filled" in c.stdout, c.stdout + py.stdout


def test_generated_python_halo_refuses_a_wrong_field_and_communicator(tmp_path):
    (tmp_path / "halo.py").write_text(codegen.halo(2, 1, "faces", "float64", "python"))
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import numpy as np\n"
            "from mpi4py import MPI; from halo import Halo\n"
            "cart = MPI.COMM_WORLD.Create_cart([1, 1], periods=[1, 1])\n"
            "for bad in (lambda: Halo(MPI.COMM_WORLD, [4, 4]), lambda: Halo(cart, [0, 4]),\n"
            "            lambda: Halo(cart, [4, 4]).exchange(np.zeros((6, 6), np.float32))):\n"
            "    try:\n        bad()\n    except ValueError as e:\n        print('REFUSED', e)\n")
    res = helpers.mpicomm_run(1, [sys.executable, "-c", code])
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("REFUSED")]
    assert len(lines) == 3, res.stdout + res.stderr
    assert "Cartesian communicator of 2 dimension(s)" in lines[0]
    assert "n must be 2 sizes of at least 1 cells" in lines[1]
    assert "numpy array of float64 and shape (6, 6)" in lines[2]


# Fortran: Debian's MPI of the venv's family and gfortran (the wheels have no Fortran
# bindings), as in test_fortran.py.
FTOOLS, SUFFIX, NO_FORTRAN = helpers.site_fortran()
needs_fortran = pytest.mark.skipif(NO_FORTRAN is not None, reason=NO_FORTRAN or "")


def _site_run(ranks, argv, library=None, cwd=None, **settings):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    cmd = [FTOOLS["mpiexec"], "-n", str(ranks), *(["--oversubscribe"] if SUFFIX == "openmpi"
                                                   else [])]
    if library:
        cmd += ["env", f"LD_PRELOAD={library}", *(f"{k}={v}" for k, v in settings.items())]
    return subprocess.run(cmd + argv, capture_output=True, text=True, env=env, timeout=300,
                          cwd=cwd)


@needs_fortran
@pytest.mark.parametrize("case", HALO_CASES, ids=lambda c: f"{c[0]}d-g{c[1]}-{c[2]}-{c[3]}-p{c[4]}")
def test_generated_fortran_halo_exchange_fills_every_ghost_cell(tmp_path, case):
    dims, ghost, neighbors, dtype, periods, n, ranks = case
    (tmp_path / "halo.f90").write_text(codegen.halo(dims, ghost, neighbors, dtype, "fortran"))
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    for cmd in (["-Wall", "-Werror", "-c", "halo.f90"],          # the generated module: clean
                [f"-DFTYPE={codegen.FORTRAN[dtype]}", str(HERE / "codegen" / "halo_check.F90"),
                 "halo.o", "-o", "check"]):
        res = subprocess.run([FTOOLS["mpif90"], "-O1", *cmd], capture_output=True, text=True,
                             cwd=tmp_path, env=env)
        assert res.returncode == 0, res.stdout + res.stderr
    argv = [str(tmp_path / "check"), periods, *map(str, n)]
    bare = _site_run(ranks, argv)
    assert bare.returncode == 0 and "halo_check OK" in bare.stdout, bare.stdout + bare.stderr
    lib = build.build(mpicc=FTOOLS["mpicc"], quiet=True)["library"]
    res = _site_run(ranks, argv, lib, MPICOMM_STATS="1", MPICOMM_METHOD="pack")
    assert res.returncode == 0 and res.stdout == bare.stdout, res.stdout + res.stderr
    stats = helpers.stats_lines(res.stderr + res.stdout)
    nb = len(codegen.genhalo.directions(dims, neighbors))
    assert len(stats) == ranks and all(s["types_committed"] == 2 * nb for s in stats), stats
    if dims > 1:
        assert sum(s["send_fast"] for s in stats) > 0, stats
    # The same count of ghost cells as the C checker finds for this case.
    prog = c_checker(tmp_path, codegen.halo(dims, ghost, neighbors, dtype, "c"), "check_c")
    c = helpers.mpicomm_run(ranks, [str(prog), periods, *map(str, n)], interposer=False)
    assert c.stdout == bare.stdout, c.stdout + bare.stdout


# Section datatypes ------------------------------------------------------------------------

def _random_sections(count, seed=7):
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        shape = [int(v) for v in rng.integers(1, 9, size=rng.integers(1, 5))]
        parts = []
        for size in shape:
            kind = rng.integers(0, 4)
            if kind == 0:
                parts.append(":")
            elif kind == 1:
                parts.append(str(int(rng.integers(-size, size))))
            else:
                a, b = sorted(int(v) for v in rng.integers(-size, size + 1, size=2))
                step = int(rng.integers(1, 4)) if kind == 3 else 1
                if not range(*slice(a, b).indices(size)):
                    a, b = None, None
                parts.append(f"{'' if a is None else a}:{'' if b is None else b}"
                             + (f":{step}" if step > 1 else ""))
        out.append((shape, ", ".join(parts), str(rng.choice(["C", "F"])),
                    str(rng.choice(list(codegen.DTYPES)))))
    return out


SECTIONS = _random_sections(40) + [
    ([64, 64, 64], ":, :, 0:2", "C", "float64"),        # the halo face of the examples
    ([10, 12], "1:-1:3, ::5", "F", "int32"),
    ([5], "4", "C", "int64"),
]


def _expected(shape, section, order, dtype):
    a = np.arange(math.prod(shape), dtype=dtype).reshape(shape, order=order)
    index = tuple(int(p) if ":" not in p else slice(*[int(v) if v.strip() else None
                                                      for v in p.split(":")])
                  for p in (q.strip() for q in section.split(",")))
    sub = a[index]
    return np.ascontiguousarray(sub).ravel(order=order).tobytes() if order == "C" else \
        np.asfortranarray(sub).ravel(order="F").tobytes()


def test_generated_c_headers_build_when_a_program_calls_only_some_functions(tmp_path):
    """A header-only library: a file that includes the halo and datatype headers and
    calls one function of each builds under -Wall -Wextra -Werror."""
    (tmp_path / "halo.h").write_text(codegen.halo(2, 1, "faces", "float64", "c", "halo"))
    (tmp_path / "t.h").write_text(codegen.datatype([4, 5], "1:3,:", "float64", "C", "c",
                                                   name="t"))
    (tmp_path / "use.c").write_text(
        '#include "halo.h"\n#include "t.h"\n'
        "int main(void) { MPI_Datatype d; return t_create(&d) != MPI_SUCCESS; }\n")
    _compile(tmp_path / "use.c", tmp_path / "use", include=tmp_path)


def test_generated_c_datatypes_pack_what_numpy_indexes(tmp_path):
    includes, rows = [], []
    for i, (shape, section, order, dtype) in enumerate(SECTIONS):
        (tmp_path / f"t{i}.h").write_text(codegen.datatype(shape, section, dtype, order, "c",
                                                           name=f"t{i}"))
        (tmp_path / f"t{i}.bin").write_bytes(_expected(shape, section, order, dtype))
        includes.append(f'#include "t{i}.h"')
        ctype = codegen.DTYPES[dtype][0]
        rows.append(f"    {{ t{i}_create, {math.prod(shape)}, sizeof({ctype}), "
                    f"{int(dtype.startswith('float'))} }},")
    driver = tmp_path / "driver.c"
    driver.write_text(DRIVER.replace("INCLUDES", "\n".join(includes))
                      .replace("ROWS", "\n".join(rows)))
    prog = _compile(driver, tmp_path / "driver", include=tmp_path)
    res = helpers.mpicomm_run(1, [str(prog), str(tmp_path)], env={"MPICOMM_STATS": "1"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"datatypes OK {len(SECTIONS)}" in res.stdout, res.stdout
    (s,) = helpers.stats_lines(res.stderr)
    assert s["pack_fast"] > 0, s                   # the interposer packed some of them


def test_generated_python_datatypes_pack_what_numpy_indexes(tmp_path):
    for i, (shape, section, order, dtype) in enumerate(SECTIONS):
        (tmp_path / f"t{i}.py").write_text(codegen.datatype(shape, section, dtype, order,
                                                            "python", name=f"t{i}"))
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SECTIONS))
    code = f"""
import importlib, json, math, sys
import numpy as np
from mpi4py import MPI
sys.path.insert(0, {str(tmp_path)!r})
bad = 0
for i, (shape, section, order, dtype) in enumerate(json.load(open({str(spec)!r}))):
    t = importlib.import_module(f"t{{i}}").__dict__[f"t{{i}}_create"]()
    a = np.arange(math.prod(shape), dtype=dtype)         # memory order = index order
    out = bytearray(t.Pack_size(1, MPI.COMM_WORLD))
    n = t.Pack(a, out, 0, MPI.COMM_WORLD)               # count: a.nbytes / extent = 1
    want = open({str(tmp_path)!r} + f"/t{{i}}.bin", "rb").read()
    lb, extent = t.Get_extent()
    if bytes(out[:n]) != want or lb != 0 or extent != a.nbytes:
        bad += 1
        print("MISMATCH", i, shape, section, order, dtype)
    t.Free()
print("python datatypes", "OK" if not bad else f"FAILED {{bad}}")
"""
    for i, (shape, section, order, dtype) in enumerate(SECTIONS):
        (tmp_path / f"t{i}.bin").write_bytes(_expected(shape, section, order, dtype))
    res = helpers.mpicomm_run(1, [sys.executable, "-c", code])
    assert res.returncode == 0 and "python datatypes OK" in res.stdout, res.stdout + res.stderr


@needs_fortran
def test_generated_fortran_datatypes_pack_what_numpy_indexes(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    uses, calls = [], []
    for i, (shape, section, order, dtype) in enumerate(SECTIONS):
        (tmp_path / f"t{i}.f90").write_text(codegen.datatype(shape, section, dtype, order,
                                                             "fortran", name=f"t{i}"))
        res = subprocess.run([FTOOLS["mpif90"], "-Wall", "-Werror", "-c", f"t{i}.f90"],
                             capture_output=True, text=True, cwd=tmp_path, env=env)
        assert res.returncode == 0, res.stdout + res.stderr
        (tmp_path / f"t{i}.src").write_bytes(np.arange(math.prod(shape), dtype=dtype).tobytes())
        (tmp_path / f"t{i}.bin").write_bytes(_expected(shape, section, order, dtype))
        uses.append(f"  use t{i}_type")
        calls.append(f"  call check({i}, t{i}_create)")
    (tmp_path / "driver.f90").write_text(FDRIVER.replace("USES", "\n".join(uses))
                                         .replace("CALLS", "\n".join(calls)))
    objs = [f"t{i}.o" for i in range(len(SECTIONS))]
    res = subprocess.run([FTOOLS["mpif90"], "driver.f90", *objs, "-o", "driver"],
                         capture_output=True, text=True, cwd=tmp_path, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    res = _site_run(1, [str(tmp_path / "driver")], cwd=tmp_path)
    assert res.returncode == 0 and f"fortran datatypes OK {len(SECTIONS)}" in res.stdout, \
        res.stdout + res.stderr


# A Fortran checker for the generated section types: packs the array image t<i>.src
# with each and compares the bytes with numpy's t<i>.bin.
FDRIVER = """program driver
  use mpi_f08
USES
  implicit none
  abstract interface
    subroutine creator(newtype, ierror)
      import :: MPI_Datatype
      type(MPI_Datatype), intent(out) :: newtype
      integer, intent(out) :: ierror
    end subroutine
  end interface
  integer :: bad = 0, ncases = 0
  call MPI_Init()
CALLS
  if (bad > 0) then
    print '(a, i0, a, i0)', 'fortran datatypes FAILED ', bad, ' of ', ncases
  else
    print '(a, i0)', 'fortran datatypes OK ', ncases
  end if
  call MPI_Finalize()

contains

  subroutine slurp(path, bytes)
    character(len=*), intent(in) :: path
    integer(1), allocatable, intent(out) :: bytes(:)
    integer :: n, u
    inquire (file=path, size=n)
    allocate (bytes(n))
    open (newunit=u, file=path, access='stream', form='unformatted', status='old')
    read (u) bytes
    close (u)
  end subroutine

  subroutine check(i, create)
    integer, intent(in) :: i
    procedure(creator) :: create
    integer(1), allocatable :: src(:), want(:), out(:)
    character(len=64) :: name
    type(MPI_Datatype) :: t
    integer :: ierr, packed_size, pos
    integer(kind=MPI_ADDRESS_KIND) :: lb, extent
    ncases = ncases + 1
    write (name, '(a, i0)') 't', i
    call slurp(trim(name) // '.src', src)
    call slurp(trim(name) // '.bin', want)
    call create(t, ierr)
    if (ierr /= MPI_SUCCESS) then
      bad = bad + 1
      return
    end if
    call MPI_Pack_size(1, t, MPI_COMM_WORLD, packed_size)
    allocate (out(max(packed_size, 1)))
    pos = 0
    call MPI_Pack(src, 1, t, out, packed_size, pos, MPI_COMM_WORLD)
    call MPI_Type_get_extent(t, lb, extent)
    if (pos /= size(want) .or. lb /= 0 .or. extent /= size(src)) then
      bad = bad + 1
      print '(a, i0)', 'MISMATCH in size or extent, case ', i
    else if (any(out(1:pos) /= want)) then
      bad = bad + 1
      print '(a, i0)', 'MISMATCH in bytes, case ', i
    end if
    call MPI_Type_free(t)
  end subroutine

end program
"""


DRIVER = r"""
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
INCLUDES

static const struct { int (*create)(MPI_Datatype *); int n; int elem; int fp; } cases[] = {
ROWS
};

int main(int argc, char **argv)
{
    int ncases = (int) (sizeof cases / sizeof cases[0]), bad = 0;
    MPI_Init(&argc, &argv);
    for (int i = 0; i < ncases; i++) {
        char path[4096], *buf = malloc((size_t) cases[i].n * cases[i].elem), *want, *out;
        int size, pos = 0, wantlen;
        MPI_Aint lb, extent;
        MPI_Datatype t;
        FILE *f;
        /* memory order = index order: element j holds j */
        for (int j = 0; j < cases[i].n; j++) {
            if (cases[i].fp && cases[i].elem == 4) ((float *) buf)[j] = (float) j;
            else if (cases[i].fp) ((double *) buf)[j] = (double) j;
            else if (cases[i].elem == 4) ((int *) buf)[j] = j;
            else ((long long *) buf)[j] = j;
        }
        snprintf(path, sizeof path, "%s/t%d.bin", argv[1], i);
        f = fopen(path, "rb");
        fseek(f, 0, SEEK_END);
        wantlen = (int) ftell(f);
        rewind(f);
        want = malloc((size_t) wantlen + 1);
        if (fread(want, 1, (size_t) wantlen, f) != (size_t) wantlen) return 3;
        fclose(f);
        if (cases[i].create(&t) != MPI_SUCCESS) { printf("case %d: create failed\n", i); bad++; continue; }
        MPI_Pack_size(1, t, MPI_COMM_WORLD, &size);
        out = malloc((size_t) size + 1);
        MPI_Pack(buf, 1, t, out, size, &pos, MPI_COMM_WORLD);
        MPI_Type_get_extent(t, &lb, &extent);
        if (pos != wantlen || memcmp(out, want, (size_t) wantlen) || lb != 0 ||
            extent != (MPI_Aint) cases[i].n * cases[i].elem) {
            printf("case %d: MISMATCH (packed %d bytes, want %d; lb %ld extent %ld)\n", i, pos,
                   wantlen, (long) lb, (long) extent);
            bad++;
        }
        MPI_Type_free(&t);
        free(buf); free(want); free(out);
    }
    if (bad) printf("datatypes FAILED %d of %d\n", bad, ncases);
    else printf("datatypes OK %d\n", ncases);
    MPI_Finalize();
    return bad != 0;
}
"""


# The command line -------------------------------------------------------------------------

def test_cli_writes_the_file_and_never_overwrites_one(tmp_path):
    out = tmp_path / "halo.h"
    res = cli("codegen", "halo", "--dims", "3", "--ghost", "2", "-o", str(out))
    assert res.returncode == 0 and res.stdout.strip() == str(out), res.stderr
    assert out.read_text() == codegen.halo(3, 2)
    out.write_text("mine")
    res = cli("codegen", "halo", "--dims", "3", "-o", str(out))
    assert res.returncode == 2 and "exists: refusing to overwrite it" in res.stderr
    assert out.read_text() == "mine"
    res = cli("codegen", "halo", "--dims", "3", "-o", str(out), "--force")
    assert res.returncode == 0 and out.read_text() == codegen.halo(3, 1)
    res = cli("codegen", "datatype", "--shape", "8,8", "--section", "::2, 3", "--lang",
              "python")
    assert res.returncode == 0 and "def section_create():" in res.stdout
    assert "mpicomm codegen datatype --shape 8,8" in res.stdout


@pytest.mark.parametrize("args, message", [
    (["halo", "--dims", "4"], "--dims 4 must be 1, 2 or 3"),
    (["halo", "--dims", "2", "--ghost", "0"], "--ghost 0 must be a positive number"),
    (["halo", "--dims", "2", "--neighbors", "some"], "--neighbors 'some' is not one of"),
    (["halo", "--dims", "2", "--dtype", "complex128"], "--dtype 'complex128' is not one of"),
    (["halo", "--dims", "2", "--lang", "rust"], "--lang 'rust' is not one of c, python, fortran"),
    (["halo", "--dims", "2", "--prefix", "2x"], "--prefix '2x' must be an identifier"),
    (["halo", "--dims", "2", "--exchange", "bcast"], "--exchange 'bcast' is not one of"),
    (["halo", "--dims", "2", "--neighbors", "all", "--exchange", "alltoallw"],
     "--exchange alltoallw needs --neighbors faces"),
    (["halo", "--dims", "2", "--lang", "fortran", "--exchange", "alltoallw"],
     "--exchange alltoallw is for C and Python"),
    (["datatype", "--shape", "4,4", "--section", "1"], "has 1 index(es) for a 2-D array"),
    (["datatype", "--shape", "4,4", "--section", "::-1, 1"], "only positive steps"),
    (["datatype", "--shape", "4,4", "--section", "2:2, 1"], "selects nothing in dimension 0"),
    (["datatype", "--shape", "4,4", "--section", "1, 9"], "index 9 is out of range"),
    (["datatype", "--shape", "4,4", "--section", "a, 1"], "'a' (dimension 0) is not an index"),
    (["datatype", "--shape", "4,0", "--section", "1, 1"], "each at least 1"),
    (["datatype", "--shape", "4,4", "--section", "1,1", "--order", "K"], "is not C or F"),
])
def test_cli_bad_input_is_named(args, message):
    res = cli("codegen", *args)
    assert res.returncode == 2 and message in res.stderr, res.stderr
