"""A job killed mid-run and started again resumes from its last HDF5 checkpoint with
bit-identical state (tests/ckpt_train.py, 2 ranks, the MPI of this environment)."""
import json
import sys
from pathlib import Path

import numpy as np

from support import helpers

PROGRAM = str(Path(__file__).resolve().parent / "support" / "ckpt_train.py")


def train(tmp_path, name, *extra):
    out = tmp_path / f"{name}.npy"
    res = helpers.mpicomm_run(2, [sys.executable, PROGRAM, "--ckpt", str(tmp_path / f"{name}.h5"),
                                  "--steps", "20", "--every", "4", "--out", str(out), *extra],
                              timeout=120)
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT ")]
    return res, (json.loads(lines[0][7:]) if lines else None), out


def test_crash_and_restart_resumes_bit_identical(tmp_path):
    res, whole, whole_out = train(tmp_path, "whole")
    assert res.returncode == 0 and whole and whole["resumed_from"] == 0, res.stderr[-2000:]
    # Rank 1 dies in step 10: the job fails, the checkpoint of step 8 stays.
    res, crashed, _ = train(tmp_path, "crashy", "--crash-at", "10")
    assert res.returncode != 0 and crashed is None
    res, resumed, resumed_out = train(tmp_path, "crashy")
    assert res.returncode == 0 and resumed, res.stderr[-2000:]
    assert resumed["resumed_from"] == 8
    assert resumed["sha256"] == whole["sha256"]
    assert np.array_equal(np.load(resumed_out), np.load(whole_out))
    # Started again after the end, it has nothing left to do and says so.
    res, again, _ = train(tmp_path, "crashy")
    assert res.returncode == 0 and again["resumed_from"] == 20
    assert again["sha256"] == whole["sha256"]
