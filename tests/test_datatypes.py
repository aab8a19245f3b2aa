"""mpicomm.datatypes.describe on real mpi4py datatypes (singleton MPI, no launcher)."""
import numpy as np
import pytest
from mpi4py import MPI

from mpicomm import datatypes


def test_faces_of_a_cube():
    n = 256
    x = MPI.DOUBLE.Create_subarray([n] * 3, [n, n, 1], [0, 0, 0])
    d = datatypes.describe(x)
    assert d.canonical and d.counts == (8, n * n) and d.strides == (0, n * 8)
    y = MPI.DOUBLE.Create_subarray([n] * 3, [n, 1, n], [0, 5, 0])
    d = datatypes.describe(y)
    assert d.canonical and d.start == 5 * n * 8 and d.counts == (n * 8, n)
    assert d.strides == (0, n * n * 8)
    assert d.extent == x.Get_extent()[1] == n ** 3 * 8
    x.Free()
    y.Free()


def test_fortran_subarray_and_resized():
    t = MPI.INT.Create_subarray([6, 4], [3, 2], [2, 1], order=MPI.ORDER_FORTRAN)
    r = t.Create_resized(0, 4)
    d = datatypes.describe(r)
    assert d.canonical and d.start == (2 + 6) * 4 and d.counts == (12, 2)
    assert d.strides == (0, 24) and d.extent == 4
    t.Free()
    r.Free()


def test_not_canonical_gives_the_reason():
    d = datatypes.describe(MPI.INT.Create_indexed([1, 2], [0, 5]))
    assert not d.canonical and d.packable and d.pieces == ((0, 4, -1), (20, 8, -1))
    assert d.reason == "table of 2 pieces"
    d = datatypes.describe(MPI.DOUBLE_INT)
    assert not d.canonical and "holes" in d.reason
    d = datatypes.describe(MPI.INT.Create_darray(1, 0, [8], [MPI.DISTRIBUTE_BLOCK],
                                                 [MPI.DISTRIBUTE_DFLT_DARG], [1]))
    assert not d.canonical and not d.packable and "darray" in d.reason


def test_core_pack_matches_mpi_pack():
    t = MPI.DOUBLE.Create_vector(5, 2, 7).Commit()
    d = datatypes.describe(t)
    a = np.random.default_rng(0).random(80)
    packed = datatypes.pack(d, a, count=2)
    ref = bytearray(t.Get_size() * 2)
    t.Pack(memoryview(a).cast("B")[:2 * t.Get_extent()[1]], ref, 0, MPI.COMM_WORLD)
    assert packed == bytes(ref)
    back = np.zeros(80)
    datatypes.unpack(d, packed, back, count=2)
    mask = np.zeros(80, bool)
    for k in range(2):
        for i in range(5):
            mask[k * 30 + i * 7:k * 30 + i * 7 + 2] = True
    assert np.array_equal(back[mask], a[mask]) and not back[~mask].any()
    t.Free()


def test_bad_arguments():
    with pytest.raises(TypeError, match="mpi4py.MPI.Datatype"):
        datatypes.describe("MPI_DOUBLE")
    with pytest.raises(ValueError, match="DATATYPE_NULL"):
        datatypes.describe(MPI.DATATYPE_NULL)
    d = datatypes.describe(MPI.INT.Create_darray(1, 0, [8], [MPI.DISTRIBUTE_BLOCK],
                                                 [MPI.DISTRIBUTE_DFLT_DARG], [1]))
    with pytest.raises(ValueError, match="not canonical"):
        datatypes.pack(d, bytearray(64))


def test_combiners_not_decoded_say_so():
    f90 = MPI.Datatype.Create_f90_real(6, 30)
    d = datatypes.describe(f90)
    assert not d.canonical and "is not decoded" in d.reason


