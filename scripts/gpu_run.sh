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
# GPU_CMD=device runs the device checks under each MPI, each step's output also in
# $OUT/gpu-run-$mpi.log: the GPU, driver, nvcc and `mpicomm info` (the run fails unless
# the CUDA kernels were built); tests/device at 1 and 2 ranks (sharing the GPU) with
# MPICOMM_STATS=1 (the run fails if they launched no kernel); tests/test_device.py;
# benchmarks/kind_cost.py; `mpicomm measure` with the device tables ($OUT/model-$mpi.h5,
# $MEASURE_ARGS); and benchmarks/gpu_bench.py on 2 ranks under that model
# ($OUT/gpu-bench-$mpi.json, $GPU_BENCH_ARGS): three files per MPI. Rehearse it without a
# GPU under MPICOMM_DEVICE=sim (with MEASURE_ARGS=--quick GPU_BENCH_ARGS="--quick --halo
# 24": the simulated device runs kernels thread by thread), e.g. in make's environments:
#
#   V_ROOT=$PWD/.venv- MPICOMM_DEVICE=sim MEASURE_ARGS=--quick \
#       GPU_BENCH_ARGS="--quick --halo 24" GPU_CMD=device OUT=/tmp/out scripts/gpu_run.sh
#
# mpicomm is installed from this checkout and the interposer rebuilt on every run (a fix
# between two runs is what runs), in the environment $V_ROOT$mpi (default /tmp/v-$mpi,
# made from $WHEELS when missing). nvcc: the machine's (PATH, /usr/local/cuda), else
# NVIDIA's nvidia-cuda-nvcc and nvidia-cuda-runtime wheels from $WHEELS.
#
# Any other GPU_CMD runs in a subshell per MPI with PATH starting at that environment's
# bin and V naming the environment. The wheels: see the device tool's notes (pip download
# --no-deps --only-binary=:all: --python-version 3.12 ... mpi4py, cffi, pycparser,
# pytest-mpi, mpich, openmpi; hypothesis, sortedcontainers and attrs where the machine
# lacks them).
export PYTHONUNBUFFERED=1 MPICOMM_CACHE_DIR=${MPICOMM_CACHE_DIR:-/tmp/mcache}
WHEELS=${WHEELS:-.whl}
OUT=${OUT:-.}
if [ -z "$GPU_CMD" ]; then
  echo "gpu_run.sh: set GPU_CMD to the command to run under each MPI (or device)" >&2
  exit 2
fi
if [ "$GPU_CMD" = device ]; then
  GPU_CMD='set -o pipefail; {
    echo "--- $mpi: machine"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    nvcc --version 2>/dev/null | tail -2 || true
    mpicomm info | tee /tmp/info-$mpi.txt
    grep -q "^CUDA kernels *yes" /tmp/info-$mpi.txt ||
        { echo "gpu_run.sh: no CUDA kernels built"; exit 1; }
    echo "--- $mpi: tests/device, 1 and 2 ranks"
    for n in 1 2; do MPICOMM_STATS=1 mpicomm run -n $n -- $V/bin/pytest -q --with-mpi \
        -p no:cacheprovider tests/device 2>&1 | tee /tmp/device-$mpi-$n.log || exit 1; done
    launched=$(sed -n "s/.*\"kernel_launches\": \([0-9]*\).*/\1/p" /tmp/device-$mpi-*.log |
               awk "{s += \$1} END {print s + 0}")
    echo "kernel launches on the GPU: $launched"
    [ "$launched" -gt 0 ] || { echo "gpu_run.sh: no kernel ran on the GPU"; exit 1; }
    echo "--- $mpi: tests/test_device.py"
    $V/bin/pytest -q -p no:cacheprovider tests/test_device.py || exit 1
    if $V/bin/python -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
      echo "--- $mpi: mpicomm.torch on the GPU, 2 ranks"
      mpicomm run -n 2 -- $V/bin/pytest -q --with-mpi -p no:cacheprovider \
          tests/mpi/test_torch_mpi.py -k cuda -rs || exit 1
    else
      echo "--- $mpi: mpicomm.torch on the GPU: not run, no torch with CUDA on this machine"
    fi
    echo "--- $mpi: benchmarks/kind_cost.py"
    $V/bin/python benchmarks/kind_cost.py
    echo "--- $mpi: mpicomm measure"
    rm -f $OUT/model-$mpi.h5
    mpicomm measure --reps 3 $MEASURE_ARGS -o $OUT/model-$mpi.h5 || exit 1
    MPICOMM_MODEL=$OUT/model-$mpi.h5 mpicomm info | sed -n "/^model/,\$p"
    echo "--- $mpi: benchmarks/gpu_bench.py"
    MPICOMM_MODEL=$OUT/model-$mpi.h5 mpicomm run -n 2 -- $V/bin/python benchmarks/gpu_bench.py \
        $GPU_BENCH_ARGS --json $OUT/gpu-bench-$mpi.json || exit 1
  } 2>&1 | tee $OUT/gpu-run-$mpi.log'
fi
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
nvidia-smi -L || echo "gpu_run.sh: no nvidia-smi (MPICOMM_DEVICE=${MPICOMM_DEVICE:-unset})"
SP=$(python3 -c 'import site; print(site.getsitepackages()[0])')
NVCC=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
for mpi in ${MPIS:-mpich openmpi}; do
  V=${V_ROOT:-/tmp/v-}$mpi
  if [ ! -x $V/bin/python ]; then
    python3 -m venv $V || exit 1
    echo "$SP" > "$($V/bin/python -c 'import site; print(site.getsitepackages()[0])')/image.pth"
    $V/bin/pip install -q --no-index --no-deps $WHEELS/mpi4py-*.whl $WHEELS/cffi-*.whl \
        $WHEELS/pycparser-*.whl $WHEELS/pytest_mpi-*.whl $WHEELS/$mpi-*.whl \
        $(ls $WHEELS/hypothesis-*.whl $WHEELS/sortedcontainers-*.whl $WHEELS/attrs-*.whl \
          $WHEELS/nvidia_cuda_nvcc*.whl $WHEELS/nvidia_cuda_runtime*.whl 2>/dev/null) || exit 1
  fi
  rm -rf build && $V/bin/pip install -q --no-index --no-deps --no-build-isolation \
      --force-reinstall . || exit 1
  PATH=$V/bin:$PATH $V/bin/mpicomm build --force ${NVCC:+--nvcc $NVCC} || exit 1
  echo "=== $mpi"
  (export PATH=$V/bin:$PATH V mpi OUT; eval "$GPU_CMD") || exit 1
done
