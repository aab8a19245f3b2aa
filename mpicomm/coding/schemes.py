"""The coding schemes: what each worker computes in each round, and how the master
gets every job's full gradient back.

    none     uncoded: worker i computes part i of job r in round r; every worker needed
    gc       (n, s) gradient code per job (gc.py): any n - s workers decode job r in round r
    sr-sgc   (n, B, W, lambda): gc with s = ceil(B lambda / (W - 1 + B)) per job, and a
             worker whose task for job t was missing while job t could not be decoded
             (only as many as needed) repeats it in round t + B; T = B; B | (W - 1)
    m-sgc    (n, B, W, lambda): job t is cut into a repetition part, n(W-1) uncoded
             chunks (worker i's chunk k in round t + k, k < W - 1), and B groups coded
             with an (n, lambda) gradient code (group g in round t + W - 1 + g); a worker
             with chunks of job t still missing repeats one instead of its coded task
             (adaptive multiplexing). T = W - 2 + B; 1 <= B < W. lambda = n: no coded
             part, the last B slots only repeat.

A job's data is cut into parts of the sizes `scheme.parts` gives (fractions summing to
one); a task is a list of (part, coefficient) and its result is the coefficients' sum
of those parts' gradients. `Master` keeps the scheme's state over rounds:

    >>> m = scheme("m-sgc", n=8, B=1, W=3, lam=2).master(jobs=100)
    >>> tasks = m.assign(r)              # per worker: [(job, key, [(part, coef), ...])]
    >>> m.deliver(r, workers)            # whose round-r results came in time
    >>> m.decodable(job); m.weights(job) # {(worker, round, key): weight}

so that the full gradient of the job is sum(weight * result of that task).
"""
import functools
import math

import numpy as np

from mpicomm.coding.gc import GradientCode

__all__ = ["scheme", "Scheme", "NAMES"]

NAMES = ("none", "gc", "sr-sgc", "m-sgc")


def _positive(name, value, low=1):
    if not (isinstance(value, (int, np.integer)) and value >= low):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def scheme(name, n, s=None, B=None, W=None, lam=None, seed=0):
    """The scheme `name` for n workers: none (n), gc (n, s), sr-sgc and m-sgc (n, B, W, lam)."""
    n = _positive("n", n)
    if name == "none":
        return NoCoding(n)
    if name == "gc":
        if s is None:
            raise ValueError("gc needs s (the stragglers it tolerates)")
        return GC(n, s, seed)
    if name in ("sr-sgc", "m-sgc"):
        if None in (B, W, lam):
            raise ValueError(f"{name} needs B, W and lam")
        return (SRSGC if name == "sr-sgc" else MSGC)(n, B, W, lam, seed)
    raise ValueError(f"unknown scheme {name!r}; expected one of {', '.join(NAMES)}")


class Scheme:
    name = ""
    T = 0

    @functools.cached_property
    def code(self):
        """gc and sr-sgc: the (n, s) gradient code (built when first needed; the
        simulator does not need it)."""
        return GradientCode(self.n, self.s, seed=self.seed)

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"scheme({self.name!r}, {args})"

    def master(self, jobs):
        return _MASTERS[type(self)](self, jobs)


class NoCoding(Scheme):
    name = "none"

    def __init__(self, n):
        self.n = n
        self.params = {"n": n}
        self.load = 1.0 / n
        self.parts = np.full(n, 1.0 / n)


class GC(Scheme):
    name = "gc"

    def __init__(self, n, s, seed=0):
        if not (isinstance(s, (int, np.integer)) and 0 <= s < n):
            raise ValueError(f"gc needs 0 <= s < n (stragglers tolerated fewer than the "
                             f"workers), got n={n}, s={s!r}")
        self.seed = seed
        self.n, self.s = n, int(s)
        self.params = {"n": n, "s": self.s}
        self.load = (self.s + 1) / n
        self.parts = np.full(n, 1.0 / n)


