"""mpicomm: an MPI-native HPC library.

- `mpicomm.collectives`: fused allreduce for gradient aggregation.
- `mpicomm.interposer`: switches and counters of the preloaded interposer.
- `mpicomm.datatypes`: canonical strided-block form of MPI datatypes (the interposer's core).
- `mpicomm.build`: builds the LD_PRELOAD interposer for the installed MPI.
- `mpicomm.installation`: which MPI mpi4py will load, and its tools.
- `mpicomm run` / `measure` / `preload-path` / `info`: the command line.
"""
__version__ = "0.1.0"
