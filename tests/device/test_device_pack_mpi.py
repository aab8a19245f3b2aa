"""MPI_Pack and MPI_Unpack with device buffers, against the MPI's own packing of the same
bytes in host memory, for random nested datatypes and every mix of host and device
sides. Canonical types run the generated device kernels; the rest go to the MPI through
host mirrors."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, note, seed, settings
from hypothesis import strategies as st
from mpi4py import MPI

from support import mpitypes
from support import typespec
from conftest import outcome
from mpicomm.datatypes import describe

COMM = MPI.COMM_WORLD
SEED = int(os.environ.get("MPICOMM_TEST_SEED", "2000")) + COMM.Get_rank()


def layout(dt, count):
    """Offset of the first element in a buffer that holds count of them, and its size."""
    lo, hi = mpitypes.bounds(dt, count)
    return 16 - lo, 16 - lo + hi + 16


def place(device, data, on_device):
    """data (bytes) as a host bytearray or a device array of bytes."""
    host = np.frombuffer(bytes(data), np.uint8).copy()
    return device.asarray(host) if on_device else host


def as_bytes(device, buf):
    return bytes(device.asnumpy(buf)) if not isinstance(buf, np.ndarray) else buf.tobytes()


def elements(buf, base, dt, count):
    """count elements of dt from byte base (mpi4py takes len // extent elements); a view,
    since a type's bytes may lie before its first element's offset."""
    if isinstance(buf, (bytes, bytearray)):
        buf = memoryview(buf)
    return buf[base:base + count * dt.Get_extent()[1]]


SIDES = ["device-host", "device-device", "host-device"]


@settings(max_examples=300, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(spec=typespec.specs(holes=True), count=st.integers(1, 3), start=st.integers(0, 9),
       sides=st.sampled_from(SIDES), split=st.booleans(), seed=st.integers(0, 2**31))
@seed(SEED)
@pytest.mark.mpi
def test_device_pack_and_unpack_match_the_mpi(interposer, device, spec, count, start, sides,
                                              split, seed):
    dt = mpitypes.from_spec(spec).Dup().Commit()
    note(f"{spec} x{count} {sides}")
    try:
        lb, ext = dt.Get_extent()
        size = dt.Get_size()
        if size == 0 or ext <= 0 or size * count > 1 << 16:
            return
        rng = np.random.default_rng(seed)
        base, nbytes = layout(dt, count)
        src = rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes()
        outsize = start + count * size + 7
        strided_dev, packed_dev = sides.split("-")[0] == "device", sides.split("-")[1] == "device"
        if mpitypes.mpi_misreads(dt, count, interposer.real):
            return
        ours = describe(dt).packable           # canonical, or the table form
        counter = "pack_fast" if ours else "pack_fallback"

        def pack(inbuf, outbuf):
            if split and count > 1:
                pos = dt.Pack(elements(inbuf, base, dt, 1), outbuf, start, COMM)
                return dt.Pack(elements(inbuf, base + ext, dt, count - 1), outbuf, pos, COMM)
            return dt.Pack(elements(inbuf, base, dt, count), outbuf, start, COMM)

        real_out = bytearray(b"\xa5" * outsize)
        real_pos = interposer.real(pack, src, real_out)
        before = interposer.stat(counter)
        out = place(device, b"\xa5" * outsize, packed_dev)
        pos = pack(place(device, src, strided_dev), out)
        assert (pos, as_bytes(device, out)) == (real_pos, bytes(real_out))
        assert interposer.stat(counter) > before, f"{counter} did not count the device pack"

        packed = rng.integers(0, 256, outsize, dtype=np.uint8).tobytes()
        fill = rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes()

        def unpack(inbuf, outbuf):
            return dt.Unpack(inbuf, start, elements(outbuf, base, dt, count), COMM)

        real_into = bytearray(fill)
        real_pos = interposer.real(unpack, packed, real_into)
        into = place(device, fill, strided_dev)
        pos = unpack(place(device, packed, packed_dev), into)
        assert (pos, as_bytes(device, into)) == (real_pos, bytes(real_into))
    finally:
        dt.Free()


FACES = mpitypes.FACES + [
    ("odd-stride", lambda: MPI.LONG_LONG.Create_hvector(50, 1, 12)),
    ("seven-levels", lambda: MPI.INT.Create_vector(2, 1, 2).Create_hvector(2, 1, 20)
     .Create_hvector(2, 1, 100).Create_hvector(2, 1, 300).Create_hvector(2, 1, 1000)
     .Create_hvector(2, 1, 3000).Create_hvector(3, 1, 7000)),
]


@pytest.mark.mpi
@pytest.mark.parametrize("name, make", FACES, ids=[f[0] for f in FACES])
def test_named_shapes_pack_on_the_device(interposer, device, name, make):
    """Halo faces, an hvector of 8-byte blocks at a 12-byte stride (4-byte accesses, not
    misaligned 8-byte ones) and a type of seven strided levels, with two elements."""
    dt = make().Commit()
    try:
        assert describe(dt).canonical
        ext = dt.Get_extent()[1]
        src = np.random.default_rng(1).integers(0, 256, 2 * ext + 64, dtype=np.uint8)
        want = bytearray(2 * dt.Get_size())
        interposer.real(dt.Pack, src[:2 * ext], want, 0, COMM)
        before = interposer.stat("pack_fast")
        packed = device.empty(2 * dt.Get_size(), np.uint8)
        dsrc = device.asarray(src)
        assert dt.Pack(dsrc[:2 * ext], packed, 0, COMM) == len(want)
        assert interposer.stat("pack_fast") == before + 1
        assert device.asnumpy(packed).tobytes() == bytes(want)
        back = device.asarray(np.zeros_like(src))
        dt.Unpack(packed, 0, back[:2 * ext], COMM)
        host = np.zeros_like(src)
        interposer.real(dt.Unpack, want, 0, host[:2 * ext], COMM)
        assert np.array_equal(device.asnumpy(back), host)
    finally:
        dt.Free()


@pytest.mark.mpi
def test_bad_arguments_with_device_buffers(interposer, device):
    """Room for fewer elements than asked, a position inside: as the MPI does from host
    buffers. A position outside the packed device buffer (MPICH 5 packs at -1, before a
    host buffer): MPI_ERR_ARG, nothing written outside device memory."""
    dt = MPI.DOUBLE.Create_vector(4, 1, 3).Commit()
    comm = COMM.Dup()
    comm.Set_errhandler(MPI.ERRORS_RETURN)
    try:
        src = np.arange(16, dtype="f8")
        dsrc = device.asarray(src)
        for outsize, position in ((20, 0), (40, 9), (20, -1), (20, 21)):
            out = device.asarray(np.full(64, 0xa5, np.uint8))
            mine = outcome(lambda: dt.Pack(dsrc[:12], out[:outsize], position, comm))
            if 0 <= position <= outsize:
                host = np.full(64, 0xa5, np.uint8)
                real = interposer.real(outcome, lambda: dt.Pack(src[:12], host[:outsize],
                                                                position, comm))
                assert mine == real, (outsize, position)
                assert device.asnumpy(out)[:outsize].tobytes() == host[:outsize].tobytes()
            else:
                assert mine == ("error", MPI.ERR_ARG), (outsize, position)
            assert (device.asnumpy(out)[outsize:] == 0xa5).all()
    finally:
        comm.Free()
        dt.Free()


@pytest.mark.mpi
def test_mpicomm_datatypes_pack_and_unpack_take_device_arrays(interposer, device):
    from mpicomm import datatypes
    dt = MPI.DOUBLE.Create_subarray([12, 10, 8], [12, 10, 2], [0, 0, 3]).Commit()
    try:
        desc = describe(dt)
        host = np.random.default_rng(3).random(12 * 10 * 8)
        want = datatypes.pack(desc, host)
        packed = datatypes.pack(desc, device.asarray(host))
        assert hasattr(packed, "__cuda_array_interface__")
        assert device.asnumpy(packed).tobytes() == want
        into = device.asarray(np.zeros_like(host))
        datatypes.unpack(desc, packed, into)
        back = np.zeros_like(host)
        datatypes.unpack(desc, want, back)
        assert np.array_equal(device.asnumpy(into), back)
        into = device.asarray(np.zeros_like(host))
        datatypes.unpack(desc, want, into)                  # host bytes into device memory
        assert np.array_equal(device.asnumpy(into), back)
    finally:
        dt.Free()
