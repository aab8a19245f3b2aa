"""Build the LD_PRELOAD interposer with the MPI compiler of the installed MPI.

One build per MPI (MPICH and Open MPI have different ABIs), cached under
MPICOMM_CACHE_DIR (default ~/.cache/mpicomm) in a folder named for the MPI and
a hash of the sources and the compiler, next to a build.json that records what
it was built against. `preload_path()` builds on first use and refuses to hand
out a library built for another MPI than the one mpi4py loads.
"""
import fcntl
import glob
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mpicomm import installation, memo

LIBNAME = "libmpicomm.so"
CUDA_LIBNAME = "libmpicomm_cuda.so"
CFLAGS = ["-O3", "-std=gnu11", "-fPIC", "-shared", "-Wall", "-Wno-unused-parameter"]
C_DIRS = ["core", "device", "gen", "wrap", "internal", "fortran"]
GENERATED = ["mpic_kernels.c", "mpik_kernels.h", "mpik_cuda.cu", "mpiw_coll_entry.c",
             "mpiw_coll_entry.h"]
# Compute capabilities the CUDA kernels are built for where nvcc knows them (V100 to
# H100/H200), and PTX of the newest for what comes after.
CUDA_ARCHS = [70, 75, 80, 86, 89, 90]


class BuildError(RuntimeError):
    """The interposer could not be built, or the build does not match the MPI."""


def source_dir():
    """The interposer's C sources: shipped in the package, or the source checkout's."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_interposer", here.parent / "interposer"):
        if (candidate / "include" / "mpic.h").exists():
            if not all((candidate / "gen" / f).exists() for f in GENERATED):
                _generate(candidate)
            return candidate
    raise BuildError(f"interposer sources not found under {here}")


def _generate(src):
    """Run the generators into src/gen: shipped as src/codegen, or the checkout's codegen/
    beside interposer/."""
    for generator in ("genpup.py", "gendevice.py", "genwrap.py"):
        path = src / "codegen" / generator
        if not path.exists():
            path = src.parent / "codegen" / generator
        if not path.exists():
            raise BuildError(f"generated kernels missing in {src / 'gen'} and no {generator} "
                             "to make them")
        subprocess.check_call([sys.executable, str(path), str(src / "gen")])


def sources(src):
    return sorted(sum((glob.glob(str(src / d / "*.c")) for d in C_DIRS), []))


def cache_dir():
    return memo.cache_dir()


def choose_mpicc(inst, mpicc=None):
    """Explicit path, else MPICOMM_MPICC, else the installation's own mpicc."""
    chosen = mpicc or os.environ.get("MPICOMM_MPICC")
    if chosen:
        path = shutil.which(chosen) or chosen
        if not os.access(path, os.X_OK):
            raise BuildError(f"MPI compiler {chosen!r} is not an executable")
        return path
    try:
        return inst.tool("mpicc")
    except installation.MPINotFound as exc:
        raise BuildError(str(exc)) from exc


def _compiler_env():
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def header_vendor(mpicc):
    """The MPI that mpicc's mpi.h belongs to: ("MPICH"|"Open MPI"|"unknown", version)."""
    out = subprocess.run([mpicc, "-dM", "-E", "-x", "c", "-"], input="#include <mpi.h>\n",
                         capture_output=True, text=True, env=_compiler_env())
    if out.returncode != 0:
        raise BuildError(f"{mpicc} cannot compile against mpi.h:\n{out.stderr[-2000:]}")
    macros = {}
    for line in out.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] == "#define":
            macros[parts[1]] = parts[2].strip().strip('"')
    if "MPICH_VERSION" in macros:
        return "MPICH", macros["MPICH_VERSION"]
    if "OMPI_MAJOR_VERSION" in macros:
        return "Open MPI", ".".join(macros.get(k, "0") for k in
                                    ("OMPI_MAJOR_VERSION", "OMPI_MINOR_VERSION",
                                     "OMPI_RELEASE_VERSION"))
    return "unknown", "unknown"


_FIND_HDF5 = """
import h5py.h5
for line in open('/proc/self/maps'):
    path = line.split()[-1]
    if '/libhdf5' in path and '_hl' not in path.rsplit('/', 1)[-1]:
        print(path)
        break
"""


