"""(n, s) gradient codes (Tandon, Lei, Dimakis, Karampatziakis, ICML 2017).

A code is an n x n matrix B (float64): worker i computes sum_j B[i, j] g_j over the
s+1 parts in the support of row i, and for any set F of at least n - s responders
there is a decoding vector a with a^T B_F = 1^T, so sum_i a_i (B g)_i = sum_j g_j.

    fractional repetition   when (s+1) divides n: n/(s+1) groups of s+1 workers, each
                            group computing the same sum of s+1 parts; decode with one
                            responder per group (coefficient 1, exact)
    cyclic repetition       otherwise: row i supported on parts i..i+s (mod n), every
                            row in the null space of a random s x n matrix H with
                            H 1 = 0, so any n - s rows span that space, which holds 1

Decoding a cyclic code: with a0 any vector with a0^T B = 1^T (over all n rows) and K
a basis of the s-dimensional left null space of B (both from one SVD when the code
is built), every decoding vector is a0 + K z; the one that gives the missing workers
weight zero solves an s x s system (K restricted to the missing rows), whatever n is
(n=256, s=27: about 0.5 ms, most of it the check). The result is checked against
a^T B_F = 1^T (to 1e-9, or to what rounding allows for terms as large as these: a
random cyclic code's decoding vectors reach 1e5 at n=256, so expect relative errors
near 1e-10 there; fractional repetition is exact) and solved by least squares over
all responders if that check fails. Decoding vectors are cached per responder set.
"""
from collections import OrderedDict

import numpy as np

__all__ = ["GradientCode", "DecodeError"]

CACHE = 4096          # decoding vectors kept per code
TOLERANCE = 1e-9      # largest |a^T B_F - 1| accepted from the fast solve


class DecodeError(ValueError):
    """The responders cannot give the full gradient (too few, or a group missing)."""


class GradientCode:
    def __init__(self, n, s, kind=None, seed=0):
        if not (isinstance(n, (int, np.integer)) and n >= 1):
            raise ValueError(f"gc needs n >= 1 workers, got n={n!r}")
        if not (isinstance(s, (int, np.integer)) and 0 <= s < n):
            raise ValueError(f"gc needs 0 <= s < n (stragglers tolerated fewer than the "
                             f"workers), got n={n}, s={s!r}")
        kind = kind or ("fractional" if n % (s + 1) == 0 else "cyclic")
        if kind == "fractional" and n % (s + 1):
            raise ValueError(f"fractional repetition needs (s+1) | n, got n={n}, s={s}")
        if kind not in ("fractional", "cyclic"):
            raise ValueError(f"kind must be 'fractional' or 'cyclic', got {kind!r}")
        self.n, self.s, self.kind = int(n), int(s), kind
        self.B = self._fractional() if kind == "fractional" else self._cyclic(seed)
        self.support = [np.flatnonzero(row) for row in self.B]
        self._cache = OrderedDict()

    # Construction -------------------------------------------------------------------------

    def _fractional(self):
        n, size = self.n, self.s + 1
        B = np.zeros((n, n))
        for g in range(n // size):
            B[g * size:(g + 1) * size, g * size:(g + 1) * size] = 1.0
        return B

    def _cyclic(self, seed):
        n, s = self.n, self.s
        if s == 0:
            return np.eye(n)
        rng = np.random.default_rng(seed)
        H = rng.standard_normal((s, n))
        H[:, -1] = -H[:, :-1].sum(axis=1)                 # H 1 = 0
        B = np.zeros((n, n))
        for i in range(n):
            cols = (i + np.arange(s + 1)) % n
            B[i, cols[0]] = 1.0
            B[i, cols[1:]] = np.linalg.solve(H[:, cols[1:]], -H[:, cols[0]])
        # Decoding data: a0 with a0^T B = 1^T over all rows, and K, a basis of the
        # s-dimensional left null space of B (y^T B = 0).
        u, sv, vt = np.linalg.svd(B)
        rank = n - s
        self._a0 = u[:, :rank] @ ((vt[:rank] @ np.ones(n)) / sv[:rank])
        self._K = u[:, rank:]
        return B

    # Decoding -----------------------------------------------------------------------------

    def decoding_vector(self, responders):
        """a (length n, zero outside the responders) with a^T B = 1^T on the responders'
        rows; DecodeError when they cannot decode."""
        key = np.zeros(self.n, bool)
        idx = np.unique(np.asarray(list(responders), dtype=np.int64))
        if idx.size and (idx[0] < 0 or idx[-1] >= self.n):
            raise ValueError(f"responders must be workers 0..{self.n - 1}, got {idx.tolist()}")
        key[idx] = True
        packed = key.tobytes()
        hit = self._cache.get(packed)
        if hit is not None:
            self._cache.move_to_end(packed)
            return hit
        if idx.size < self.n - self.s:
            raise DecodeError(f"{idx.size} responders cannot decode an (n={self.n}, "
                              f"s={self.s}) gradient code: at least {self.n - self.s} needed")
        a = self._fractional_vector(idx) if self.kind == "fractional" else self._cyclic_vector(idx)
        a.setflags(write=False)
        self._cache[packed] = a
        if len(self._cache) > CACHE:
            self._cache.popitem(last=False)
        return a

    def _fractional_vector(self, idx):
        size = self.s + 1
        a = np.zeros(self.n)
        chosen = {}
        for i in idx:
            chosen.setdefault(i // size, i)
        if len(chosen) < self.n // size:
            raise DecodeError("a whole group of a fractional repetition code is missing")
        a[list(chosen.values())] = 1.0
        return a

    def _cyclic_vector(self, idx):
        n, s = self.n, self.s
        a = np.zeros(n)
        if s == 0:
            a[idx] = 1.0
            return a
        missing = np.setdiff1d(np.arange(n), idx)
        a[:] = self._a0
        if missing.size:
            # Add the null-space combination that zeroes the missing workers' weights:
            # an s x s solve (or smaller), whatever n is.
            K = self._K[missing]
            if missing.size == s:
                try:
                    z = np.linalg.solve(K, -self._a0[missing])
                except np.linalg.LinAlgError:
                    z = np.linalg.lstsq(K, -self._a0[missing], rcond=None)[0]
            else:
                z = np.linalg.lstsq(K, -self._a0[missing], rcond=None)[0]
            a += self._K @ z
            a[missing] = 0.0
        if not self._accurate(a, idx):
            a[:] = 0.0
            a[idx] = np.linalg.lstsq(self.B[idx].T, np.ones(n), rcond=None)[0]
            if not self._accurate(a, idx, slack=1e3):
                raise DecodeError(f"responders {idx.tolist()} do not span the all-ones vector")
        return a

    def _accurate(self, a, idx, slack=1.0):
        """|a^T B_F - 1| within 1e-9, or within what rounding allows for the size of
        the terms (a random cyclic code's decoding vectors can reach 1e5 at n=256)."""
        terms = np.abs(a[idx]) @ np.abs(self.B[idx])
        bound = slack * max(TOLERANCE, 1e-12 * terms.max())
        return np.abs(a[idx] @ self.B[idx] - 1.0).max() <= bound

    def combine(self, results, responders):
        """sum_j g_j from the responders' results (one row per responder, in order)."""
        a = self.decoding_vector(responders)
        return np.asarray(a[np.asarray(list(responders))]) @ np.asarray(results, dtype=np.float64)
