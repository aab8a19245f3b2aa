"""The canonical strided-block form of MPI datatypes, from the interposer's own core.

    >>> from mpi4py import MPI
    >>> from mpicomm.datatypes import describe
    >>> describe(MPI.DOUBLE.Create_vector(4, 2, 10))
    Description(canonical=True, start=0, counts=(16, 4), strides=(0, 80), ...)

The datatype is decoded with MPI_Type_get_envelope/get_contents (mpi4py), and
the MPI-free core (the same C code the interposer runs, through cffi) reduces
it. counts[0] is the contiguous bytes per block; counts[i], strides[i] (bytes)
are the levels above it, innermost first.

A type the strided form cannot express (irregular displacements, blocks of unequal
lengths, a struct of differently laid-out members) may have the table form instead:
canonical is False, and pieces lists what it packs in typemap order, each (offset from
the element's start, bytes, shape), shape -1 for one contiguous run, else an index into
shapes, the (counts, strides) of a strided piece.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

from mpicomm._core import ffi, lib

__all__ = ["Description", "describe", "describe_contents", "pack", "unpack"]


@dataclass(frozen=True)
class Description:
    canonical: bool
    start: int
    counts: Tuple[int, ...]
    strides: Tuple[int, ...]
    size: int
    lb: int
    extent: int
    true_lb: int
    true_extent: int
    reason: Optional[str] = None
    pieces: Optional[Tuple[Tuple[int, int, int], ...]] = None
    shapes: Optional[Tuple[Tuple[Tuple[int, ...], Tuple[int, ...]], ...]] = None
    leaf_bytes: int = 0     # the contiguous bytes of its blocks as built (an MPI moves
                            # the type in such runs, even adjacent ones)
    leaf_count: int = 0     # the count of the repetition nearest the predefined types,
                            # as the type was built (the model's construction term)
    levels: int = 0         # how many constructors deep an MPI stores it, as built

    @property
    def packable(self):
        """Does the interposer's core pack it (canonical, or the table form)?"""
        return self.canonical or self.pieces is not None

    @property
    def ndims(self):
        return len(self.counts)


def _table(d):
    """(pieces, shapes) of a description with the table form, else (None, None)."""
    nshapes = ffi.new("int64_t *")
    n = lib.mpic_table_pieces(d, nshapes)
    if not n:
        return None, None
    o, ln, s = ffi.new("int64_t *"), ffi.new("int64_t *"), ffi.new("int64_t *")
    pieces = []
    for i in range(n):
        lib.mpic_table_piece(d, i, o, ln, s)
        pieces.append((o[0], ln[0], s[0]))
    shapes = []
    for k in range(nshapes[0]):
        sh = lib.mpic_table_shape(d, k)
        shapes.append((tuple(sh.counts[i] for i in range(sh.ndims)),
                       tuple(sh.strides[i] for i in range(sh.ndims))))
    return tuple(pieces), tuple(shapes)


def _from_c(d):
    n = d.ndims if d.canonical else 0
    pieces, shapes = _table(d)
    return Description(
        canonical=bool(d.canonical), start=d.start if n else 0,
        counts=tuple(d.counts[i] for i in range(n)), strides=tuple(d.strides[i] for i in range(n)),
        size=d.info.size, lb=d.info.lb, extent=d.info.extent, true_lb=d.info.true_lb,
        true_extent=d.info.true_extent,
        reason=None if d.canonical else ffi.string(d.reason).decode(),
        pieces=pieces, shapes=shapes, leaf_count=d.leaf_count, leaf_bytes=d.leaf_bytes,
        levels=d.levels)


def _typeinfo(size, lb, extent, true_lb, true_extent):
    info = ffi.new("mpic_typeinfo *")
    info.size, info.lb, info.extent = size, lb, extent
    info.true_lb, info.true_extent = true_lb, true_extent
    return info


def _array(values):
    return ffi.new("int64_t[]", [int(v) for v in values] or [0])


