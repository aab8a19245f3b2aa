"""Small real datasets shipped with mpicomm, for examples and tests (no download).

    >>> from mpicomm.datasets import load_digits
    >>> X, y = load_digits()
    >>> X.shape, y.shape
    ((1797, 64), (1797,))

digits.csv.gz: the optical recognition of handwritten digits data (E. Alpaydin and C.
Kaynak, UCI Machine Learning Repository, 1998; licence CC BY 4.0), the copy of its test
set that scikit-learn ships as `sklearn.datasets.load_digits`: 1,797 8 x 8 images of
the digits 0-9, pixels 0-16, one image per row followed by its label.
"""
import gzip
from pathlib import Path

import numpy as np

__all__ = ["load_digits"]

HERE = Path(__file__).resolve().parent


def load_digits(scale=True):
    """(X, y): X float32 of shape (1797, 64), pixels divided by 16 when scale (else
    0-16), y int64 labels 0-9."""
    with gzip.open(HERE / "digits.csv.gz", "rt") as f:
        data = np.loadtxt(f, delimiter=",", dtype=np.float32)
    X, y = data[:, :-1], data[:, -1].astype(np.int64)
    return (X / 16.0 if scale else X), y