def _hdf5_by_ldd():
    """libhdf5 as the loader resolves it for h5py's h5 module, without importing h5py (a
    tenth of the time: `mpicomm run` looks its build up at every launch); None if unsure."""
    spec = importlib.util.find_spec("h5py")
    if spec is None or not spec.submodule_search_locations or not shutil.which("ldd"):
        return None
    mods = glob.glob(os.path.join(spec.submodule_search_locations[0], "h5.*.so"))
    if len(mods) != 1:
        return None
    out = subprocess.run(["ldd", mods[0]], capture_output=True, text=True,
                         env=_compiler_env())
    for line in out.stdout.splitlines():
        name, _, rest = line.strip().partition(" => ")
        if name.startswith("libhdf5") and "_hl" not in name and rest.startswith("/"):
            return os.path.realpath(rest.split(" (")[0])
    return None


def find_hdf5():
    """The libhdf5 that h5py loads (the interposer reads the model with it), or None."""
    found = _hdf5_by_ldd()
    if found:
        return found
    out = subprocess.run([sys.executable, "-c", _FIND_HDF5], capture_output=True, text=True,
                         env=_compiler_env())
    path = out.stdout.strip()
    return path if out.returncode == 0 and path else None


def _inputs(src):
    """Every file of the sources a build compiles."""
    return sources(src) + sorted(glob.glob(str(src / "*" / "*.h")) +
                                 glob.glob(str(src / "gen" / "*.cu")))


def _fingerprint(src, mpicc, hdf5, nvcc):
    h = hashlib.sha256()
    h.update(str(hdf5).encode())
    h.update(str(nvcc).encode())
    for path in _inputs(src):
        h.update(path.rsplit("/", 2)[-2:][-1].encode())
        h.update(Path(path).read_bytes())
    h.update(os.path.realpath(mpicc).encode())
    show = subprocess.run([mpicc, "-show"], capture_output=True, text=True, env=_compiler_env())
    h.update(show.stdout.encode())
    h.update(" ".join(CFLAGS).encode())
    return h.hexdigest()[:12]


def choose_nvcc(nvcc=None):
    """Explicit path, else MPICOMM_NVCC (off: no CUDA kernels), else nvcc on PATH, in
    /usr/local/cuda, or from the NVIDIA wheels in this Python (`pip install mpicomm[cuda]`:
    nvidia-cuda-nvcc and nvidia-cuda-runtime); None when there is none (the interposer
    then stages device buffers through host memory without kernels)."""
    chosen = nvcc or os.environ.get("MPICOMM_NVCC")
    if chosen == "off":
        return None
    if chosen:
        path = shutil.which(chosen) or chosen
        if not os.access(path, os.X_OK):
            raise BuildError(f"CUDA compiler {chosen!r} is not an executable")
        return path
    return shutil.which("nvcc") or next(
        (p for p in ("/usr/local/cuda/bin/nvcc", *_wheel_nvccs()) if os.access(p, os.X_OK)),
        None)


def _wheel_nvccs():
    """nvcc of the NVIDIA toolchain wheels (nvidia/cu<N>/bin/nvcc), newest CUDA first,
    where the runtime wheel beside it brings the headers and the static runtime."""
    try:
        import nvidia
    except ImportError:
        return []
    found = []
    for root in getattr(nvidia, "__path__", []):
        for tool in glob.glob(os.path.join(root, "cu*", "bin", "nvcc")):
            top = Path(tool).parent.parent
            if (top / "include" / "cuda_runtime.h").exists() and \
                    (top / "lib" / "libcudart_static.a").exists():
                found.append(tool)
    return sorted(found, key=lambda t: int(re.sub(r"\D", "", Path(t).parts[-3]) or 0),
                  reverse=True)


def _environment_builds():
    """Where this environment (sys.prefix) keeps the builds it made or used, so that a
    build made under another cache directory (`make` builds into .cache/build) is found
    again from a plain shell instead of being rebuilt."""
    return Path(sys.prefix) / "share" / "mpicomm" / "builds.json"


def _complete(outdir):
    """Does outdir hold a whole build (the library and its build.json)?"""
    return (Path(outdir) / LIBNAME).exists() and (Path(outdir) / "build.json").exists()


def _recorded(name):
    """The directory of the build called name that this environment recorded, or None."""
    try:
        where = json.loads(_environment_builds().read_text()).get(name)
    except (OSError, ValueError, AttributeError):
        return None
    return Path(where) if where and _complete(where) else None


