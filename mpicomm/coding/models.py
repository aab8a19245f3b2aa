"""Models with data generated deterministically (no downloads), for the coded
training runtime: every rank builds the same data from the same seed, so only
parameters and results travel.

A job is one gradient step of one model on one minibatch; its gradient is the sum of
per-sample gradients, so the gradient over a range of samples splits exactly into
the sum over any partition of it (what gradient coding needs).
"""
import numpy as np

__all__ = ["LogisticRegression", "make_models"]


class LogisticRegression:
    """Binary logistic regression on a synthetic, linearly separable-ish dataset."""

    def __init__(self, index, samples=4096, features=32, seed=0):
        rng = np.random.default_rng([seed, index])
        truth = rng.standard_normal(features)
        self.X = rng.standard_normal((samples, features))
        self.y = (self.X @ truth + 0.5 * rng.standard_normal(samples) > 0).astype(np.float64)
        self.features = features
        self.samples = samples

    def init(self):
        return np.zeros(self.features)

    def grad(self, params, lo, hi):
        """Sum over samples lo..hi-1 of the log-loss gradient."""
        X, y = self.X[lo:hi], self.y[lo:hi]
        p = 1.0 / (1.0 + np.exp(-(X @ params)))
        return X.T @ (p - y)

    def loss(self, params):
        z = self.X @ params
        return float(np.mean(np.logaddexp(0.0, z) - self.y * z))

    def batch(self, step, size):
        """The first sample of minibatch `step` (contiguous batches, cycling)."""
        return (step * size) % (self.samples - size + 1)


def make_models(count, samples=4096, features=32, seed=0):
    return [LogisticRegression(i, samples, features, seed) for i in range(count)]
