"""Answers that cost a child process or a compiler run (which MPI mpi4py loads, which
cached build of the interposer serves it), kept in the build cache for as long as what
they depend on is unchanged, so that `mpicomm run` and `mpicomm preload-path` start
without probing: a key is a digest of everything the answer depends on that can be read
without running anything (paths, environment variables, the size and modification time
of files and of the folders packages are installed in), and an entry is used only while
the files it names are as they were.
"""
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

MEMO = "memo.json"
KEEP = 64                      # entries kept, the newest


def cache_dir():
    """The build cache: MPICOMM_CACHE_DIR, else $XDG_CACHE_HOME/mpicomm, else
    ~/.cache/mpicomm."""
    base = os.environ.get("MPICOMM_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "mpicomm")
    return Path(base)


def stat(path):
    """(path, mtime in ns, size), or (path, None, None) when it is not there."""
    try:
        st = os.stat(path)
        return (str(path), st.st_mtime_ns, st.st_size)
    except OSError:
        return (str(path), None, None)


def environment():
    """What decides which interpreter, packages and libraries a probe would find (sys.path
    past its first entry, which is where this process was started from)."""
    return [sys.executable, [stat(p) for p in sys.path[1:] if p and os.path.isdir(p)],
            {k: v for k, v in os.environ.items()
             if k.startswith("MPI4PY_") or k in ("PATH", "LD_LIBRARY_PATH")}]


def key(*parts):
    return hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()


def _load(path):
    try:
        memo = json.loads(path.read_text())
        return memo if isinstance(memo, dict) else {}
    except (OSError, ValueError):
        return {}


def get(kind, k):
    """The value kept for (kind, k), if the files it depends on are unchanged."""
    entry = _load(cache_dir() / MEMO).get(f"{kind}:{k}")
    if not isinstance(entry, dict) or "value" not in entry:
        return None
    if any(list(stat(f[0])) != list(f) for f in entry.get("files", [])):
        return None
    return entry["value"]


def put(kind, k, value, files=()):
    """Keep value for (kind, k), valid while the files keep their size and time."""
    path = cache_dir() / MEMO
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        memo = _load(path)
        memo.pop(f"{kind}:{k}", None)
        memo[f"{kind}:{k}"] = {"value": value, "files": [stat(f) for f in files]}
        while len(memo) > KEEP:
            memo.pop(next(iter(memo)))
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".memo-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(memo, f)
        os.replace(tmp, path)
    except OSError:
        pass                   # a read-only cache: the answers are found again next time
