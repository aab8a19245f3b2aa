"""Random nested datatype shapes, as plain tuples, for every test suite.

One grammar, two sources of choices: hypothesis (`specs()`, for property tests
that run independently on each rank) and a seeded random.Random (`sample()`,
for communication tests, where every rank must build the same types in
lockstep). The same spec is built as a reference-model type
(tests/reference.py) or as a real mpi4py type (tests/mpi/mpitypes.py).

    ("named", name)                         a predefined type
    ("contig", n, child)      ("vector", n, blocklength, stride, child)
    ("hvector", n, blocklength, byte_stride, child)
    ("indexed", blocklengths, displs, child)        ("hindexed", ..., byte_displs, child)
    ("iblock", blocklength, displs, child)          ("hiblock", ..., byte_displs, child)
    ("subarray", sizes, subsizes, starts, c_order, child)
    ("resized", lb, extra_extent, child)            ("dup", child)
    ("struct", blocklength, byte_displ, child)      one member
    ("struct2", gap, child, other)                  child, then other gap bytes past child's extent
"""
import random

from hypothesis import strategies as st

# name -> size; the holes ones exist only where an MPI builds the types
DENSE = {"BYTE": 1, "SHORT": 2, "INT": 4, "DOUBLE": 8, "C_DOUBLE_COMPLEX": 16}
WITH_HOLES = ["DOUBLE_INT", "SHORT_INT"]
KINDS = ["contig", "vector", "hvector", "indexed", "hindexed", "iblock", "hiblock",
         "subarray", "resized", "dup", "struct", "struct2"]


class _Hypothesis:
    def __init__(self, draw):
        self.draw = draw

    def int(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def pick(self, options):
        return self.draw(st.sampled_from(options))


class _Random:
    def __init__(self, rng):
        self.rng = rng

    def int(self, lo, hi):
        return self.rng.randint(lo, hi)

    def pick(self, options):
        return self.rng.choice(options)


def _wrap(d, c):
    """One constructor around child spec c, choices from drawer d."""
    small = lambda: d.int(1, 4)                                   # noqa: E731
    kind = d.pick(KINDS)
    if kind == "contig":
        return ("contig", small(), c)
    if kind == "vector":
        return ("vector", small(), small(), d.int(-6, 6), c)
    if kind == "hvector":
        return ("hvector", small(), small(), d.int(-96, 96), c)
    if kind in ("indexed", "hindexed", "iblock", "hiblock"):
        n = small()
        if d.int(0, 1):
            first, step = d.int(-4, 4), d.int(-6, 6)
            displs, bls = [first + i * step for i in range(n)], [small()] * n
        else:
            displs = [d.int(-8, 8) for _ in range(n)]
            bls = [d.int(0, 3) for _ in range(n)]
            bls[0] = bls[0] or 1
        if kind == "indexed":
            return ("indexed", bls, displs, c)
        if kind == "hindexed":
            return ("hindexed", bls, [x * 8 for x in displs], c)
        if kind == "iblock":
            return ("iblock", small(), displs, c)
        return ("hiblock", small(), [x * 4 for x in displs], c)
    if kind == "subarray":
        nd = d.int(1, 3)
        sizes = [d.int(1, 5) for _ in range(nd)]
        subs = [d.int(1, s) for s in sizes]
        starts = [d.int(0, s - b) for s, b in zip(sizes, subs)]
        return ("subarray", sizes, subs, starts, bool(d.int(0, 1)), c)
    if kind == "resized":
        return ("resized", d.int(-16, 16), d.int(0, 24), c)
    if kind == "dup":
        return ("dup", c)
    if kind == "struct":
        return ("struct", small(), d.int(-32, 32), c)
    other = d.pick([c, ("named", "INT"), ("named", "DOUBLE")])
    return ("struct2", d.int(0, 64), c, other)


def _build(d, names, max_depth):
    spec = ("named", d.pick(names))
    for _ in range(d.int(0, max_depth)):
        spec = _wrap(d, spec)
    return spec


def _names(holes):
    return list(DENSE) + (WITH_HOLES if holes else [])


def specs(holes=False, max_depth=3):
    """Hypothesis strategy of specs."""
    return st.composite(lambda draw: _build(_Hypothesis(draw), _names(holes), max_depth))()


def sample(seed, n, holes=False, max_depth=3):
    """n specs from a seeded generator: the same list on every rank."""
    rng = random.Random(seed)
    return [_build(_Random(rng), _names(holes), max_depth) for _ in range(n)]
