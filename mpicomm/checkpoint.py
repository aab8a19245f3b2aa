"""Checkpoints of a job's state in one HDF5 file, written by rank 0, restored on all.

    >>> from mpicomm import checkpoint
    >>> ckpt = checkpoint.Checkpoint("run.h5", every=10)          # collective use below
    >>> start, state = ckpt.restore({"w": w, "rng": rng}, mine={"rng": my_rng})
    >>> for step in range(start, steps):
    ...     ...
    ...     ckpt.save_if_due(step + 1, {"w": w, "rng": rng}, mine={"rng": my_rng})

`state` is shared (every rank holds the same values; rank 0's are written) and `mine`
is per rank (gathered to rank 0, written under ranks/<r>, given back to each rank).
Values are numpy arrays, Python or numpy scalars, strings, or numpy Generators (their
bit generator's state is kept, and restored into the Generator passed in, so random
streams go on exactly where they were). restore() writes arrays back into the arrays
passed in, so a job restarted after a crash goes on with bit-identical state.

The file is written beside its target and moved over it only when complete and
flushed, so a crash while saving leaves the previous checkpoint intact; a file at
the path that is not an mpicomm checkpoint is refused, never overwritten.

Layout: attrs mpicomm_checkpoint (format), step, ranks, created, host, mpicomm_version;
groups state/ and ranks/<r>/ with one dataset per array or scalar, a Generator as a
string dataset holding its JSON state (attribute kind = "generator").
"""
import json
from pathlib import Path

import numpy as np
from mpi4py import MPI

from mpicomm import h5files

__all__ = ["Checkpoint", "CheckpointError"]

FORMAT = 1


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used, or state that cannot be checkpointed."""


def _encode(group, name, value):
    if isinstance(value, np.random.Generator):
        group[name] = json.dumps(value.bit_generator.state, default=int)
        group[name].attrs["kind"] = "generator"
    elif isinstance(value, (np.ndarray, np.generic, int, float, bool, str)):
        group[name] = value
        group[name].attrs["kind"] = "array" if isinstance(value, np.ndarray) else "scalar"
    else:
        raise CheckpointError(f"state {name!r} is a {type(value).__name__}; a checkpoint holds "
                              "numpy arrays, scalars, strings and numpy Generators")


def _decode(dataset):
    kind = dataset.attrs.get("kind", "array")
    value = dataset[()]
    if kind == "generator":
        return ("generator", json.loads(value.decode() if isinstance(value, bytes) else value))
    if isinstance(value, bytes):
        return value.decode()
    if kind == "scalar" and isinstance(value, np.generic):
        return value.item() if type(value.item()) in (int, float, bool) else value
    return value


def _restore_into(template, name, value):
    """The value to hand back: arrays copied into the caller's array, Generators reset."""
    old = template.get(name) if template else None
    if isinstance(value, tuple) and value[0] == "generator":
        if isinstance(old, np.random.Generator):
            old.bit_generator.state = value[1]
            return old
        bitgen = getattr(np.random, value[1]["bit_generator"])()
        bitgen.state = value[1]
        return np.random.Generator(bitgen)
    if isinstance(old, np.ndarray) and isinstance(value, np.ndarray):
        if old.shape != value.shape or old.dtype != value.dtype:
            raise CheckpointError(f"state {name!r}: the checkpoint holds {value.dtype}"
                                  f"{list(value.shape)}, the job has {old.dtype}{list(old.shape)}")
        old[...] = value
        return old
    return value


class Checkpoint:
    """One checkpoint file for a job on comm (default COMM_WORLD). save and restore
    are collective; rank 0 does the file work and tells the others."""

    def __init__(self, path, every=1, comm=None):
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive number of steps, got {every!r}")
        self.path = Path(path)
        self.every = every
        self.comm = comm or MPI.COMM_WORLD

    # Saving -----------------------------------------------------------------------------

    def save_if_due(self, step, state, mine=None):
        """save() when step is a multiple of every; whether it saved."""
        if step % self.every:
            return False
        self.save(step, state, mine)
        return True

    def save(self, step, state, mine=None):
        """Write step, the shared state (rank 0's) and every rank's own state (mine)."""
        rank = self.comm.Get_rank()
        everyone = self.comm.gather(mine or {}, root=0)
        error = None
        if rank == 0:
            try:
                self._write(step, state, everyone)
            except Exception as exc:                 # every rank raises, none hangs
                error = f"{type(exc).__name__}: {exc}"
        error = self.comm.bcast(error, root=0)
        if error is not None:
            raise CheckpointError(f"saving {self.path} failed on rank 0: {error}")

    def _write(self, step, state, everyone):
        if self.path.exists():
            self._open().close()       # refuses a file that is not a checkpoint
        with h5files.replaced(self.path, "mpicomm_checkpoint", FORMAT) as f:
            f.attrs["step"] = int(step)
            f.attrs["ranks"] = len(everyone)
            shared = f.create_group("state")
            for name, value in state.items():
                _encode(shared, name, value)
            for r, own in enumerate(everyone):
                group = f.create_group(f"ranks/{r}")
                for name, value in own.items():
                    _encode(group, name, value)

    # Restoring --------------------------------------------------------------------------

    def exists(self):
        return self.comm.bcast(self.path.exists() if self.comm.Get_rank() == 0 else None)

    def restore(self, state=None, mine=None):
        """(step, state) from the checkpoint, or (0, state) unchanged when there is none.
        Arrays are copied into those of state/mine (same shape and dtype, checked) and
        Generators reset in place; returns (step, shared dict, this rank's dict) when
        mine is given."""
        rank, size = self.comm.Get_rank(), self.comm.Get_size()
        loaded, error = None, None
        if rank == 0 and self.path.exists():
            try:
                loaded = self._read(size)
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
        error = self.comm.bcast(error, root=0)
        if error is not None:
            raise CheckpointError(f"restoring {self.path} failed on rank 0: {error}")
        head = self.comm.bcast(None if loaded is None else (loaded[0], loaded[1]), root=0)
        own = self.comm.scatter(None if loaded is None else loaded[2], root=0)
        if head is None:
            return (0, state, mine) if mine is not None else (0, state)
        step, shared = head
        shared = {k: _restore_into(state, k, v) for k, v in shared.items()}
        if mine is None:
            return step, shared
        return step, shared, {k: _restore_into(mine, k, v) for k, v in own.items()}

    def _open(self):
        return h5files.open_marked(self.path, "mpicomm_checkpoint", "checkpoint",
                                   CheckpointError)[0]

    def _read(self, size):
        with self._open() as f:
            ranks = int(f.attrs["ranks"])
            per_rank = [{k: _decode(d) for k, d in f[f"ranks/{r}"].items()}
                        for r in range(ranks)]
            if any(per_rank) and ranks != size:
                raise CheckpointError(f"{self.path} holds per-rank state of {ranks} ranks; "
                                      f"this job has {size}")
            if not any(per_rank):
                per_rank = [{} for _ in range(size)]
            shared = {k: _decode(d) for k, d in f["state"].items()}
            return int(f.attrs["step"]), shared, per_rank