class _Sequential(Scheme):
    """sr-sgc and m-sgc: (n, B, W, lam) of the bursty model, checked and kept."""

    def _keep(self, n, B, W, lam, seed):
        B, W, lam = _positive("B", B), _positive("W", W, 2), _positive("lam", lam)
        if lam > n:
            raise ValueError(f"{self.name} needs lam <= n, got lam={lam}, n={n}")
        self.n, self.B, self.W, self.lam, self.seed = n, B, W, lam, seed
        self.params = {"n": n, "B": B, "W": W, "lam": lam}


class SRSGC(_Sequential):
    name = "sr-sgc"

    def __init__(self, n, B, W, lam, seed=0):
        self._keep(n, B, W, lam, seed)
        B, W, lam = self.B, self.W, self.lam
        if (W - 1) % B:
            raise ValueError(f"sr-sgc needs B | (W-1), got B={B}, W={W}")
        self.s = math.ceil(B * lam / (W - 1 + B))
        if self.s >= n:
            raise ValueError(f"sr-sgc needs s = ceil(B lam / (W-1+B)) < n, got s={self.s}")
        self.T = B
        self.load = (self.s + 1) / n
        self.parts = np.full(n, 1.0 / n)


class MSGC(_Sequential):
    name = "m-sgc"

    def __init__(self, n, B, W, lam, seed=0):
        self._keep(n, B, W, lam, seed)
        B, W, lam = self.B, self.W, self.lam
        if not B < W:
            raise ValueError(f"m-sgc needs 1 <= B < W, got B={B}, W={W}")
        self.T = W - 2 + B
        self.slots = W - 1 + B
        if lam == n:                               # repetition only
            self.x = 1.0
            self.load = (W - 1 + B) / (n * (W - 1))
            chunk, piece = 1.0 / (n * (W - 1)), 0.0
        else:
            self.x = (lam + 1) * (W - 1) / (B + (W - 1) * (lam + 1))
            self.load = (lam + 1) * (W - 1 + B) / (n * (B + (W - 1) * (lam + 1)))
            chunk = self.x / (n * (W - 1))
            piece = (1.0 - self.x) / (B * n)
        # parts: chunk (i, k) is part i*(W-1) + k; then group g's n pieces.
        self.groups = 0 if lam == n else B
        self.parts = np.concatenate([np.full(n * (W - 1), chunk),
                                     np.full(n * self.groups, piece)])

    @functools.cached_property
    def codes(self):
        """The (n, lam) gradient code of each coded group (built when first needed)."""
        return [GradientCode(self.n, self.lam, seed=self.seed + g) for g in range(self.groups)]

    def chunk(self, worker, k):
        return worker * (self.W - 1) + k

    def piece(self, group, j):
        return self.n * (self.W - 1) + group * self.n + j


# The master's side: assignments, deliveries, decoding --------------------------------------

class _Master:
    """State over rounds for one scheme and `jobs` jobs (rounds 0 .. jobs + T - 1)."""

    def __init__(self, sch, jobs):
        self.scheme, self.n, self.jobs = sch, sch.n, _positive("jobs", jobs)
        self.rounds = jobs + sch.T
        self._assigned = {}                 # round -> per worker tasks
        self._got = {}                      # job -> {(worker, round, key)} delivered

    def deliver(self, r, workers):
        """The workers whose round-r results arrived in time (a wait-out: all of them)."""
        for w in sorted(set(workers)):
            for job, key, _ in self._assigned[r][w]:
                self._got.setdefault(job, set()).add((w, r, key))
        self._after_delivery(r, set(workers))

    def _after_delivery(self, r, workers):
        pass

    def received(self, job):
        return self._got.get(job, set())


class _NoMaster(_Master):
    def assign(self, r):
        out = [[(r, 0, [(w, 1.0)])] if r < self.jobs else [] for w in range(self.n)]
        self._assigned[r] = out
        return out

    def decodable(self, job):
        return len(self.received(job)) == self.n

    def weights(self, job):
        if not self.decodable(job):
            raise ValueError(f"job {job} is not decodable")
        return {k: 1.0 for k in self.received(job)}


