"""cffi builder for mpicomm._core: the interposer's MPI-free core (canonical form and kernels),
and the numpy-array passes of the Python package (interposer/python, mpip_).

Used by setup.py (cffi_modules) after genpup.py, beside it, has written the kernels.
"""
import glob
import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
INTERPOSER = os.path.join(os.path.dirname(HERE), "interposer")


def core_sources():
    """The MPI-free core and its generated kernels (mpic_*), not the generated wrappers."""
    return sorted(glob.glob(os.path.join(INTERPOSER, "core", "*.c")) +
                  glob.glob(os.path.join(INTERPOSER, "gen", "mpic_*.c")))


def python_sources():
    return sorted(glob.glob(os.path.join(INTERPOSER, "python", "*.c")))


def cdef_text():
    """The public part of mpic.h and mpip.h, without preprocessor lines and inline bodies."""
    text = ""
    for header in (("include", "mpic.h"), ("python", "mpip.h")):
        with open(os.path.join(INTERPOSER, *header)) as f:
            text += f.read() + "\n"
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"static inline[^{]*\{[^}]*\}", "", text)
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    text = "\n".join(lines)
    text = text.replace("MPIC_MAX_DIMS", "8").replace("MPIC_REASON_LEN", "96")
    return text + "\n#define MPIC_MAX_DIMS 8\n"


ffibuilder = FFI()
ffibuilder.cdef(cdef_text())
ffibuilder.set_source(
    "mpicomm._core",
    '#include "mpic.h"\n#include "mpip.h"\n',
    sources=[os.path.relpath(p) for p in core_sources() + python_sources()],
    include_dirs=[os.path.relpath(os.path.join(INTERPOSER, d))
                  for d in ("include", "core", "python")],
    extra_compile_args=["-O3", "-std=c11"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
