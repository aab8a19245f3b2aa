"""The MPI-free core through cffi: canonical forms and kernels against tests/reference.py."""
import os
import random

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from support import reference as R
from support import typespec
from mpicomm import datatypes
from mpicomm._core import ffi, lib


def describe(t, large=False):
    if t.combiner == lib.MPIC_COMBINER_NAMED:
        return datatypes.describe_contents(t.combiner, t.info())
    kids = [describe(c, large) for c in t.children]
    ints, addrs, counts = t.large if large else t.classic
    return datatypes.describe_contents(t.combiner, t.info(), kids, ints, addrs, counts,
                                       large=large, order_c=R.ORDER_C)


def check_kernels(t, d, count, rng):
    """Pack and unpack with the core; compare byte for byte with the reference offsets."""
    offs = t.offsets(count)
    lo, hi = min(offs), max(offs) + 1
    base = 8 - lo + rng.randrange(8)            # any alignment, room for negative offsets
    buf = bytes(rng.randrange(256) for _ in range(base + hi + 8))
    out = ffi.new("char[]", len(offs) + 1)
    assert lib.mpic_pack(d, count, ffi.from_buffer(buf) + base, out) == len(offs)
    assert ffi.buffer(out, len(offs))[:] == bytes(buf[base + o] for o in offs)

    packed = bytes(rng.randrange(256) for _ in range(len(offs)))
    target = bytearray(buf)
    lib.mpic_unpack(d, count, packed, ffi.from_buffer(target) + base)
    expect = bytearray(buf)
    for i, o in enumerate(offs):
        expect[base + o] = packed[i]
    assert target == expect


# -- fixed cases: the shapes the card names ---------------------------------------------

DOUBLE = R.named(8)


@pytest.mark.parametrize("large", [False, True])
def test_face_subarrays_reduce_to_one_strided_level(large):
    n = 16
    xface = R.subarray([n, n, n], [n, n, 1], [0, 0, 0], R.ORDER_C, DOUBLE)   # a[:,:,0]
    d = describe(xface, large)
    assert d.canonical and d.start == 0
    assert (d.ndims, d.counts[0], d.counts[1], d.strides[1]) == (2, 8, n * n, n * 8)
    yface = R.subarray([n, n, n], [n, 1, n], [0, 3, 0], R.ORDER_C, DOUBLE)   # a[:,3,:]
    d = describe(yface, large)
    assert d.canonical and d.start == 3 * n * 8
    assert (d.ndims, d.counts[0], d.counts[1], d.strides[1]) == (2, n * 8, n, n * n * 8)


def test_fortran_order_subarray_is_the_transpose():
    c = R.subarray([4, 6], [2, 3], [1, 2], R.ORDER_C, DOUBLE)
    f = R.subarray([6, 4], [3, 2], [2, 1], R.ORDER_F, DOUBLE)
    dc, df = describe(c), describe(f)
    assert dc.canonical and df.canonical
    assert (dc.start, dc.counts[0], dc.counts[1], dc.strides[1]) == \
           (df.start, df.counts[0], df.counts[1], df.strides[1]) == (64, 24, 2, 48)


def test_interior_subarray_has_two_levels():
    t = R.subarray([8, 8, 8], [6, 6, 6], [1, 1, 1], R.ORDER_C, DOUBLE)
    d = describe(t)
    assert d.canonical and d.ndims == 3 and d.counts[0] == 48
    assert [d.counts[1], d.strides[1], d.counts[2], d.strides[2]] == [6, 64, 6, 512]


def test_dense_nesting_folds_to_one_block():
    t = R.contiguous(3, R.vector(4, 2, 2, R.named(4)))     # stride == blocklength: dense
    d = describe(t)
    assert d.canonical and d.ndims == 1 and d.counts[0] == 96


def test_pieces_that_touch_are_one_strided_block():
    """Members of different layouts, or blocks of unequal lengths, that follow each other
    in memory: one run, so the strided form after all."""
    for t in (R.struct([1, 1], [0, 8], [R.named(8), R.named(4)]),
              R.indexed([2, 1], [0, 2], R.named(4))):
        d = describe(t)
        assert d.canonical and not lib.mpic_table_pieces(d, ffi.new("int64_t *"))
        assert (d.ndims, d.start, d.counts[0]) == (1, 0, t.size)
        check_kernels(t, d, 3, random.Random(0))