def describe_contents(combiner, info, children=(), ints=(), addrs=(), counts=(), large=False,
                      order_c=0):
    """Reduce a type given as its contents (core enum combiner, MPI-reported info tuple
    (size, lb, extent, true_lb, true_extent), child cdata descriptions): returns cdata."""
    out = ffi.new("mpic_desc *")
    tinfo = _typeinfo(*info)
    if combiner == lib.MPIC_COMBINER_NAMED:
        lib.mpic_desc_named(out, tinfo)
        return out
    c = ffi.new("mpic_contents *")
    keep = [_array(ints), _array(addrs), _array(counts)]
    c.combiner, c.large, c.order_c = combiner, int(large), order_c
    c.nints, c.naddrs, c.ncounts, c.ntypes = len(ints), len(addrs), len(counts), len(children)
    c.ints, c.addrs, c.counts = keep
    kids = ffi.new("mpic_desc[]", max(len(children), 1))
    for i, child in enumerate(children):
        kids[i] = child[0]
    lib.mpic_desc_build(out, c, kids, tinfo)
    return ffi.gc(out, lib.mpic_desc_release) if out.table != ffi.NULL else out


def _not_canonical(out, reason):
    out.canonical = 0
    out.reason = reason.encode()[:95]
    return out


def _combiners(MPI):
    names = ["NAMED", "DUP", "CONTIGUOUS", "VECTOR", "HVECTOR", "INDEXED", "HINDEXED",
             "INDEXED_BLOCK", "HINDEXED_BLOCK", "STRUCT", "SUBARRAY", "DARRAY", "RESIZED"]
    return {getattr(MPI, "COMBINER_" + n): getattr(lib, "MPIC_COMBINER_" + n) for n in names}


_TRUSTED = {}


def _trusted(dt, MPI):
    """Does the MPI pack this predefined type as its typemap says? Some do not in strided
    layouts (MPICH 5 and Open MPI 5: long double; Open MPI 5: 16-byte complex types, at
    some strides). Asked once per type, as the interposer does: three elements at each
    probe stride, packed into a filled buffer."""
    key = MPI._handleof(dt)
    if key not in _TRUSTED:
        size = dt.Get_size()
        _TRUSTED[key] = size <= 64 and all(
            _packs_as_typemap(dt, size, stride, MPI)
            for stride in (size, size + 1, size + 8, 2 * size, 3 * size))
    return _TRUSTED[key]


def _packs_as_typemap(dt, size, stride, MPI):
    src = bytes((i * 7 + 3) % 256 for i in range(3 * stride + size))
    probe = dt.Create_hvector(3, 1, stride).Commit()
    out = bytearray(b"\xee" * (3 * size))
    try:
        probe.Pack(src[:probe.Get_extent()[1]], out, 0, MPI.COMM_SELF)
    finally:
        probe.Free()
    return all(out[i * size:(i + 1) * size] == src[i * stride:i * stride + size]
               for i in range(3))


def _decode(dt, MPI, table, depth=0):
    if depth > 64:
        raise ValueError("datatype nested more than 64 levels deep")
    ni, na, nc, nd, combiner = dt.Get_envelope()
    info = (dt.Get_size(), *dt.Get_extent(), *dt.Get_true_extent())
    core = table.get(combiner, lib.MPIC_COMBINER_OTHER)
    if core == lib.MPIC_COMBINER_NAMED:
        out = describe_contents(core, info)
        if out.canonical and not _trusted(dt, MPI):
            name = dt.Get_name() or "this predefined type"
            _not_canonical(out, f"the MPI packs {name} unlike its typemap")
        return out
    if core == lib.MPIC_COMBINER_OTHER:
        out = ffi.new("mpic_desc *")
        out.info = _typeinfo(*info)[0]
        return _not_canonical(out, f"combiner {combiner} is not decoded")
    ints, addrs, counts, types = dt.Get_contents()
    children = []
    for t in types:
        children.append(_decode(t, MPI, table, depth + 1))
        if not t.is_predefined:
            t.Free()
    return describe_contents(core, info, children, ints, addrs, counts, large=nc > 0,
                             order_c=MPI.ORDER_C)


def describe(datatype):
    """Canonical form of an mpi4py datatype, or the reason it is not canonical."""
    from mpi4py import MPI
    if not isinstance(datatype, MPI.Datatype):
        raise TypeError(f"describe() needs an mpi4py.MPI.Datatype, not {type(datatype).__name__}")
    if datatype == MPI.DATATYPE_NULL:
        raise ValueError("describe() of MPI.DATATYPE_NULL")
    return _from_c(_decode(datatype, MPI, _combiners(MPI)))


