"""Straggler models and traces.

(B, W, lambda)-bursty model: in every window of W consecutive rounds at most lambda
distinct workers straggle, and within any window of W rounds each worker's straggling
rounds span at most B rounds. Checked online at round r: at most lambda distinct
workers straggle in rounds r-W+1..r, and no worker straggling at r also straggled in
rounds r-W+1..r-B. gc conforms in a round with at most s stragglers, no coding only
with none. sr-sgc does not count a round that gc alone absorbed (at most s stragglers
and nobody repeating an older task), as its authors' evaluation does.

Traces (workers x rounds of seconds):
    markov(n, rounds, ...)       per-worker two-state (fast/slow) Markov chains
    bursty(n, rounds, B, W, lam) a pattern that conforms to the bursty model, as delays
    rescale(delays, from_load, to_load, fixed_s=0)   delay-to-load rescaling
Store them with mpicomm.traces.write / read.
"""
import numpy as np

__all__ = ["Conformity", "markov", "bursty", "rescale"]


class Conformity:
    """The online check for one scheme: conforms(r, stragglers) says whether round r's
    stragglers keep the pattern within the scheme's model; commit() records the round
    (stragglers of a round the master waited out are not recorded)."""

    def __init__(self, sch):
        self.kind = sch.name
        self.s = getattr(sch, "s", 0)
        self.B, self.W, self.lam = (getattr(sch, k, 0) for k in ("B", "W", "lam"))
        self.history = {}                 # round -> frozenset of counted stragglers

    def conforms(self, r, stragglers):
        stragglers = set(stragglers)
        if self.kind == "none":
            return not stragglers
        if self.kind == "gc":
            return len(stragglers) <= self.s
        window = [self.history.get(q, frozenset()) for q in range(max(0, r - self.W + 1), r)]
        if len(set().union(stragglers, *window)) > self.lam:
            return False
        early = [self.history.get(q, frozenset())
                 for q in range(max(0, r - self.W + 1), max(0, r - self.B + 1))]
        return not (stragglers & set().union(*early))

    def commit(self, r, stragglers, absorbed=False):
        """Record round r; absorbed: gc alone handled it (sr-sgc does not count it)."""
        counted = frozenset() if (absorbed and self.kind == "sr-sgc") else frozenset(stragglers)
        self.history[r] = counted
        self.history.pop(r - self.W, None)


def markov(n, rounds, p_slow=0.02, p_recover=0.3, base=1.0, jitter=0.05, slowdown=4.0,
           seed=0):
    """Delays from per-worker two-state Markov chains: a fast worker turns slow with
    probability p_slow per round and a slow one recovers with p_recover (bursts of
    mean length 1/p_recover); fast rounds take base * (1 + jitter * Exp(1)), slow ones
    slowdown times that."""
    if not (0 <= p_slow <= 1 and 0 <= p_recover <= 1):
        raise ValueError("p_slow and p_recover are probabilities in [0, 1]")
    rng = np.random.default_rng(seed)
    slow = np.zeros((n, rounds), bool)
    state = rng.random(n) < p_slow / max(p_slow + p_recover, 1e-12)
    for r in range(rounds):
        flip = rng.random(n)
        state = np.where(state, flip >= p_recover, flip < p_slow)
        slow[:, r] = state
    d = base * (1.0 + jitter * rng.exponential(size=(n, rounds)))
    return np.where(slow, d * slowdown, d)


def bursty(n, rounds, B, W, lam, rate=0.3, base=1.0, jitter=0.05, slowdown=4.0, seed=0):
    """Delays whose stragglers follow the (B, W, lam)-bursty model: bursts of 1..B
    rounds start at random (rate: the chance per round that one may start) on workers
    chosen so that every window of W rounds has at most lam distinct stragglers and
    no worker straggles twice more than B rounds apart within W rounds."""
    rng = np.random.default_rng(seed)
    slow = np.zeros((n, rounds), bool)
    r = 0
    while r < rounds:
        if rng.random() < rate:
            lo = max(0, r - W + 1)
            recent = set(np.flatnonzero(slow[:, lo:r + 1].any(axis=1)))
            room = lam - len(recent)
            if room > 0:
                k = rng.integers(1, room + 1)
                fresh = [w for w in rng.permutation(n)
                         if w not in recent and not slow[w, max(0, r - W + 1):r].any()][:k]
                length = int(rng.integers(1, B + 1))
                for w in fresh:
                    end = min(rounds, r + length)
                    # a burst must not bring another worker's window over lam later on
                    slow[w, r:end] = True
                    if not _window_ok(slow, r, end, W, lam):
                        slow[w, r:end] = False
        r += 1
    d = base * (1.0 + jitter * rng.exponential(size=(n, rounds)))
    return np.where(slow, d * slowdown, d)


def _window_ok(slow, lo, hi, W, lam):
    for q in range(lo, min(slow.shape[1], hi + W)):
        a = max(0, q - W + 1)
        if slow[:, a:q + 1].any(axis=1).sum() > lam:
            return False
    return True


def rescale(delays, from_load, to_load, fixed_s=0.0):
    """Delays measured at one normalized load, as they would be at another: a fixed
    part (fixed_s seconds: start-up, communication) kept, the rest scaled by the loads'
    ratio."""
    if not (from_load > 0 and to_load > 0):
        raise ValueError("loads must be positive")
    d = np.asarray(delays, dtype=np.float64)
    if fixed_s < 0 or (d < fixed_s).any():
        raise ValueError(f"fixed_s={fixed_s} must be between 0 and the smallest delay")
    return fixed_s + (d - fixed_s) * (to_load / from_load)
