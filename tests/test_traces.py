"""mpicomm.traces: straggler traces written and read back as HDF5, bad files named."""
import h5py
import numpy as np
import pytest

from mpicomm import traces


def test_round_trip_keeps_delays_extras_and_attributes(tmp_path):
    delays = np.random.default_rng(0).exponential(1.0, size=(5, 40))
    delays[2, 7] = np.inf                                   # a worker that never answered
    included = (delays < 1.5).astype(np.int8)
    path = traces.write(tmp_path / "t.h5", delays, extra={"included": included},
                        kind="markov", p=0.1)
    t = traces.read(path)
    assert (t.workers, t.rounds) == (5, 40) and np.array_equal(t.delays, delays)
    assert np.array_equal(t.extra["included"], included)
    assert t.attrs["kind"] == "markov" and t.attrs["p"] == 0.1
    assert t.attrs["mpicomm_trace"] == traces.FORMAT and t.attrs["created"].startswith("20")
    assert "5 workers x 40 rounds" in repr(t)
    # An existing trace may be replaced.
    traces.write(path, delays[:, :3])
    assert traces.read(path).rounds == 3


@pytest.mark.parametrize("bad, message", [
    (np.ones(4), "2-D array"),
    (np.ones((2, 0)), "2-D array"),
    (np.array([[1.0, np.nan]]), "NaN or negatives"),
    (np.array([[1.0, -1.0]]), "NaN or negatives"),
])
def test_bad_delays_are_refused(tmp_path, bad, message):
    with pytest.raises(traces.TraceError, match=message):
        traces.write(tmp_path / "t.h5", bad)
    assert not (tmp_path / "t.h5").exists()


def test_extra_of_another_shape_is_refused(tmp_path):
    with pytest.raises(traces.TraceError, match="dataset arrival has shape"):
        traces.write(tmp_path / "t.h5", np.ones((2, 3)), extra={"arrival": np.ones((3, 2))})


def test_files_that_are_not_traces_are_named_and_never_overwritten(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("my notes")
    with pytest.raises(traces.TraceError, match="not an HDF5 file"):
        traces.read(text)
    with pytest.raises(traces.TraceError, match="not an HDF5 file"):
        traces.write(text, np.ones((2, 2)))
    assert text.read_text() == "my notes"
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(traces.TraceError, match="not an mpicomm trace"):
        traces.write(other, np.ones((2, 2)))
    with h5py.File(other) as f:
        assert list(f) == ["x"]
    with pytest.raises(traces.TraceError, match="no such file"):
        traces.read(tmp_path / "missing.h5")
    no_delays = tmp_path / "nodelays.h5"
    with h5py.File(no_delays, "w") as f:
        f.attrs["mpicomm_trace"] = 1
    with pytest.raises(traces.TraceError, match="dataset delays is missing"):
        traces.read(no_delays)
