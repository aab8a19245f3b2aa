"""The examples run as users would run them."""
import re
import sys
from pathlib import Path

import helpers

ROOT = Path(__file__).resolve().parents[1]


def test_pack_faces_example_runs_preloaded_on_the_fast_path():
    res = helpers.mpicomm_run(2, [sys.executable, str(ROOT / "examples" / "pack_faces.py"),
                                  "--n", "40", "--ghost", "2"], env={"MPICOMM_STATS": "1"})
    assert res.returncode == 0, res.stderr
    # Ranks' lines may interleave in mpiexec's forwarded stdout: match, don't split.
    ok = re.findall(r"rank (\d+): 6 faces of 40\^3, ghost 2: OK", res.stdout)
    assert sorted(ok) == ["0", "1"], res.stdout
    assert all(s["pack_fast"] == 6 for s in helpers.stats_lines(res.stderr))


def test_pack_faces_rejects_a_ghost_too_wide():
    res = helpers.mpicomm_run(1, [sys.executable, str(ROOT / "examples" / "pack_faces.py"),
                                  "--n", "4", "--ghost", "2"])
    assert res.returncode != 0 and "must exceed twice --ghost" in res.stderr