def _cdesc(desc):
    if desc.pieces is not None:
        return _ctable(desc)
    if not desc.canonical:
        raise ValueError(f"datatype is not canonical: {desc.reason}")
    d = ffi.new("mpic_desc *")
    d.canonical, d.ndims, d.start = 1, len(desc.counts), desc.start
    for i, (c, s) in enumerate(zip(desc.counts, desc.strides)):
        d.counts[i], d.strides[i] = c, s
    d.info = _typeinfo(desc.size, desc.lb, desc.extent, desc.true_lb, desc.true_extent)[0]
    return d


def _ctable(desc):
    """The table form of desc as the core's description (released when collected)."""
    info = _typeinfo(desc.size, desc.lb, desc.extent, desc.true_lb, desc.true_extent)
    shapes = ffi.new("mpic_desc[]", max(len(desc.shapes), 1))
    for k, (counts, strides) in enumerate(desc.shapes):
        s = shapes[k]
        s.canonical, s.ndims = 1, len(counts)
        for i, (c, st) in enumerate(zip(counts, strides)):
            s.counts[i], s.strides[i] = c, st
        s.info.size = s.info.extent = s.info.true_extent = _shape_size(counts, strides)
    flat = ffi.new("int64_t[]", [v for p in desc.pieces for v in p] or [0])
    d = ffi.new("mpic_desc *")
    if lib.mpic_table_make(d, flat, len(desc.pieces), shapes, len(desc.shapes), info):
        raise ValueError(f"not a table this type can have: {ffi.string(d.reason).decode()}")
    return ffi.gc(d, lib.mpic_desc_release)


def _shape_size(counts, strides):
    size = 1
    for c in counts:
        size *= c
    return size


def _on_device(buf):
    return hasattr(buf, "__cuda_array_interface__")


def _device_call(name, desc, count, src, dst):
    """The interposer's device pack or unpack (the process must have loaded it, as
    mpicomm.device needs), on device pointers."""
    import ctypes
    from mpicomm import device
    fn = getattr(ctypes.CDLL(None), f"mpicomm_device_{name}", None)
    if fn is None:
        device._sim()                    # raises, saying how to load the interposer
        raise device.DeviceError("the interposer in this process has no device calls")
    fn.argtypes = [ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p]
    d = _cdesc(desc)
    if fn(int(ffi.cast("uintptr_t", d)), count, src, dst) != 0:
        raise device.DeviceError(f"device {name} of {count} elements failed")


def _address(buf, writable=False):
    if _on_device(buf):
        return buf.__cuda_array_interface__["data"][0], None
    keep = ffi.from_buffer(buf, require_writable=writable)
    return int(ffi.cast("uintptr_t", keep)), keep


def pack(desc, buf, count=1, offset=0):
    """Pack count elements of desc from buf (bytes from buf[offset]) with the core's kernels.
    A device array (one with __cuda_array_interface__: mpicomm.device, CuPy) is packed on
    the device, into a device array of bytes."""
    if not _on_device(buf):
        src = ffi.from_buffer(buf)
        out = bytearray(count * desc.size)
        lib.mpic_pack(_cdesc(desc), count, src + offset, ffi.from_buffer(out))
        return bytes(out)
    import numpy
    from mpicomm import device
    out = device.empty(count * desc.size, numpy.uint8)
    _device_call("pack", desc, count, _address(buf)[0] + offset, _address(out)[0])
    return out


def unpack(desc, packed, buf, count=1, offset=0):
    """Unpack count elements of desc from packed into the writable buffer buf; either may be
    a device array (unpacked on the device)."""
    n = packed.nbytes if _on_device(packed) else len(packed)
    if n < count * desc.size:
        raise ValueError(f"packed holds {n} bytes, {count * desc.size} needed")
    if not (_on_device(buf) or _on_device(packed)):
        lib.mpic_unpack(_cdesc(desc), count, ffi.from_buffer(packed),
                        ffi.from_buffer(buf, require_writable=True) + offset)
        return
    (src, keep_src), (dst, keep_dst) = _address(packed), _address(buf, writable=True)
    _device_call("unpack", desc, count, src, dst + offset)
