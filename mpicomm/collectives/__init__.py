"""Collectives for gradient aggregation, on mpi4py.

    >>> from mpicomm.collectives import allreduce_fused, iallreduce_fused, allreduce_partial
    >>> allreduce_fused(grads, op="average")          # many arrays, few MPI calls
    >>> h = iallreduce_fused(grads); compute(); h.wait()
    >>> res = allreduce_partial(grads, deadline_s=0.05, min_ranks=n - 1)   # stragglers left out

fused.py       tensor fusion: arrays grouped into few buffers
plans.py       those buffers, kept across steps, and the native copies in and out
agreement.py   every rank's layout checked in the first buffer's header
progress.py    the thread that progresses nonblocking reductions
algorithms.py  ring, recursive doubling and Rabenseifner allreduce over mpi4py
tuning.py      per size, the MPI's Allreduce or one of those, chosen by measuring
partial.py     deadline-aware aggregation (k of n) along a tree, and its straggler trace
shared.py      allreduce of arrays kept in node-shared memory (mpicomm.torch's buckets)
"""
from mpicomm.collectives.fused import FusedRequest, allreduce_fused, fusion_bytes, iallreduce_fused
from mpicomm.collectives.partial import PartialAllreduce, PartialResult, allreduce_partial
from mpicomm.collectives.shared import SharedAllreduce

__all__ = ["allreduce_fused", "iallreduce_fused", "FusedRequest", "fusion_bytes",
           "allreduce_partial", "PartialAllreduce", "PartialResult", "SharedAllreduce"]
