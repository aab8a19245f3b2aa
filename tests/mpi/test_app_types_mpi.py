"""Datatypes as real applications build them (the patterns of DDTBench: WRF, LAMMPS,
SPECFEM3D), written here: several fields of a 3-D grid in one struct type, a particle
list by displacement table, the irregular boundary of an unstructured mesh. Each is
packed and sent by the interposer (the table form) and must give the MPI's own bytes, at
any rank count."""
import numpy as np
import pytest
from mpi4py import MPI

from mpicomm.datatypes import describe

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()
DEST, SRC = (RANK + 1) % SIZE, (RANK - 1) % SIZE


def grid_fields(n=12):
    """Three fields of an n^3 grid in one allocation (u, v: float64; t: float32, as a
    weather code keeps them) and the struct of their x = 1 faces: one type, one message."""
    raw = np.zeros(2 * n ** 3 * 8 + n ** 3 * 4, np.uint8)
    u = raw[:n ** 3 * 8].view(np.float64).reshape(n, n, n)
    v = raw[n ** 3 * 8:2 * n ** 3 * 8].view(np.float64).reshape(n, n, n)
    t = raw[2 * n ** 3 * 8:].view(np.float32).reshape(n, n, n)
    face = [dt.Create_subarray([n] * 3, [n, n, 1], [0, 0, 1])
            for dt in (MPI.DOUBLE, MPI.DOUBLE, MPI.FLOAT)]
    dt = MPI.Datatype.Create_struct([1, 1, 1], [0, n ** 3 * 8, 2 * n ** 3 * 8], face)
    for f in face:
        f.Free()
    return raw, dt.Commit()


def particles(n=200, seed=0):
    """A particle list: positions and velocities in two arrays, the particles to send
    picked at irregular indices; one struct of two hindexed members (LAMMPS)."""
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(n, size=n // 3, replace=False))
    raw = np.zeros(2 * n * 24, np.uint8)
    xyz = MPI.DOUBLE.Create_contiguous(3)
    pos = xyz.Create_hindexed_block(1, [int(i) * 24 for i in pick])
    vel = xyz.Create_hindexed_block(1, [n * 24 + int(i) * 24 for i in pick])
    dt = MPI.Datatype.Create_struct([1, 1], [0, 0], [pos, vel])
    for t in (xyz, pos, vel):
        t.Free()
    return raw, dt.Commit()


def boundary(n=400, seed=0):
    """The boundary of an unstructured mesh's partition: runs of nodes of unequal lengths
    at irregular offsets (SPECFEM3D), one float per node."""
    rng = np.random.default_rng(seed)
    starts = np.sort(rng.choice(n - 8, size=30, replace=False))
    lens = [int(rng.integers(1, 6)) for _ in starts]
    keep = [0]
    for k in range(1, len(starts)):              # runs must not overlap
        if starts[k] >= starts[keep[-1]] + lens[keep[-1]]:
            keep.append(k)
    raw = np.zeros(n * 4, np.uint8)
    dt = MPI.FLOAT.Create_indexed([lens[k] for k in keep], [int(starts[k]) for k in keep])
    return raw, dt.Commit()


PATTERNS = {"grid fields (WRF)": grid_fields, "particles (LAMMPS)": particles,
            "mesh boundary (SPECFEM3D)": boundary}


def filled(raw, salt):
    return (np.arange(raw.size) * 7 + salt * 13 + RANK).astype(np.uint8)


@pytest.mark.mpi
@pytest.mark.parametrize("name", list(PATTERNS))
def test_the_table_form_and_mpi_pack(interposer, name):
    raw, dt = PATTERNS[name]()
    try:
        d = describe(dt)
        assert not d.canonical and d.pieces, d.reason
        assert interposer.describe(dt) == d
        src = filled(raw, 1)

        def pack():
            out = bytearray(dt.Get_size() + 3)
            dt.Pack(src, out, 3, MPI.COMM_SELF)
            return bytes(out)

        before = interposer.stat("pack_fast")
        assert pack() == interposer.real(pack)
        assert interposer.stat("pack_fast") == before + 1

        def unpack():
            out = filled(raw, 2)
            dt.Unpack(pack(), 3, out, MPI.COMM_SELF)
            return out.tobytes()

        assert unpack() == interposer.real(unpack)
    finally:
        dt.Free()


@pytest.mark.mpi
@pytest.mark.parametrize("method", ["pack", "auto"])
@pytest.mark.parametrize("name", list(PATTERNS))
def test_sent_around_the_ring(interposer, name, method):
    raw, dt = PATTERNS[name]()
    try:
        def ring():
            src, dst = filled(raw, 3), filled(raw, 4)
            r = COMM.Irecv([dst, 1, dt], SRC, 5)
            COMM.Send([src, 1, dt], DEST, 5)
            r.Wait()
            return dst

        before = interposer.stat("method_pack")
        with interposer.method(method):
            mine = ring()
        assert np.array_equal(mine, interposer.real(ring))
        if method == "pack":
            assert interposer.stat("method_pack") == before + 2    # the send and the receive
    finally:
        dt.Free()


@pytest.mark.mpi
def test_mesh_boundaries_in_an_alltoallv(interposer):
    """Every rank sends its boundary to every rank (each its own irregular runs) with one
    MPI_Alltoallw; the table-form sides are packed, the result is the MPI's."""
    mine = [boundary(seed=10 * RANK + j) for j in range(SIZE)]
    theirs = [boundary(seed=10 * j + RANK) for j in range(SIZE)]
    try:
        n = mine[0][0].size

        def run():
            src = filled(np.zeros(n * SIZE, np.uint8), 5)
            dst = np.zeros(n * SIZE, np.uint8)
            COMM.Alltoallw([src, ([1] * SIZE, [j * n for j in range(SIZE)]),
                            [t for _, t in mine]],
                           [dst, ([1] * SIZE, [j * n for j in range(SIZE)]),
                            [t for _, t in theirs]])
            return dst

        if SIZE == 1 and MPI.Get_library_version().startswith("Open MPI"):
            pytest.skip("Open MPI 5.0.11's one-rank MPI_Alltoallw scales byte displacements "
                        "by the extent and writes outside the buffer (docs/limits.md)")
        before = interposer.stat("alltoall_fast")
        with interposer.method("pack"):
            got = run()
        assert np.array_equal(got, interposer.real(run))
        assert interposer.stat("alltoall_fast") == before + 1
    finally:
        for _, t in mine + theirs:
            t.Free()
