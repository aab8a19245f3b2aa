"""Random nested datatype shapes, as plain tuples, for both test suites.

The same spec is built as a reference-model type (tests/reference.py, for the
core's unit tests) and as a real mpi4py type (tests/mpi/, under mpiexec).

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
from hypothesis import strategies as st

# name -> size; the holes ones exist only where an MPI builds the types
DENSE = {"BYTE": 1, "SHORT": 2, "INT": 4, "DOUBLE": 8, "C_DOUBLE_COMPLEX": 16}
WITH_HOLES = ["DOUBLE_INT", "SHORT_INT"]


@st.composite
def _wrap(draw, child):
    c = draw(child)
    small = st.integers(1, 4)
    kind = draw(st.sampled_from(["contig", "vector", "hvector", "indexed", "hindexed", "iblock",
                                 "hiblock", "subarray", "resized", "dup", "struct", "struct2"]))
    if kind == "contig":
        return ("contig", draw(small), c)
    if kind == "vector":
        return ("vector", draw(small), draw(small), draw(st.integers(-6, 6)), c)
    if kind == "hvector":
        return ("hvector", draw(small), draw(small), draw(st.integers(-96, 96)), c)
    n = draw(small)
    regular = draw(st.booleans())
    first, step = draw(st.integers(-4, 4)), draw(st.integers(-6, 6))
    displs = [first + i * step for i in range(n)] if regular else \
        draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n))
    if kind in ("indexed", "hindexed"):
        bl = draw(small)
        bls = [bl] * n if regular else draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
        if not any(bls):
            bls[0] = 1
        if kind == "indexed":
            return ("indexed", bls, displs, c)
        return ("hindexed", bls, [x * 8 for x in displs], c)
    if kind == "iblock":
        return ("iblock", draw(small), displs, c)
    if kind == "hiblock":
        return ("hiblock", draw(small), [x * 4 for x in displs], c)
    if kind == "subarray":
        nd = draw(st.integers(1, 3))
        sizes = draw(st.lists(st.integers(1, 5), min_size=nd, max_size=nd))
        subs = [draw(st.integers(1, s)) for s in sizes]
        starts = [draw(st.integers(0, s - b)) for s, b in zip(sizes, subs)]
        return ("subarray", sizes, subs, starts, draw(st.booleans()), c)
    if kind == "resized":
        return ("resized", draw(st.integers(-16, 16)), draw(st.integers(0, 24)), c)
    if kind == "dup":
        return ("dup", c)
    if kind == "struct":
        return ("struct", draw(small), draw(st.integers(-32, 32)), c)
    other = draw(st.sampled_from([c, ("named", "INT"), ("named", "DOUBLE")]))
    return ("struct2", draw(st.integers(0, 64)), c, other)


def specs(holes=False):
    names = list(DENSE) + (WITH_HOLES if holes else [])
    return st.recursive(st.sampled_from([("named", n) for n in names]), _wrap, max_leaves=4)