def test_a_table_that_would_pass_the_cap_goes_to_the_mpi():
    t = R.contiguous(1 << 20, R.indexed([1, 2], [0, 5], R.named(4)))
    d = describe(t)
    assert not lib.mpic_packable(d) and b"2^20 pieces" in ffi.string(d.reason)


def test_regular_indexed_and_struct_are_canonical():
    assert describe(R.indexed([2, 0, 2, 2], [0, 1, 5, 10], R.named(4))).canonical
    assert describe(R.hindexed_block(3, [-64, 0, 64], DOUBLE)).canonical
    s = R.struct([1, 1], [0, 40], [R.named(8), R.contiguous(2, R.named(4))])
    d = describe(s)
    assert d.canonical and (d.counts[0], d.counts[1], d.strides[1]) == (8, 2, 40)


@pytest.mark.parametrize("t, pieces, shapes", [
    (R.indexed([1, 2], [0, 5], R.named(4)), ((0, 4, -1), (20, 8, -1)), ()),
    (R.hindexed([1, 1, 1], [0, 8, 24], DOUBLE), ((0, 16, -1), (24, 8, -1)), ()),
    (R.struct([1, 2], [0, 16], [R.named(4), R.vector(2, 1, 3, DOUBLE)]),
     ((0, 4, -1), (16, 32, 0)), (((8, 2, 2), (0, 24, 32)),)),
    (R.vector(2, 1, 4, R.indexed([1, 2], [0, 5], R.named(4))),
     ((0, 4, -1), (20, 8, -1), (112, 4, -1), (132, 8, -1)), ()),
])
def test_irregular_types_get_the_table_form(t, pieces, shapes):
    """What the strided form cannot express, as pieces in typemap order (adjacent runs
    merged, a repeated strided member as one shape)."""
    d = describe(t)
    assert not d.canonical and lib.mpic_packable(d)
    got = datatypes._from_c(d)
    assert (got.pieces, got.shapes) == (pieces, shapes)
    assert b"table of" in ffi.string(d.reason)
    check_kernels(t, d, 3, random.Random(0))


def test_holes_in_a_named_type_fall_back():
    d = datatypes.describe_contents(lib.MPIC_COMBINER_NAMED, (12, 0, 16, 0, 12))
    assert not d.canonical and "holes" in ffi.string(d.reason).decode()


def test_wrong_size_from_the_mpi_is_caught():
    t = R.vector(3, 1, 2, DOUBLE)
    size, lb, ext, tlb, text = t.info()
    kid = describe(DOUBLE)
    d = datatypes.describe_contents(t.combiner, (size + 8, lb, ext, tlb, text), [kid],
                                    *t.classic)
    assert not d.canonical and "size disagrees" in ffi.string(d.reason).decode()


def test_deep_plan_uses_the_generic_kernel():
    t = DOUBLE
    for n in (2, 3, 2, 3, 2, 2):
        t = R.hvector(n, 1, t.extent * 2 + 8 * n, t)
    d = describe(t)
    assert d.canonical and d.ndims == 7
    assert ffi.string(lib.mpic_kernel_name(d, 1, ffi.NULL)) == b"generic"
    check_kernels(t, d, 2, random.Random(0))


def test_kernel_choice_follows_block():
    name = lambda t: ffi.string(lib.mpic_kernel_name(describe(t), 1, ffi.NULL)).decode()
    assert name(R.vector(4, 1, 2, DOUBLE)) == "d2_b8"
    assert name(R.vector(4, 3, 4, DOUBLE)) == "d2_o16"
    assert name(R.vector(4, 3, 4, R.named(4))) == "d2_o8"
    assert name(R.vector(4, 3, 4, R.named(1))) == "d2_o2"
    assert name(R.vector(4, 5, 6, DOUBLE)) == "d2_o32"
    assert name(R.vector(4, 40, 41, DOUBLE)) == "d2_c32"
    assert name(R.vector(4, 256, 257, DOUBLE)) == "d2_mc"
    assert lib.mpic_kernel_count() > 50