def _record(outdir):
    """Note outdir in the environment's record (best effort: a read-only prefix keeps none)."""
    path = _environment_builds()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            known = json.loads(path.read_text())
        except (OSError, ValueError):
            known = {}
        if known.get(outdir.name) == str(outdir):
            return
        known[outdir.name] = str(outdir)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(known, f, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass


def _refusal(vendor, version, mpicc, inst):
    return (f"refusing to preload: the interposer would be compiled against {vendor} "
            f"{version} ({mpicc}) but mpi4py loads {inst.vendor} {inst.version} "
            f"({inst.libmpi}); point --mpicc (or MPICOMM_MPICC) at the mpicc of {inst.vendor}")


def build(mpicc=None, force=False, inst=None, quiet=False, nvcc=None, preload=False):
    """Build (or find the cached build of) the interposer; return its build.json as a dict.
    Which cached build serves these arguments is kept (mpicomm.memo) while the sources,
    the compilers' environment and the installed packages are unchanged; a build this
    environment made under another cache directory is reused. preload: refuse an mpicc of
    another MPI than mpi4py's before building anything."""
    inst = inst or installation.probe()
    src = source_dir()
    remembered = memo.key(mpicc, nvcc, inst, str(src), memo.environment(),
                          os.environ.get("MPICOMM_MPICC"), os.environ.get("MPICOMM_NVCC"),
                          [memo.stat(p) for p in _inputs(src)])
    known = None if force else memo.get("build", remembered)
    if known and _complete(known):
        return json.loads((Path(known) / "build.json").read_text())
    mpicc = choose_mpicc(inst, mpicc)
    nvcc = choose_nvcc(nvcc)
    vendor, version = header_vendor(mpicc)
    if preload and vendor != inst.vendor:
        raise BuildError(_refusal(vendor, version, mpicc, inst))
    hdf5 = find_hdf5()
    # Named for the MPI whose mpi.h it is built against (a site MPI may not be mpi4py's).
    key = f"{vendor.lower().replace(' ', '')}-{version}"
    outdir = cache_dir() / f"{key}-{_fingerprint(src, mpicc, hdf5, nvcc)}"
    lib, meta_path = outdir / LIBNAME, outdir / "build.json"
    if not force and not _complete(outdir):
        outdir = _recorded(outdir.name) or outdir
        lib, meta_path = outdir / LIBNAME, outdir / "build.json"
    if not force and _complete(outdir):
        memo.put("build", remembered, str(outdir), files=[mpicc, nvcc or "", hdf5 or ""])
        _record(outdir)
        return json.loads(meta_path.read_text())

    # 1. One process builds (the ranks of a job may all ask at once); the others wait for
    # it and take its build.
    outdir.mkdir(parents=True, exist_ok=True)
    with open(outdir / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and _complete(outdir):
            return json.loads(meta_path.read_text())
        meta = _compile(inst, mpicc, src, vendor, version, hdf5, lib, meta_path, quiet, nvcc)
    memo.put("build", remembered, str(outdir), files=[mpicc, nvcc or "", hdf5 or ""])
    _record(outdir)
    return meta


def _compile(inst, mpicc, src, vendor, version, hdf5, lib, meta_path, quiet, nvcc):
    # 2. Compile into a temporary file beside the target, 3. move it in place atomically.
    outdir = lib.parent
    if not quiet:
        print(f"mpicomm: building the interposer for {vendor} {version} with {mpicc}",
              file=sys.stderr)
    fd, tmp = tempfile.mkstemp(dir=outdir, suffix=".so")
    os.close(fd)
    cmd = [mpicc, *CFLAGS, *(f"-I{src / d}" for d in ("include", "core", "device", "gen",
                                                      "internal")),
           *([f'-DMPIW_HDF5_LIB="{hdf5}"'] if hdf5 else []), *sources(src),
           "-o", tmp, "-lpthread", "-ldl", "-lm"]
    out = subprocess.run(cmd, capture_output=True, text=True, env=_compiler_env())
    if out.returncode != 0:
        if os.path.exists(tmp):             # the compiler removes its output on failure
            os.unlink(tmp)
        raise BuildError("compiling the interposer failed:\n" + " ".join(cmd) + "\n" +
                         out.stderr[-4000:])
    os.chmod(tmp, 0o755)
    os.replace(tmp, lib)
    cuda, cuda_error = False, None
    if nvcc:
        try:
            cuda = _compile_cuda(nvcc, src, outdir / CUDA_LIBNAME, quiet)
        except BuildError as exc:
            # The interposer works without kernels (device buffers packed on the host).
            cuda_error = str(exc)
            print("mpicomm: warning: building without CUDA kernels (device buffers are packed "
                  "through host memory): " + cuda_error, file=sys.stderr)
    meta = {
        "library": str(lib),
        "mpi_vendor": vendor,
        "mpi_version": version,
        "built_for": inst.library_version.splitlines()[0],
        "libmpi": inst.libmpi,
        "mpicc": mpicc,
        "cpu_kernels": _kernel_count(src),
        "cuda_kernels": cuda,
        "cuda_error": cuda_error,
        "fortran_entry_points": _fortran_entry_points(lib),
        "hdf5": hdf5,
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    fd, tmp = tempfile.mkstemp(dir=outdir, suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(tmp, meta_path)
    return meta


def nvcc_archs(nvcc):
    """The compute capabilities of CUDA_ARCHS this nvcc can build for."""
    out = subprocess.run([nvcc, "--list-gpu-arch"], capture_output=True, text=True,
                         env=_compiler_env())
    known = {int(m.group(1)) for m in re.finditer(r"\bcompute_(\d+)\b", out.stdout)}
    return [a for a in CUDA_ARCHS if a in known]


def _compile_cuda(nvcc, src, target, quiet):
    """The generated CUDA kernels (gen/mpik_cuda.cu) into a library of their own, with the
    CUDA runtime linked in statically: the interposer loads it with dlopen on the first
    device launch, so it needs nothing of CUDA's at load time. Warnings are errors."""
    archs = nvcc_archs(nvcc)
    if not archs:
        raise BuildError(f"{nvcc} builds for none of the compute capabilities {CUDA_ARCHS}")
    if not quiet:
        print(f"mpicomm: building the CUDA kernels with {nvcc} for sm_"
              + ", sm_".join(map(str, archs)), file=sys.stderr)
    gencode = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
    gencode.append(f"-gencode=arch=compute_{archs[-1]},code=compute_{archs[-1]}")
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".so")
    os.close(fd)
    cmd = [nvcc, "-O3", "-shared", "-Xcompiler", "-fPIC,-Wall,-Wextra", "-Werror", "all-warnings",
           "-cudart", "static", *gencode, f"-I{src / 'gen'}", str(src / "gen" / "mpik_cuda.cu"),
           "-o", tmp]
    out = subprocess.run(cmd, capture_output=True, text=True, env=_compiler_env())
    if out.returncode != 0:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise BuildError("compiling the CUDA kernels failed:\n" + " ".join(cmd) + "\n" +
                         out.stderr[-4000:])
    os.chmod(tmp, 0o755)                    # mkstemp's 0600 would keep other users out
    os.replace(tmp, target)
    version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout
    return {"library": str(target), "nvcc": nvcc, "archs": archs,
            "nvcc_version": next((ln.split(", ", 1)[1] for ln in version.splitlines()
                                  if "release" in ln and ", " in ln), "unknown"),
            "kernels": _device_kernel_count(src)}


def _fortran_entry_points(lib):
    """How many Fortran entry points (mpi_send_, mpi_wait_f08_, ...) the build defines:
    those of the bindings that call PMPI_ directly (Open MPI's; MPICH's mpi_f08 for the
    calls without a buffer). The rest of a binding reaches the C wrappers."""
    out = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True,
                         text=True)
    return sum(1 for line in out.stdout.splitlines()
               if line.split()[-1].startswith("mpi_") and line.split()[-1].endswith("_"))


def _kernel_count(src):
    text = (src / "gen" / "mpic_kernels.c").read_text()
    for line in text.splitlines():
        if line.startswith("const int mpic_kernels_generated"):
            return int(line.split("=")[1].strip(" ;"))
    return 0


def _device_kernel_count(src):
    for line in (src / "gen" / "mpik_kernels.h").read_text().splitlines():
        if line.startswith("#define MPIK_KERNELS "):
            return int(line.split()[2])
    return 0


def preload_path(mpicc=None, inst=None, quiet=False):
    """Absolute path of the interposer for the MPI mpi4py loads; builds it on first use."""
    inst = inst or installation.probe()
    meta = build(mpicc=mpicc, inst=inst, quiet=quiet, preload=True)
    if meta["mpi_vendor"] != inst.vendor:
        raise BuildError(_refusal(meta["mpi_vendor"], meta["mpi_version"], meta["mpicc"], inst))
    return meta["library"]
