"""Generate MPI code for your own program: halo exchanges and array-section datatypes,
in C (a header), Python (mpi4py) or Fortran (a module on mpi_f08). The code depends
on MPI alone, not on mpicomm.

    >>> from mpicomm import codegen
    >>> src = codegen.halo(dims=3, ghost=1, neighbors="faces", dtype="float64", lang="c")
    >>> src = codegen.datatype("64,64,64", ":,:,0:2", dtype="float64", lang="python")

Bad arguments raise CodegenError (a ValueError) naming the problem. The command line is
`mpicomm codegen halo|datatype ... [-o FILE]`.
"""
from mpicomm.codegen import genhalo, gentype
from mpicomm.codegen.gencode import DTYPES, FORTRAN, LANGS, CodegenError

__all__ = ["CodegenError", "DTYPES", "FORTRAN", "LANGS", "datatype", "halo"]


def halo(dims, ghost=1, neighbors="faces", dtype="float64", lang="c", prefix="halo",
         command=None, exchange="isend"):
    """Halo exchange of a dims-D array with ghost cells on every side (see genhalo.py):
    exchange "isend" (Isend/Irecv per neighbour) or "alltoallw" (one
    MPI_Neighbor_alltoallw; faces, C and Python)."""
    return genhalo.emit(dims, ghost, neighbors, dtype, lang, prefix, command, exchange)


def datatype(shape, section, dtype="float64", order="C", lang="c", name="section",
             command=None):
    """The datatype of an array section written as numpy indexes it (see gentype.py)."""
    return gentype.emit(shape, section, dtype, order, lang, name, command)
