"""tests/support/typespec.py shapes built as real mpi4py datatypes (by the MPI)."""
from mpi4py import MPI

from . import typespec


def bounds(dt, count):
    """(lowest, highest) byte offset, from the buffer's start, that count elements of dt
    touch or span (never above 0 / below 1), wherever lb and true_lb put them."""
    lb, ext = dt.Get_extent()
    tlb, text = dt.Get_true_extent()
    lo = min(0, tlb, tlb + (count - 1) * ext)
    hi = max(tlb + text, tlb + (count - 1) * ext + text, count * ext, 1)
    return lo, hi


def from_spec(spec):
    kind, args = spec[0], spec[1:]
    if kind == "named":
        return getattr(MPI, args[0])
    if kind == "struct2":
        gap, c, other = args
        c, o = from_spec(c), from_spec(other)
        return MPI.Datatype.Create_struct([1, 1], [0, c.Get_extent()[1] + gap], [c, o])
    *params, child = args
    c = from_spec(child)
    if kind == "contig":
        return c.Create_contiguous(*params)
    if kind == "vector":
        return c.Create_vector(*params)
    if kind == "hvector":
        return c.Create_hvector(*params)
    if kind == "indexed":
        return c.Create_indexed(*params)
    if kind == "hindexed":
        return c.Create_hindexed(*params)
    if kind == "iblock":
        return c.Create_indexed_block(*params)
    if kind == "hiblock":
        return c.Create_hindexed_block(*params)
    if kind == "subarray":
        sizes, subs, starts, c_order = params
        return c.Create_subarray(sizes, subs, starts,
                                 order=MPI.ORDER_C if c_order else MPI.ORDER_FORTRAN)
    if kind == "resized":
        lb, extra = params
        return c.Create_resized(lb, c.Get_extent()[1] + extra)
    if kind == "dup":
        return c.Dup()
    if kind == "struct":
        bl, displ = params
        return MPI.Datatype.Create_struct([bl], [displ], [c])
    raise ValueError(f"unknown spec kind {kind!r}")


datatypes = typespec.specs(holes=True).map(from_spec)


def mpi_misreads(dt, count, real):
    """Do the MPI's own packed bytes (real: the interposer switched off) for count elements
    of dt depend on anything but those elements: bytes outside their span, or where the
    packed buffer lies? Open MPI 5.0 packs 16-byte complex types in overlapping layouts so:
    hvector(2, 1, -8, C_DOUBLE_COMPLEX) reads offset -16 for the block at -8, and
    hindexed([1, 1], [0, 8], C_DOUBLE_COMPLEX) comes out right only into an odd address.
    No copy of the elements' own bytes (a device buffer's host mirror, in pinned memory of
    its own alignment) can reproduce such bytes, so the device tests leave such types out.
    Two sources that differ only outside the span, packed at three alignments, must agree."""
    lo, hi = bounds(dt, count)
    tlb, text = dt.Get_true_extent()
    ext, n = dt.Get_extent()[1], dt.Get_size() * count
    first = tlb + min(0, (count - 1) * ext)
    last = tlb + text + max(0, (count - 1) * ext)
    base = 16 - lo
    outs = set()
    for salt, at in ((0, 0), (1, 0), (0, 1), (0, 8)):
        buf = bytearray((i * 37 + 11 + salt * (i * 13 + 5)) % 251 for i in range(base + hi + 16))
        buf[base + first:base + last] = bytes((i * 37 + 11) % 251 for i in range(base + first,
                                                                               base + last))
        out = bytearray(n + 16)
        real(dt.Pack, memoryview(buf)[base:base + count * ext], memoryview(out)[at:at + n], 0,
             MPI.COMM_SELF)
        outs.add(bytes(out[at:at + n]))
    return len(outs) > 1


def sample(seed, n):
    """n mpi4py datatypes, the same on every rank."""
    return [from_spec(s) for s in typespec.sample(seed, n, holes=True)]


def show(dt):
    """Readable constructor expression of an mpi4py datatype, for failure messages."""
    if dt.is_predefined:
        return dt.Get_name() or repr(dt)
    base, combiner, params = dt.decode()
    args = ", ".join(f"{k}={show(v) if isinstance(v, MPI.Datatype) else v}"
                     for k, v in params.items() if k not in ("datatype",))
    inner = show(base) if isinstance(base, MPI.Datatype) else ""
    return f"{combiner}({inner}; {args})"


# Halo faces and other canonical types of the pack tests: (name, make).
FACES = [
    ("xface", lambda: MPI.DOUBLE.Create_subarray([32] * 3, [32, 32, 1], [0, 0, 5])),
    ("yface", lambda: MPI.DOUBLE.Create_subarray([32] * 3, [32, 1, 32], [0, 7, 0])),
    ("xface2", lambda: MPI.DOUBLE.Create_subarray([32] * 3, [32, 32, 2], [0, 0, 30])),
    ("interior", lambda: MPI.DOUBLE.Create_subarray([32] * 3, [30] * 3, [1] * 3,
                                                    order=MPI.ORDER_FORTRAN)),
    ("bytes", lambda: MPI.BYTE.Create_vector(100, 3, 512)),
    ("nested", lambda: MPI.DOUBLE.Create_vector(8, 2, 4).Create_hvector(5, 1, 1000)),
]
