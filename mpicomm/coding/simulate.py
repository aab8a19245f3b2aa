"""Simulated runtime of a scheme on a straggler trace, and the parameter search.

Per round r: tau = (1 + mu) * min of the workers' delays; the stragglers are the
workers above tau. If the pattern so far still conforms to the scheme's model
(stragglers.Conformity) the round takes min(tau, max delay); otherwise the master
waits for everyone: the round takes the max delay, counts as a wait-out, and nobody
in it is a straggler for later checks. A run of J jobs lasts J + T rounds (sr-sgc
skips a trailing round whose job is already decoded).

The hot loop is compiled with numba: n = 256 workers x 10,000 rounds takes a few
milliseconds once compiled (the first call of a process compiles it, ~2 s; the
compiled code is cached on disk).
"""
import math

import numpy as np
from numba import njit

from mpicomm.coding import schemes

__all__ = ["simulate", "best_params", "Simulation"]

KINDS = {"none": 0, "gc": 1, "sr-sgc": 2, "m-sgc": 3}


class Simulation:
    """runtime (s), waitouts, durations per round, decode_round per job (-1: never)."""

    def __init__(self, scheme, durations, waitouts, decode_round):
        self.scheme = scheme
        self.durations = durations
        self.waitout_rounds = np.flatnonzero(waitouts)
        self.waitouts = int(waitouts.sum())
        self.runtime = float(durations.sum())
        self.decode_round = decode_round

    def __repr__(self):
        return (f"Simulation({self.scheme!r}, runtime={self.runtime:.3f} s, "
                f"waitouts={self.waitouts}, rounds={self.durations.size})")


@njit(cache=True)
def _conforms(hist, r, strag, W, B, lam, n):
    # at most lam distinct stragglers in rounds r-W+1..r
    distinct = 0
    for w in range(n):
        hit = strag[w]
        q = max(0, r - W + 1)
        while not hit and q < r:
            hit = hist[q % W, w]
            q += 1
        if hit:
            distinct += 1
    if distinct > lam:
        return False
    # no worker straggling now also straggled in rounds r-W+1..r-B
    for w in range(n):
        if strag[w]:
            for q in range(max(0, r - W + 1), max(0, r - B + 1)):
                if hist[q % W, w]:
                    return False
    return True


@njit(cache=True)
def _run(delays, mu, kind, s, B, W, lam, J, T):
    n = delays.shape[0]
    R = J + T
    durations = np.zeros(R)
    waitout = np.zeros(R, np.bool_)
    decode = np.full(J, -1, np.int64)
    Wh = max(W, 1)
    hist = np.zeros((Wh, n), np.bool_)
    contributed = np.zeros((n, R), np.bool_)        # sr-sgc: delivered job r in round r
    count = np.zeros(R, np.int64)                   # sr-sgc: job r's distinct deliveries
    repeat = np.zeros(n, np.bool_)
    strag = np.zeros(n, np.bool_)
    for r in range(R):
        d = delays[:, r]
        # 1. sr-sgc: who repeats the task of job r-B; a trailing round with nothing
        #    left to do is skipped.
        repeat[:] = False
        t = r - B
        if kind == 2 and t >= 0:
            need = (n - s) - count[t]
            for w in range(n):
                if need <= 0:
                    break
                if not contributed[w, t]:
                    repeat[w] = True
                    need -= 1
            if r >= J and count[t] >= n - s:
                for w in range(n):
                    hist[r % Wh, w] = False
                continue
        # 2. The stragglers and whether the pattern still conforms.
        tau = (1.0 + mu) * d.min()
        nstrag = 0
        for w in range(n):
            strag[w] = d[w] > tau
            nstrag += strag[w]
        if kind == 0:
            ok = nstrag == 0
        elif kind == 1:
            ok = nstrag <= s
        else:
            ok = _conforms(hist, r, strag, W, B, lam, n)
        if ok:
            durations[r] = min(tau, d.max())
        else:
            durations[r] = d.max()
            waitout[r] = True
            strag[:] = False
            nstrag = 0
        # 3. Record the round: counted stragglers, deliveries, decoded jobs.
        absorbed = False
        if kind == 2:
            busy_repeating = False
            for w in range(n):
                if repeat[w] and not strag[w]:
                    busy_repeating = True
            absorbed = nstrag <= s and not busy_repeating
        for w in range(n):
            hist[r % Wh, w] = strag[w] and not absorbed
        if kind == 2:
            for w in range(n):
                if strag[w]:
                    continue
                if repeat[w]:
                    count[t] += 1
                elif r < J:
                    contributed[w, r] = True
                    count[r] += 1
            if r < J and count[r] >= n - s:
                decode[r] = r
            if t >= 0 and decode[t] < 0 and count[t] >= n - s:
                decode[t] = r
        elif r - T >= 0 and r - T < J:
            decode[r - T] = r
    return durations, waitout, decode


