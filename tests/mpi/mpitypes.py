"""Hypothesis strategies for random nested mpi4py datatypes (built for real by the MPI)."""
from hypothesis import strategies as st
from mpi4py import MPI

BASES = [MPI.BYTE, MPI.SHORT, MPI.INT, MPI.FLOAT, MPI.DOUBLE, MPI.LONG_LONG,
         MPI.C_DOUBLE_COMPLEX, MPI.DOUBLE_INT, MPI.SHORT_INT]


@st.composite
def wrap(draw, child):
    c = draw(child)
    small = st.integers(1, 4)
    kind = draw(st.sampled_from(["contig", "vector", "hvector", "indexed", "hindexed",
                                 "iblock", "hiblock", "subarray", "resized", "dup", "struct",
                                 "struct2"]))
    if kind == "contig":
        return c.Create_contiguous(draw(small))
    if kind == "vector":
        return c.Create_vector(draw(small), draw(small), draw(st.integers(-6, 6)))
    if kind == "hvector":
        return c.Create_hvector(draw(small), draw(small), draw(st.integers(-96, 96)))
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
            return c.Create_indexed(bls, displs)
        return c.Create_hindexed(bls, [x * 8 for x in displs])
    if kind == "iblock":
        return c.Create_indexed_block(draw(small), displs)
    if kind == "hiblock":
        return c.Create_hindexed_block(draw(small), [x * 4 for x in displs])
    if kind == "subarray":
        nd = draw(st.integers(1, 3))
        sizes = draw(st.lists(st.integers(1, 5), min_size=nd, max_size=nd))
        subs = [draw(st.integers(1, s)) for s in sizes]
        starts = [draw(st.integers(0, s - b)) for s, b in zip(sizes, subs)]
        order = draw(st.sampled_from([MPI.ORDER_C, MPI.ORDER_FORTRAN]))
        return c.Create_subarray(sizes, subs, starts, order=order)
    if kind == "resized":
        lb, ext = c.Get_extent()
        return c.Create_resized(draw(st.integers(-16, 16)), ext + draw(st.integers(0, 24)))
    if kind == "dup":
        return c.Dup()
    if kind == "struct":
        return MPI.Datatype.Create_struct([draw(small)], [draw(st.integers(-32, 32))], [c])
    other = draw(st.sampled_from([c, MPI.INT, MPI.DOUBLE]))
    gap = draw(st.integers(0, 64))
    return MPI.Datatype.Create_struct([1, 1], [0, c.Get_extent()[1] + gap], [c, other])


datatypes = st.recursive(st.sampled_from(BASES), wrap, max_leaves=4)


def show(dt):
    """Readable constructor expression of an mpi4py datatype, for failure messages."""
    if dt.is_predefined:
        return dt.Get_name() or repr(dt)
    base, combiner, params = dt.decode()
    args = ", ".join(f"{k}={show(v) if isinstance(v, MPI.Datatype) else v}"
                     for k, v in params.items() if k not in ("datatype",))
    inner = show(base) if isinstance(base, MPI.Datatype) else ""
    return f"{combiner}({inner}; {args})"
