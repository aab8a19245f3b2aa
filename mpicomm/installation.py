"""Which MPI is installed: the library mpi4py will load, its vendor, and its tools.

The probe runs in a child interpreter so that loading libmpi (and any
LD_PRELOAD of the caller) does not touch this process.
"""
import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

# Loads the MPI mpi4py would use (not initialised) and finds its libmpi in the maps.
_LOAD = r"""
import json, mpi4py
mpi4py.rc.initialize = False
mpi4py.rc.finalize = False
from mpi4py import MPI
lib = ""
with open("/proc/self/maps") as f:
    for line in f:
        path = line.split()[-1] if len(line.split()) >= 6 else ""
        if path.rsplit("/", 1)[-1].startswith(("libmpi.so", "libmpi_abi.so")):
            lib = path
            break
"""

_PROBE = _LOAD + r"""
print(json.dumps({"library_version": MPI.Get_library_version(),
                  "std_version": list(MPI.Get_version()),
                  "libmpi": lib, "mpi4py": mpi4py.__version__}))
"""

# MPIX_Query_cuda_support: Open MPI answers before MPI_Init, MPICH only after it.
_CUDA_PROBE = _LOAD + r"""
import ctypes
query = getattr(ctypes.CDLL(lib), "MPIX_Query_cuda_support", None) if lib else None
if query and MPI.Get_library_version().startswith("MPICH"):
    MPI.Init()
aware = bool(query()) if query else None
if MPI.Is_initialized():
    MPI.Finalize()
print(json.dumps(aware))
"""


class MPINotFound(RuntimeError):
    """No usable MPI (or no mpi4py) was found."""


@dataclass(frozen=True)
class Installation:
    vendor: str            # "MPICH", "Open MPI", or the first words of the version string
    version: str           # e.g. "5.0.2"
    library_version: str   # MPI_Get_library_version, whole
    std_version: tuple     # MPI standard (major, minor)
    libmpi: str            # path of the libmpi mpi4py loads
    prefix: str            # installation prefix (libmpi's parent's parent)
    mpi4py: str

    def tool(self, name):
        """Path of an MPI tool (mpicc, mpiexec) from this installation, else from PATH."""
        candidate = os.path.join(self.prefix, "bin", name)
        if os.access(candidate, os.X_OK):
            return candidate
        found = shutil.which(name)
        if not found:
            raise MPINotFound(f"{name} not found in {self.prefix}/bin or on PATH")
        return found

    @property
    def is_openmpi(self):
        return self.vendor == "Open MPI"

    @property
    def key(self):
        """Short identifier used to name builds: e.g. mpich-5.0.2."""
        return f"{self.vendor.lower().replace(' ', '')}-{self.version}"


def library_line(library_version):
    """The first line of an MPI_Get_library_version string as a model records it:
    printable ASCII only, tabs and runs of spaces as one space, trimmed (mpiw_model.c
    reads the running MPI's the same way)."""
    first = library_version.split("\n", 1)[0]
    return " ".join("".join(c for c in first if " " <= c <= "~" or c in "\t\r").split())


def parse_vendor(library_version):
    """(vendor, version) from an MPI_Get_library_version string."""
    text = library_version.strip()
    if text.startswith("MPICH"):
        for line in text.splitlines():
            if line.startswith("MPICH Version:"):
                return "MPICH", line.split(":", 1)[1].strip()
        return "MPICH", "unknown"
    if text.startswith("Open MPI"):
        word = text.split()[2].rstrip(",") if len(text.split()) > 2 else "unknown"
        return "Open MPI", word.lstrip("v")
    words = text.split()
    return (" ".join(words[:2]) if words else "unknown"), "unknown"


def _run_child(python, code, what):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    try:
        out = subprocess.run([python or sys.executable, "-c", code], env=env,
                             capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MPINotFound(f"could not run the {what}: {exc}") from exc
    if out.returncode != 0:
        raise MPINotFound("mpi4py could not load an MPI library:\n" + out.stderr.strip()[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


@functools.lru_cache(maxsize=None)
def cuda_aware(python=None):
    """The MPI's own answer to MPIX_Query_cuda_support (True/False), or None where the
    MPI has no such function. MPICH answers only once initialised, so this starts a
    singleton MPI in a child interpreter: call it when the answer is wanted."""
    return _run_child(python, _CUDA_PROBE, "CUDA-awareness probe")


@functools.lru_cache(maxsize=None)
def probe(python=None):
    """Describe the MPI that mpi4py loads in `python` (default: this interpreter; its
    answer is kept, mpicomm.memo, while the packages and libmpi are unchanged)."""
    from mpicomm import memo
    k = memo.key(python, memo.environment())
    info = memo.get("probe", k)
    if info is None:
        info = _run_child(python, _PROBE, "MPI probe")
        memo.put("probe", k, info, files=[info["libmpi"]] if info["libmpi"] else [])
    vendor, version = parse_vendor(info["library_version"])
    libmpi = os.path.realpath(info["libmpi"]) if info["libmpi"] else ""
    prefix = os.path.dirname(os.path.dirname(libmpi)) if libmpi else sys.prefix
    return Installation(vendor=vendor, version=version,
                        library_version=info["library_version"].strip(),
                        std_version=tuple(info["std_version"]), libmpi=libmpi, prefix=prefix,
                        mpi4py=info["mpi4py"])