def _kernel_args(sch):
    return (KINDS[sch.name], getattr(sch, "s", 0), getattr(sch, "B", 1),
            getattr(sch, "W", 1), getattr(sch, "lam", 0))


def simulate(sch, delays, mu=1.0, jobs=None, trace_load=None, fixed_s=0.0):
    """Run sch on delays (workers x rounds); jobs defaults to the rounds the trace allows
    (rounds - T). trace_load: the normalized load the delays were measured at; given,
    delays are rescaled to the scheme's load (stragglers.rescale, fixed_s kept)."""
    from mpicomm.coding.stragglers import rescale
    d = np.ascontiguousarray(delays, dtype=np.float64)
    if d.ndim != 2 or d.shape[0] != sch.n:
        raise ValueError(f"delays must be workers x rounds with {sch.n} workers, got "
                         f"shape {d.shape}")
    if not mu >= 0:
        raise ValueError(f"mu must be >= 0, got {mu!r}")
    jobs = d.shape[1] - sch.T if jobs is None else jobs
    if not 1 <= jobs <= d.shape[1] - sch.T:
        raise ValueError(f"{jobs} jobs of {sch!r} need {jobs + sch.T} rounds; the trace "
                         f"has {d.shape[1]}")
    if trace_load is not None:
        d = rescale(d, trace_load, sch.load, fixed_s)
    durations, waitout, decode = _run(d, float(mu), *_kernel_args(sch), int(jobs), sch.T)
    return Simulation(sch, durations, waitout, decode)


def _candidates(name, n, max_delay, max_w):
    if name == "none":
        yield {}
    elif name == "gc":
        for s in range(n):
            yield {"s": s}
    elif name == "sr-sgc":
        for lam in range(1, n + 1):
            for B in range(1, max_delay + 1):
                for W in range(B + 1, max_w + 1, B):
                    if math.ceil(B * lam / (W - 1 + B)) < n:
                        yield {"B": B, "W": W, "lam": lam}
    elif name == "m-sgc":
        for lam in range(1, n + 1):
            for W in range(2, max_w + 1):
                for B in range(1, W):
                    if W - 2 + B <= max_delay:
                        yield {"B": B, "W": W, "lam": lam}
    else:
        raise ValueError(f"unknown scheme {name!r}")


def best_params(delays, name, mu=1.0, jobs=None, trace_load=None, fixed_s=0.0,
                max_delay=4, max_w=None):
    """The parameters of scheme `name` with the lowest simulated runtime on delays (a
    probe trace), as the paper selects them: s for gc; (B, W, lam) for sr-sgc and
    m-sgc with delay T <= max_delay and W <= max_w (default max_delay + 2). Returns
    (params dict, Simulation)."""
    d = np.asarray(delays, dtype=np.float64)
    n = d.shape[0]
    max_w = max_w or max_delay + 2
    jobs = jobs or d.shape[1] - max_delay
    best = None
    for params in _candidates(name, n, max_delay, max_w):
        sch = schemes.scheme(name, n, **params, seed=0) if name != "none" else \
            schemes.scheme("none", n)
        result = simulate(sch, d, mu=mu, jobs=jobs, trace_load=trace_load, fixed_s=fixed_s)
        if best is None or result.runtime < best[1].runtime:
            best = (params, result)
    return best
