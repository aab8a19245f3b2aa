"""A slow, obviously-correct model of MPI datatypes for testing the core without MPI.

Each type knows its typemap as byte runs in typemap order, its lb and extent by
the MPI rules (no alignment padding), and how the MPI would report its contents
in the classic and in the large-count (MPI-4 "_c") layout.
"""
import itertools

from mpicomm._core import lib

ORDER_C, ORDER_F = 56, 57          # arbitrary "MPI constants": the core must not assume values


class T:
    def __init__(self, runs, lb, extent, combiner, children=(), classic=None, large=None):
        self.runs = runs                 # [(offset, nbytes)] in typemap order
        self.lb, self.extent = lb, extent
        self.combiner, self.children = combiner, list(children)
        self.classic, self.large = classic, large   # (ints, addrs, counts)

    @property
    def size(self):
        return sum(n for _, n in self.runs)

    @property
    def true_lb(self):
        return min(o for o, _ in self.runs)

    @property
    def true_extent(self):
        return max(o + n for o, n in self.runs) - self.true_lb

    def info(self):
        return (self.size, self.lb, self.extent, self.true_lb, self.true_extent)

    def offsets(self, count=1):
        """Byte offsets of every packed byte, in order."""
        out = []
        for k in range(count):
            for o, n in self.runs:
                out.extend(range(k * self.extent + o, k * self.extent + o + n))
        return out


def _copies(child, displs):
    """A type made of child copies at byte displacements: runs, lb, extent."""
    runs = [(d + o, n) for d in displs for o, n in child.runs]
    lb = min(d + child.lb for d in displs)
    ub = max(d + child.lb + child.extent for d in displs)
    return runs, lb, ub - lb


def named(size):
    return T([(0, size)], 0, size, lib.MPIC_COMBINER_NAMED)


def contiguous(n, c):
    runs, lb, ext = _copies(c, [i * c.extent for i in range(n)])
    return T(runs, lb, ext, lib.MPIC_COMBINER_CONTIGUOUS, [c], ([n], [], []), ([], [], [n]))


def vector(n, bl, stride, c):
    d = [(i * stride + j) * c.extent for i in range(n) for j in range(bl)]
    return T(*_copies(c, d), lib.MPIC_COMBINER_VECTOR, [c], ([n, bl, stride], [], []),
             ([], [], [n, bl, stride]))


def hvector(n, bl, stride, c):
    d = [i * stride + j * c.extent for i in range(n) for j in range(bl)]
    return T(*_copies(c, d), lib.MPIC_COMBINER_HVECTOR, [c], ([n, bl], [stride], []),
             ([], [], [n, bl, stride]))


def indexed(bls, displs, c):
    d = [(x + j) * c.extent for b, x in zip(bls, displs) for j in range(b)]
    n = len(bls)
    return T(*_copies(c, d), lib.MPIC_COMBINER_INDEXED, [c], ([n, *bls, *displs], [], []),
             ([], [], [n, *bls, *displs]))


def hindexed(bls, displs, c):
    d = [x + j * c.extent for b, x in zip(bls, displs) for j in range(b)]
    n = len(bls)
    return T(*_copies(c, d), lib.MPIC_COMBINER_HINDEXED, [c], ([n, *bls], list(displs), []),
             ([], [], [n, *bls, *displs]))


def indexed_block(bl, displs, c):
    d = [(x + j) * c.extent for x in displs for j in range(bl)]
    n = len(displs)
    return T(*_copies(c, d), lib.MPIC_COMBINER_INDEXED_BLOCK, [c], ([n, bl, *displs], [], []),
             ([], [], [n, bl, *displs]))


def hindexed_block(bl, displs, c):
    d = [x + j * c.extent for x in displs for j in range(bl)]
    n = len(displs)
    return T(*_copies(c, d), lib.MPIC_COMBINER_HINDEXED_BLOCK, [c], ([n, bl], list(displs), []),
             ([], [], [n, bl, *displs]))


def struct(bls, displs, children):
    runs, lbs, ubs = [], [], []
    for b, x, c in zip(bls, displs, children):
        r, lb, ext = _copies(c, [x + j * c.extent for j in range(b)])
        runs += r
        lbs.append(lb)
        ubs.append(lb + ext)
    n = len(bls)
    return T(runs, min(lbs), max(ubs) - min(lbs), lib.MPIC_COMBINER_STRUCT, children,
             ([n, *bls], list(displs), []), ([], [], [n, *bls, *displs]))


def subarray(sizes, subsizes, starts, order, c):
    nd = len(sizes)
    ranges = [range(s, s + n) for s, n in zip(starts, subsizes)]
    dims = list(range(nd)) if order == ORDER_C else list(range(nd))[::-1]
    d = []
    for idx in itertools.product(*[ranges[k] for k in dims]):
        full = dict(zip(dims, idx))
        lin = 0
        for k in (range(nd) if order == ORDER_C else reversed(range(nd))):
            lin = lin * sizes[k] + full[k]
        d.append(lin * c.extent)
    runs = [(x + o, n) for x in d for o, n in c.runs]
    total = c.extent
    for s in sizes:
        total *= s
    return T(runs, c.lb, total, lib.MPIC_COMBINER_SUBARRAY, [c],
             ([nd, *sizes, *subsizes, *starts, order], [], []),
             ([nd, order], [], [*sizes, *subsizes, *starts]))


def resized(lb, extent, c):
    return T(c.runs, lb, extent, lib.MPIC_COMBINER_RESIZED, [c], ([], [lb, extent], []),
             ([], [], [lb, extent]))


def dup(c):
    return T(c.runs, c.lb, c.extent, lib.MPIC_COMBINER_DUP, [c], ([], [], []), ([], [], []))


def from_spec(spec):
    """Build a tests/support/typespec.py shape as a reference type."""
    kind, args = spec[0], spec[1:]
    if kind == "named":
        from . import typespec
        return named(typespec.DENSE[args[0]])
    *params, child = args
    if kind == "struct2":
        gap, c, other = args
        c, o = from_spec(c), from_spec(other)
        return struct([1, 1], [0, c.extent + gap], [c, o])
    c = from_spec(child)
    if kind == "contig":
        return contiguous(*params, c)
    if kind == "vector":
        return vector(*params, c)
    if kind == "hvector":
        return hvector(*params, c)
    if kind == "indexed":
        return indexed(*params, c)
    if kind == "hindexed":
        return hindexed(*params, c)
    if kind == "iblock":
        return indexed_block(*params, c)
    if kind == "hiblock":
        return hindexed_block(*params, c)
    if kind == "subarray":
        sizes, subs, starts, c_order = params
        return subarray(sizes, subs, starts, ORDER_C if c_order else ORDER_F, c)
    if kind == "resized":
        lb, extra = params
        return resized(lb, c.extent + extra, c)
    if kind == "dup":
        return dup(c)
    if kind == "struct":
        bl, displ = params
        return struct([bl], [displ], [c])
    raise ValueError(f"unknown spec kind {kind!r}")
