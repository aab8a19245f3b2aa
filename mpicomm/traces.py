"""Straggler traces: per-worker, per-round times, stored as HDF5.

`mpicomm.collectives.PartialAllreduce` records them from a real job and the
coding simulator replays them. One file holds one trace::

    delays    float64 [workers, rounds]   seconds each worker took in each round
                                          (inf: never answered, e.g. a dead rank)
    attrs     mpicomm_trace (format), kind, created, host, mpicomm_version, plus
              whatever the writer adds (the MPI library, the deadline, ...)
    other datasets of the same shape may ride along (arrival, included, ...)

    >>> from mpicomm import traces
    >>> traces.write("run.h5", delays, kind="measured", source="allreduce_partial")
    >>> t = traces.read("run.h5"); t.delays.shape, t.attrs["kind"]
"""
from pathlib import Path

import numpy as np

from mpicomm import h5files

__all__ = ["Trace", "TraceError", "read", "write"]

FORMAT = 1


class TraceError(ValueError):
    """A file that is not a usable mpicomm trace."""


class Trace:
    """delays (workers x rounds), attrs (dict) and any extra datasets (dict)."""

    def __init__(self, delays, attrs=None, extra=None):
        self.delays = np.asarray(delays, dtype=np.float64)
        self.attrs = dict(attrs or {})
        self.extra = dict(extra or {})

    @property
    def workers(self):
        return self.delays.shape[0]

    @property
    def rounds(self):
        return self.delays.shape[1]

    def __repr__(self):
        return (f"Trace({self.workers} workers x {self.rounds} rounds, "
                f"kind={self.attrs.get('kind', '?')!r})")


def _check_delays(delays, name="delays"):
    d = np.asarray(delays, dtype=np.float64)
    if d.ndim != 2 or 0 in d.shape:
        raise TraceError(f"{name} must be a non-empty 2-D array (workers x rounds), "
                         f"got shape {d.shape}")
    if np.isnan(d).any() or (d < 0).any():
        raise TraceError(f"{name} must hold times >= 0 (inf for never): found NaN or negatives")
    return d


def write(path, delays, extra=None, kind="measured", **attrs):
    """Write a trace; refuses to replace a file that is not an mpicomm trace. The file
    is written beside its target and moved in place only when complete."""
    path = Path(path)
    d = _check_delays(delays)
    extra = {k: np.asarray(v) for k, v in (extra or {}).items()}
    for name, v in extra.items():
        if v.shape != d.shape:
            raise TraceError(f"dataset {name} has shape {v.shape}, delays {d.shape}")
    if path.exists():
        read(path)                     # raises TraceError for a file that is not a trace
    with h5files.replaced(path, "mpicomm_trace", FORMAT) as f:
        f["delays"] = d
        for name, v in extra.items():
            f[name] = v
        f.attrs["kind"] = kind
        for k, v in attrs.items():
            f.attrs[k] = v
    return path


def read(path):
    """The Trace in path; TraceError naming what is wrong otherwise."""
    import h5py
    path = Path(path)
    f, attrs = h5files.open_marked(path, "mpicomm_trace", "trace", TraceError)
    with f:
        if "delays" not in f:
            raise TraceError(f"{path}: dataset delays is missing")
        delays = _check_delays(f["delays"][()], f"{path}: delays")
        extra = {k: f[k][()] for k in f if k != "delays" and isinstance(f[k], h5py.Dataset)}
    return Trace(delays, attrs, extra)