def test_levels_count_the_constructors_as_an_mpi_stores_them():
    """How deep the type was built (MPICH hands types of three levels or fewer to its
    single-copy path): a contiguous of one, a duplicate and a resize to the same bounds
    add none; a subarray of n dimensions n + 1, at least 3."""
    D = MPI.DOUBLE
    row = D.Create_vector(8, 3, 24)
    nested = row.Create_hvector(64, 1, 8 * 24 * 8)
    su3 = MPI.C_FLOAT_COMPLEX.Create_contiguous(3)
    cases = [(D, 0), (row, 1), (nested, 2), (nested.Create_contiguous(1), 2),
             (nested.Dup(), 2), (nested.Create_resized(0, nested.extent), 2),
             (nested.Create_resized(0, nested.extent + 8), 3), (su3, 1),
             (su3.Create_vector(8, 1, 8).Create_hvector(64, 1, 64 * 24), 3),
             (D.Create_subarray([512, 24], [512, 3], [0, 3]), 3),
             (D.Create_subarray([64, 8, 24], [64, 8, 3], [0, 0, 3]), 4),
             (su3.Create_subarray([8] * 4, [8, 8, 8, 1], [0, 0, 0, 1]), 6),
             (D.Create_subarray([64], [8], [4]), 3)]
    assert [datatypes.describe(t).levels for t, _ in cases] == [n for _, n in cases]
    for t, _ in cases[1:]:
        t.Free()


def test_leaf_count_is_the_innermost_repetition_as_built():
    """The same layout built two ways keeps the count of its innermost repetition: MPIs
    move a face built of short nested vectors differently from one long vector."""
    D = MPI.DOUBLE
    row = D.Create_vector(62, 1, 64)
    nested = row.Create_hvector(62, 1, 62 * 64 * 8)
    flat = D.Create_vector(62 * 62, 1, 64)
    assert datatypes.describe(nested).counts == datatypes.describe(flat).counts        # one layout
    assert datatypes.describe(nested).leaf_count == 62
    assert datatypes.describe(flat).leaf_count == 62 * 62
    face = D.Create_subarray([64, 64, 64], [62, 62, 1], [1, 1, 1])
    assert datatypes.describe(face).leaf_count == 62
    rows = D.Create_subarray([64, 64, 64], [62, 1, 62], [1, 1, 1])
    assert datatypes.describe(rows).leaf_count == 62
    coord = MPI.FLOAT.Create_vector(4000, 1, 15)
    struct = MPI.Datatype.Create_struct([1, 1], [0, 240000], [coord, coord])
    assert datatypes.describe(struct).leaf_count == 4000
    assert datatypes.describe(D.Create_indexed([1, 2, 1], [0, 5, 9])).leaf_count == 3
    assert datatypes.describe(D.Create_contiguous(8)).leaf_count == 0
    assert datatypes.describe(D.Create_contiguous(8).Create_resized(0, 128)
                    .Create_contiguous(5)).leaf_count == 5
    for t in (row, nested, flat, face, rows, coord, struct):
        t.Free()


def test_leaf_bytes_are_the_runs_as_built():
    """A pencil's block of whole rows is one merged run of 32 KiB in the strided form, but
    it was built of 1 KiB rows, and an MPI moves it row by row."""
    D = MPI.DOUBLE
    pencil = D.Create_subarray([32, 128, 128], [32, 32, 128], [0, 32, 0])
    d = datatypes.describe(pencil)
    assert d.counts == (32768, 32) and d.leaf_bytes == 1024
    fortran = D.Create_subarray([128, 128, 32], [128, 32, 32], [0, 32, 0], order=MPI.ORDER_F)
    assert datatypes.describe(fortran).leaf_bytes == 1024
    vector = D.Create_vector(4, 3, 10)
    assert datatypes.describe(vector).leaf_bytes == 24
    assert datatypes.describe(vector.Create_hvector(2, 1, 800)).leaf_bytes == 24
    block = MPI.FLOAT.Create_indexed_block(2, [0, 5, 9])
    assert datatypes.describe(block).leaf_bytes == 8
    assert datatypes.describe(D.Create_indexed([1, 2], [0, 5])).leaf_bytes == 0   # unequal
    assert datatypes.describe(D.Create_contiguous(8)).leaf_bytes == 0
    for t in (pencil, fortran, vector, block):
        t.Free()
