"""Which allreduce algorithm to use for a message size, chosen by measuring them.

MPICOMM_ALLREDUCE=auto (the default) tunes per communicator and per size class (the
message's bytes rounded up to a power of two): the first calls of a class take
turns over the candidates (the MPI's own Allreduce, ring, rd, rsag; each call is a
real reduction, done once), ROUNDS times each (SMALL_ROUNDS up to 64 KiB, whose
single timings are noisier); then the ranks agree, with one small
allreduce of their timings (the slowest rank's time counts, best of its rounds) on
the algorithm that serves that class from then on: the fastest of ours if it beats
the MPI's own by more than 10% (MARGIN), else the MPI's.
MPICOMM_ALLREDUCE=mpi|ring|rd|rsag forces one.

    >>> from mpicomm.collectives import tuning
    >>> tuning.table(comm)       # {size class in bytes: chosen algorithm}
"""
import os
import time

import numpy as np
from mpi4py import MPI

from mpicomm.collectives.algorithms import ALGORITHMS

__all__ = ["allreduce", "algorithm_setting", "table", "rounds", "size_class", "settled"]

CANDIDATES = ("mpi", "ring", "rd", "rsag")          # the MPI's own first
ROUNDS = 5                  # trials of each candidate per size class ...
SMALL_ROUNDS, SMALL = 15, 64 << 10   # ... and for classes up to 64 KiB (cheap, noisy)
MARGIN = 1.10


def algorithm_setting():
    """MPICOMM_ALLREDUCE, validated: "auto" (default) or one of CANDIDATES."""
    raw = os.environ.get("MPICOMM_ALLREDUCE") or "auto"
    if raw != "auto" and raw not in CANDIDATES:
        raise ValueError(f"MPICOMM_ALLREDUCE={raw!r}: expected auto, {', '.join(CANDIDATES)}")
    return raw


class Tuner:
    """One communicator's private duplicate and its measurements per size class: the
    candidates take turns, rounds_of(size class) trials each, and the ranks agree on the
    fastest (the slowest rank's best time); the first candidate keeps the class unless
    another is faster by margin. The allreduce's algorithms here; SharedAllreduce's two
    ways (collectives/shared.py) too."""

    def __init__(self, comm, candidates=CANDIDATES, rounds_of=None, margin=MARGIN):
        self.user = comm                   # kept, so its id() is not reused
        self.comm = comm.Dup()
        self.candidates = tuple(candidates)
        self.rounds_of = rounds_of or rounds
        self.margin = margin
        self.trials = {}                   # size class -> {candidate: [seconds]}
        self.chosen = {}                   # size class -> candidate

    def next(self, size_class):
        """(candidate, whether this call is a trial) for a call of size_class."""
        if size_class in self.chosen:
            return self.chosen[size_class], False
        trials = self.trials.setdefault(size_class, {a: [] for a in self.candidates})
        done = sum(len(t) for t in trials.values())
        return self.candidates[done % len(self.candidates)], True

    def record(self, size_class, candidate, seconds):
        """A trial's time; the class is settled, collectively, after its last trial."""
        trials = self.trials[size_class]
        trials[candidate].append(seconds)
        if sum(len(t) for t in trials.values()) < \
                self.rounds_of(size_class) * len(self.candidates):
            return
        best = np.array([min(trials[a]) for a in self.candidates])
        self.comm.Allreduce(MPI.IN_PLACE, best, op=MPI.MAX)     # every rank agrees
        other = 1 + int(np.argmin(best[1:]))
        # The first keeps the class unless another is clearly faster.
        self.chosen[size_class] = (self.candidates[other] if best[other] * self.margin < best[0]
                                   else self.candidates[0])
        del self.trials[size_class]


_tuners = {}


def _tuner(comm):
    t = _tuners.get(id(comm))
    if t is None:
        t = _tuners[id(comm)] = Tuner(comm)
    return t


def rounds(size_class):
    """Trials of each candidate before a size class is settled."""
    return SMALL_ROUNDS if size_class <= SMALL else ROUNDS


def size_class(nbytes):
    return 1 << max(0, int(nbytes - 1).bit_length())


def allreduce(comm, buf, op):
    """Reduce the contiguous 1-D buf in place over comm with the algorithm for its size
    (op: "sum", "min" or "max"); returns the algorithm's name."""
    setting = algorithm_setting()
    if comm.Get_size() == 1:
        return "mpi"
    if setting != "auto":
        if setting == "mpi":
            ALGORITHMS["mpi"](comm, buf, op)
        else:
            ALGORITHMS[setting](_tuner(comm).comm, buf, op)
        return setting
    tuner = _tuner(comm)
    cls = size_class(buf.nbytes)
    name, trial = tuner.next(cls)
    target = comm if name == "mpi" else tuner.comm
    t = time.perf_counter()
    ALGORITHMS[name](target, buf, op)
    if trial:
        tuner.record(cls, name, time.perf_counter() - t)
    return name


def settled(comm, nbytes):
    """Whether an allreduce of nbytes on comm is past its trials (its size class
    chosen, or nothing to choose)."""
    if comm.Get_size() == 1 or algorithm_setting() != "auto":
        return True
    t = _tuners.get(id(comm))
    return t is not None and size_class(nbytes) in t.chosen


def table(comm=None):
    """{size class (bytes): algorithm} chosen so far on comm (default COMM_WORLD)."""
    t = _tuners.get(id(comm or MPI.COMM_WORLD))
    return dict(sorted(t.chosen.items())) if t else {}