class _GCMaster(_Master):
    """gc and sr-sgc: worker i's task for a job is row i of the code."""

    def _row(self, w):
        code = self.scheme.code
        return [(int(j), float(code.B[w, j])) for j in code.support[w]]

    def assign(self, r):
        out = [[(r, 0, self._row(w))] if r < self.jobs else [] for w in range(self.n)]
        self._assigned[r] = out
        return out

    def _responders(self, job):
        return sorted({w for w, _, _ in self.received(job)})

    def decodable(self, job):
        return len(self._responders(job)) >= self.n - self.scheme.s

    def weights(self, job):
        responders = self._responders(job)
        a = self.scheme.code.decoding_vector(responders)
        out, seen = {}, set()
        for w, r, key in sorted(self.received(job)):
            if w not in seen:                      # one result per worker is enough
                seen.add(w)
                out[(w, r, key)] = float(a[w])
        return out


class _SRMaster(_GCMaster):
    def assign(self, r):
        sch = self.scheme
        out = [[(r, 0, self._row(w))] if r < self.jobs else [] for w in range(self.n)]
        t = r - sch.B
        if 0 <= t < self.jobs:
            missing = [w for w in range(self.n) if w not in set(self._responders(t))]
            # Only as many repeat as the job needs; they drop their own task for job r.
            for w in missing[:max(0, len(missing) - sch.s)]:
                out[w] = [(t, 1, self._row(w))]
        self._assigned[r] = out
        return out

    def repeating(self, r):
        """Workers that repeat an older job's task in round r (after assign(r))."""
        return [w for w, tasks in enumerate(self._assigned[r]) if tasks and tasks[0][0] != r]


class _MMaster(_Master):
    def __init__(self, sch, jobs):
        super().__init__(sch, jobs)
        self._chunks = {}                   # (job, worker) -> set of delivered chunk k

    def assign(self, r):
        sch = self.scheme
        out = [[] for _ in range(self.n)]
        for m in range(sch.slots):
            t = r - m
            if not 0 <= t < self.jobs:
                continue
            for w in range(self.n):
                have = self._chunks.get((t, w), set())
                if m < sch.W - 1:
                    out[w].append((t, ("chunk", m), [(sch.chunk(w, m), 1.0)]))
                elif len(have) < sch.W - 1:
                    k = min(set(range(sch.W - 1)) - have - self._pending(out[w], t))
                    out[w].append((t, ("chunk", k), [(sch.chunk(w, k), 1.0)]))
                elif sch.codes:
                    g = m - (sch.W - 1)
                    code = sch.codes[g]
                    row = [(sch.piece(g, int(j)), float(code.B[w, j])) for j in code.support[w]]
                    out[w].append((t, ("group", g), row))
        self._assigned[r] = out
        return out

    @staticmethod
    def _pending(tasks, t):
        return {key[1] for job, key, _ in tasks if job == t and key[0] == "chunk"}

    def _after_delivery(self, r, workers):
        for w in workers:
            for job, key, _ in self._assigned[r][w]:
                if key[0] == "chunk":
                    self._chunks.setdefault((job, w), set()).add(key[1])

    def _group_responders(self, job, g):
        return sorted({w for w, _, key in self.received(job) if key == ("group", g)})

    def decodable(self, job):
        sch = self.scheme
        if any(len(self._chunks.get((job, w), ())) < sch.W - 1 for w in range(self.n)):
            return False
        return all(len(self._group_responders(job, g)) >= self.n - sch.lam
                   for g in range(len(sch.codes)))

    def weights(self, job):
        if not self.decodable(job):
            raise ValueError(f"job {job} is not decodable")
        out, seen = {}, set()
        for w, r, key in sorted(self.received(job)):
            if key[0] == "chunk" and (w, key) not in seen:
                seen.add((w, key))
                out[(w, r, key)] = 1.0
        for g, code in enumerate(self.scheme.codes):
            responders = self._group_responders(job, g)
            a = code.decoding_vector(responders)
            for w, r, key in sorted(self.received(job)):
                if key == ("group", g) and (w, key) not in seen:
                    seen.add((w, key))
                    out[(w, r, key)] = float(a[w])
        return out


_MASTERS = {NoCoding: _NoMaster, GC: _GCMaster, SRSGC: _SRMaster, MSGC: _MMaster}
