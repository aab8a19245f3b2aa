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
#   WHEELS=.whl GPU_CMD=device OUT=logs scripts/gpu_run.sh
#
# GPU_CMD=device runs the device checks: tests/device at 1 and 2 ranks, tests/test_device.py,
# benchmarks/kind_cost.py and benchmarks/gpu_bench.py on 2 ranks (its JSON into $OUT);
# rehearse it without a GPU
# under MPICOMM_DEVICE=sim. Any other GPU_CMD runs in a subshell per MPI with PATH
# starting at that environment's bin and V naming the environment. Fetch the wheels where
# pip can reach PyPI with `pip download --no-deps --only-binary=:all: --python-version 3.12
# ...` (mpi4py, cffi, pycparser, pytest-mpi, hypothesis, sortedcontainers, attrs, mpich,
# openmpi).
export PYTHONUNBUFFERED=1 MPICOMM_CACHE_DIR=${MPICOMM_CACHE_DIR:-/tmp/mcache}
WHEELS=${WHEELS:-.whl}
OUT=${OUT:-.}
if [ -z "$GPU_CMD" ]; then
  echo "gpu_run.sh: set GPU_CMD to the command to run under each MPI (or device)" >&2
  exit 2
fi
if [ "$GPU_CMD" = device ]; then
  GPU_CMD='for n in 1 2; do mpicomm run -n $n -- $V/bin/python -m pytest -q --with-mpi \
      -p no:cacheprovider tests/device || exit 1; done
    $V/bin/python -m pytest -q -p no:cacheprovider tests/test_device.py || exit 1
    $V/bin/python benchmarks/kind_cost.py
    mpicomm run -n 2 -- $V/bin/python benchmarks/gpu_bench.py --json $OUT/gpu-bench-$mpi.json'
fi
nvidia-smi -L || echo "gpu_run.sh: no nvidia-smi (MPICOMM_DEVICE=${MPICOMM_DEVICE:-unset})"
SP=$(python3 -c 'import site; print(site.getsitepackages()[0])')
for mpi in ${MPIS:-mpich openmpi}; do
  V=/tmp/v-$mpi
  if [ ! -x $V/bin/mpicomm ]; then
    python3 -m venv $V || exit 1
    echo "$SP" > "$($V/bin/python -c 'import site; print(site.getsitepackages()[0])')/image.pth"
    $V/bin/pip install -q --no-index --no-deps $WHEELS/mpi4py-*.whl $WHEELS/cffi-*.whl \
        $WHEELS/pycparser-*.whl $WHEELS/pytest_mpi-*.whl $WHEELS/$mpi-*.whl \
        $(ls $WHEELS/hypothesis-*.whl $WHEELS/sortedcontainers-*.whl $WHEELS/attrs-*.whl \
          2>/dev/null) || exit 1
    rm -rf build && $V/bin/pip install -q --no-index --no-deps --no-build-isolation . || exit 1
    PATH=$V/bin:$PATH $V/bin/mpicomm build || exit 1
  fi
  echo "=== $mpi"
  (export PATH=$V/bin:$PATH V mpi; eval "$GPU_CMD") || exit 1
done
