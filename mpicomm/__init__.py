"""mpicomm: an MPI-native HPC library.

- `mpicomm.collectives`: fused and deadline-aware (partial) allreduce for gradient aggregation.
- `mpicomm.ft`: surviving failed ranks with ULFM; `mpicomm.traces`: straggler traces (HDF5).
- `mpicomm.interposer`: switches and counters of the preloaded interposer.
- `mpicomm.datatypes`: canonical strided-block form of MPI datatypes (the interposer's core).
- `mpicomm.build`: builds the LD_PRELOAD interposer for the installed MPI.
- `mpicomm.installation`: which MPI mpi4py will load, and its tools.
- `mpicomm run` / `measure` / `preload-path` / `info`: the command line.
"""
__version__ = "0.1.0"