@pytest.mark.parametrize("block", [8, 16, 24, 32])
def test_transposes_move_by_tiles_of_columns(block):
    """Columns sharing cache lines taken one after another (a resized column type, as a
    2-D FFT's transpose sends them) take the tiled walk; bytes as the reference's, for a
    column count that does not fill the last tile."""
    n = 40
    col = R.hvector(n, 1, n * block, R.named(block))
    t = R.contiguous(n // 2 + 1, R.resized(0, block, col))
    d = describe(t)
    assert ffi.string(lib.mpic_kernel_name(d, 1, ffi.NULL)) == b"transpose"
    check_kernels(t, d, 1, random.Random(block))
    check_kernels(t, d, 2, random.Random(block))


@pytest.mark.parametrize("levels", [1, 2, 3])
def test_long_packs_stream_their_stores_and_match(levels):
    """Packs of 4 MiB or more in blocks of 256 bytes or more, a multiple of 32, into a
    32-byte aligned buffer take the streaming kernel (x86-64); the bytes are the same as a
    strided copy's, aligned or not, and unpacking them restores the array."""
    import numpy as np
    e = 64                                   # element: one 64-byte unit; rows of 8 (512 B)
    rows = (4 << 20) // (8 * e)
    shape = {1: [2 * rows * 8], 2: [rows, 16], 3: [rows // 16, 16, 16]}[levels]
    sub = {1: [rows * 8], 2: [rows, 8], 3: [rows // 16, 16, 8]}[levels]
    start = {1: [0], 2: [0, 4], 3: [0, 0, 8]}[levels]
    t = R.subarray(shape, sub, start, R.ORDER_C, R.named(e))
    d = describe(t)
    a = np.random.default_rng(levels).integers(0, 256, int(np.prod(shape)) * e, dtype=np.uint8)
    part = tuple(slice(s, s + n) for s, n in zip(start, sub))
    view = a.reshape(*shape, e)[part]
    room = np.zeros(t.size + 64, np.uint8)
    aligned = -room.ctypes.data % 32
    for skip, stream in ((aligned, True), (aligned + 16, False)):
        out = room[skip:skip + t.size]
        name = ffi.string(lib.mpic_kernel_name(d, 1, ffi.cast("void *", out.ctypes.data)))
        assert (name == b"s32") == (stream and os.uname().machine == "x86_64")
        lib.mpic_pack(d, 1, ffi.cast("void *", a.ctypes.data), ffi.cast("void *", out.ctypes.data))
        assert np.array_equal(out, view.ravel())
        back = np.zeros_like(a)
        lib.mpic_unpack(d, 1, ffi.cast("void *", out.ctypes.data),
                        ffi.cast("void *", back.ctypes.data))
        assert np.array_equal(back.reshape(*shape, e)[part], view)


# -- random trees -----------------------------------------------------------------------

types = typespec.specs().map(R.from_spec)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(t=types, large=st.booleans(), count=st.integers(1, 3), seed=st.integers(0, 2**32))
@seed(int(os.environ.get("MPICOMM_TEST_SEED", "1000")))
def test_random_types_pack_like_the_reference(t, large, count, seed):
    if t.size == 0 or t.extent <= 0 or t.size * count > 1 << 16:
        return
    d = describe(t, large)
    if d.canonical:
        assert d.counts[0] * _prod(d.counts[i] for i in range(1, d.ndims)) == t.size
    if lib.mpic_packable(d):
        check_kernels(t, d, count, random.Random(seed))
        check_ranges(t, d, count, random.Random(seed))
        if not d.canonical:
            check_partial_unpack(t, d, count, random.Random(seed))
    else:
        assert ffi.string(d.reason)


def check_ranges(t, d, count, rng):
    """The packed stream cut into random ranges, each packed and unpacked on its own (as
    the pipelined method moves chunks): the same bytes as the whole."""
    offs = t.offsets(count)
    lo = min(offs)
    buf = bytes(rng.randrange(256) for _ in range(max(offs) - lo + 1))
    cuts = sorted({0, len(offs), *(rng.randrange(len(offs) + 1) for _ in range(3))})
    out = ffi.new("char[]", len(offs) + 1)
    target = bytearray(len(buf))
    for a, b in zip(cuts, cuts[1:]):
        assert lib.mpic_pack_range(d, count, ffi.from_buffer(buf) - lo, a, b - a, out + a) == b - a
        lib.mpic_unpack_range(d, count, out + a, a, b - a, ffi.from_buffer(target) - lo)
    assert ffi.buffer(out, len(offs))[:] == bytes(buf[o - lo] for o in offs)
    expect = bytearray(len(buf))
    for o in offs:
        expect[o - lo] = buf[o - lo]
    assert target == expect


def check_partial_unpack(t, d, count, rng):
    """The first n bytes of a stream unpacked: exactly those bytes land."""
    offs = t.offsets(count)
    n = rng.randrange(len(offs) + 1)
    lo = min(offs)
    packed = bytes(rng.randrange(1, 256) for _ in range(len(offs)))
    buf = bytearray(max(offs) - lo + 1)
    lib.mpic_unpack_bytes(d, n, packed, ffi.from_buffer(buf) - lo)
    expect = bytearray(len(buf))
    for i, o in enumerate(offs[:n]):
        expect[o - lo] = packed[i]
    assert buf == expect


def _prod(values):
    out = 1
    for v in values:
        out *= v
    return out


def test_the_generators_types_are_on_the_fast_path():
    """Of the random generator's types (every predefined member packed as its typemap),
    at least 95% are canonical or have the table form."""
    types = [R.from_spec(s) for s in typespec.sample(7, 2000)]
    usable = [describe(t) for t in types if t.size > 0]
    fast = sum(bool(lib.mpic_packable(d)) for d in usable)
    print(f"fast path: {fast} of {len(usable)} random types "
          f"({sum(bool(d.canonical) for d in usable)} canonical)")
    assert fast >= 0.95 * len(usable), [ffi.string(d.reason) for d in usable
                                        if not lib.mpic_packable(d)][:20]


def test_random_types_are_mostly_canonical():
    """The generator must exercise the kernels, not only the fall-back."""
    rng = random.Random(1)
    hits = 0
    for _ in range(300):
        t = _sample(rng)
        hits += describe(t).canonical
    assert hits > 150


def _sample(rng):
    t = R.named(rng.choice([1, 4, 8]))
    for _ in range(rng.randrange(1, 4)):
        kind = rng.randrange(4)
        if kind == 0:
            t = R.vector(rng.randrange(1, 5), rng.randrange(1, 4), rng.randrange(4, 8), t)
        elif kind == 1:
            t = R.subarray([5, 6], [rng.randrange(1, 6), rng.randrange(1, 7)], [0, 0],
                           R.ORDER_C, t)
        elif kind == 2:
            t = R.hindexed_block(2, [0, 8 * t.extent + 8], t)
        else:
            t = R.contiguous(rng.randrange(1, 4), t)
    return t


def test_pack_rejects_what_it_cannot_pack_and_negative_counts():
    bad = datatypes.describe_contents(lib.MPIC_COMBINER_NAMED, (12, 0, 16, 0, 12))
    assert not lib.mpic_packable(bad)
    assert lib.mpic_pack(bad, 1, ffi.NULL, ffi.NULL) < 0
    good = describe(DOUBLE)
    assert lib.mpic_pack(good, -1, ffi.NULL, ffi.NULL) < 0
    assert lib.mpic_pack(good, 0, ffi.NULL, ffi.NULL) == 0


def test_long_regular_block_lists_are_canonical():
    n = 20000
    d = describe(R.indexed_block(2, [5 + 3 * i for i in range(n)], DOUBLE))
    assert d.canonical and (d.start, d.counts[0], d.counts[1], d.strides[1]) == (40, 16, n, 24)
    irregular = [3 * i for i in range(n)]
    irregular[-1] += 1
    d = describe(R.indexed_block(2, irregular, DOUBLE))
    assert not d.canonical and lib.mpic_table_pieces(d, ffi.new("int64_t *")) == n


@pytest.mark.parametrize("nbytes", [0, 1, 7, 8, 9, 23, 24, 47, 48, 100, 143, 144])
def test_partial_unpack_writes_exactly_the_first_bytes(nbytes):
    t = R.vector(3, 1, 2, R.named(8))          # 24 bytes per element, extent 40
    d = describe(t)
    count = 6
    offs = t.offsets(count)
    packed = bytes(range(1, len(offs) + 1))
    buf = bytearray(b"\xff" * (count * t.extent + 8))
    assert lib.mpic_unpack_bytes(d, nbytes, packed, ffi.from_buffer(buf)) == nbytes
    expect = bytearray(b"\xff" * len(buf))
    for i, o in enumerate(offs[:nbytes]):
        expect[o] = packed[i]
    assert buf == expect


def test_byte_ranges_pack_and_unpack_like_the_whole_stream():
    """Any [first, first + n) of the packed stream, as the pipelined method cuts it."""
    rng = random.Random(7)
    tried = 0
    while tried < 150:
        t, count = _sample(rng), rng.randrange(1, 4)
        d = describe(t)
        if not d.canonical or t.size == 0 or t.size * count > 1 << 14:
            continue
        tried += 1
        offs = t.offsets(count)
        base = 8 - min(offs)
        buf = bytes(rng.randrange(256) for _ in range(base + max(offs) + 9))
        stream = bytes(buf[base + o] for o in offs)
        for _ in range(6):
            first = rng.randrange(len(offs))
            n = rng.randrange(len(offs) - first + 1)
            out = ffi.new("char[]", n + 1)
            assert lib.mpic_pack_range(d, count, ffi.from_buffer(buf) + base, first, n, out) == n
            assert ffi.buffer(out, n)[:] == stream[first:first + n], (t, count, first, n)

            packed = bytes(rng.randrange(256) for _ in range(n))
            target = bytearray(buf)
            assert lib.mpic_unpack_range(d, count, packed, first, n,
                                         ffi.from_buffer(target) + base) == n
            expect = bytearray(buf)
            for i, o in enumerate(offs[first:first + n]):
                expect[base + o] = packed[i]
            assert target == expect, (t, count, first, n)


def test_byte_ranges_outside_the_stream_are_refused():
    d = describe(R.vector(3, 1, 2, R.named(8)))
    buf = bytearray(200)
    assert lib.mpic_pack_range(d, 2, ffi.from_buffer(buf), 40, 9, ffi.from_buffer(buf)) < 0
    assert lib.mpic_pack_range(d, 2, ffi.from_buffer(buf), -1, 2, ffi.from_buffer(buf)) < 0
    assert lib.mpic_unpack_range(d, 2, ffi.from_buffer(buf), 0, 49, ffi.from_buffer(buf)) < 0
    assert lib.mpic_pack_range(d, 2, ffi.from_buffer(buf), 48, 0, ffi.from_buffer(buf)) == 0


def test_array_addresses_in_one_pass_match_numpy():
    """mpip_addresses reads numpy's array head: the data address of every C-contiguous,
    writeable array (any dtype, shape, offset into a base), 0 for the others."""
    import numpy as np
    base = np.arange(400, dtype=np.float64)
    ro = np.zeros(5)
    ro.flags.writeable = False
    arrays = [base, base[3:50], base.reshape(20, 20)[2:5], np.zeros((0,), np.int32),
              np.ones((3, 4, 5), np.float16), base[::2], base.reshape(20, 20).T, ro,
              np.empty(1, np.int64)]
    ids = np.array([id(a) for a in arrays], np.intp)
    addr = np.zeros(len(arrays), np.intp)
    odd = lib.mpip_addresses(ffi.cast("intptr_t *", ids.ctypes.data), len(arrays),
                             ffi.cast("intptr_t *", addr.ctypes.data))
    want = [a.__array_interface__["data"][0]
            if a.flags.c_contiguous and a.flags.writeable else 0 for a in arrays]
    assert addr.tolist() == want and odd == 3
