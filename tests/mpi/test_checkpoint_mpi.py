"""mpicomm.checkpoint at any rank count: what is saved comes back, in place, on every
rank; bad files and bad state are named and nothing is overwritten."""
import h5py
import numpy as np
import pytest
from mpi4py import MPI

from mpicomm.checkpoint import Checkpoint, CheckpointError

COMM = MPI.COMM_WORLD
RANK, SIZE = COMM.Get_rank(), COMM.Get_size()


@pytest.fixture
def path(tmp_path_factory):
    # One folder for every rank: rank 0 makes it and tells the others.
    where = str(tmp_path_factory.mktemp("ckpt")) if RANK == 0 else None
    return COMM.bcast(where) + "/c.h5"


@pytest.mark.mpi
def test_state_round_trips_in_place_on_every_rank(path):
    w = np.arange(12.0).reshape(3, 4)
    counts = np.arange(5, dtype=np.int32)
    rng, own_rng = np.random.default_rng(3), np.random.default_rng(50 + RANK)
    rng.random(7)
    own = np.full(4, RANK, np.int64)
    state = {"w": w, "counts": counts, "rng": rng, "lr": 0.125, "epoch": 3, "name": "run-a"}
    ckpt = Checkpoint(path, every=2)
    assert not ckpt.save_if_due(3, state, mine={"own": own, "rng": own_rng})
    assert ckpt.save_if_due(4, state, mine={"own": own, "rng": own_rng})
    want_next, want_own_next = rng.random(5), own_rng.random(5)
    # Change everything, then restore into the same objects.
    w[...] = -1
    counts[...] = 0
    rng.random(100)
    own_rng.random(100)
    own[...] = 99
    step, got, mine = ckpt.restore(state, mine={"own": own, "rng": own_rng})
    assert step == 4
    assert got["w"] is w and np.array_equal(w, np.arange(12.0).reshape(3, 4))
    assert got["counts"] is counts and np.array_equal(counts, np.arange(5))
    assert got["rng"] is rng and np.array_equal(rng.random(5), want_next)
    assert (got["lr"], got["epoch"], got["name"]) == (0.125, 3, "run-a")
    assert mine["own"] is own and np.array_equal(own, np.full(4, RANK))
    assert mine["rng"] is own_rng and np.array_equal(own_rng.random(5), want_own_next)


@pytest.mark.mpi
def test_no_checkpoint_gives_step_zero_and_the_state_unchanged(path):
    ckpt = Checkpoint(path)
    w = np.ones(3)
    assert not ckpt.exists()
    step, got = ckpt.restore({"w": w})
    assert step == 0 and got["w"] is w and np.array_equal(w, np.ones(3))


@pytest.mark.mpi
def test_shape_mismatch_on_restore_is_named(path):
    ckpt = Checkpoint(path)
    ckpt.save(1, {"w": np.zeros(4)})
    with pytest.raises(CheckpointError, match=r"state 'w': the checkpoint holds float64\[4\]"):
        ckpt.restore({"w": np.zeros(5)})


@pytest.mark.mpi
def test_a_file_that_is_not_a_checkpoint_is_refused_and_kept(path):
    if RANK == 0:
        with h5py.File(path, "w") as f:
            f["data"] = np.arange(3)
    COMM.Barrier()
    ckpt = Checkpoint(path)
    with pytest.raises(CheckpointError, match="not an mpicomm checkpoint"):
        ckpt.save(1, {"w": np.zeros(2)})
    with pytest.raises(CheckpointError, match="not an mpicomm checkpoint"):
        ckpt.restore({"w": np.zeros(2)})
    if RANK == 0:
        with h5py.File(path) as f:
            assert list(f) == ["data"] and np.array_equal(f["data"][()], np.arange(3))


@pytest.mark.mpi
def test_unsupported_state_is_named_on_every_rank(path):
    with pytest.raises(CheckpointError, match="state 'model' is a dict"):
        Checkpoint(path).save(1, {"model": {"nested": 1}})


@pytest.mark.mpi
def test_bad_every_is_refused(path):
    with pytest.raises(ValueError, match="every must be a positive number of steps"):
        Checkpoint(path, every=0)
