#!/bin/sh
# Install what a fresh Debian/Ubuntu machine lacks to build and test mpicomm: venv
# support, a C compiler and the Python headers (required); gfortran and the
# distribution's MPICH and Open MPI with their Fortran bindings, which the Fortran
# tests use because the PyPI MPI wheels have none (installed when this runs as root
# with apt-get; otherwise those tests skip, naming what is missing); and Slurm's
# daemons, clients and headers (libslurm-dev, for the SPANK plugin) with munge, which
# the Slurm tests start as a one-node cluster of their own (slurm/slurm_cluster.py;
# they skip likewise); and g++, the host compiler nvcc drives to build the CUDA kernels
# (the nvcc of the mpicomm[cuda] wheels included; without it that test skips). Does
# nothing when everything is there. PREREQS=required (make demo) installs only the
# required ones and names the others.
set -e
PYTHON=${PYTHON:-python3}
need=""
$PYTHON -c "import venv, ensurepip" 2>/dev/null || need="$need python3-venv"
command -v cc >/dev/null 2>&1 || need="$need gcc libc6-dev"
command -v nm >/dev/null 2>&1 || need="$need binutils"
inc=$($PYTHON -c "import sysconfig; print(sysconfig.get_paths()['include'])")
[ -f "$inc/Python.h" ] || need="$need python3-dev"
want=""
command -v gfortran >/dev/null 2>&1 || want="$want gfortran"
command -v g++ >/dev/null 2>&1 || want="$want g++"
command -v mpif90.mpich >/dev/null 2>&1 || want="$want libmpich-dev"
command -v mpif90.openmpi >/dev/null 2>&1 || want="$want libopenmpi-dev"
[ -x /usr/sbin/slurmd ] || want="$want slurmd"
[ -x /usr/sbin/slurmctld ] || want="$want slurmctld"
command -v srun >/dev/null 2>&1 || want="$want slurm-client"
[ -x /usr/sbin/munged ] || want="$want munge"
[ -f /usr/include/slurm/spank.h ] || want="$want libslurm-dev"
if [ "${PREREQS:-all}" = required ] && [ -n "$want" ]; then
    echo "prereqs: not installing$want (the Fortran and Slurm tests' packages: make test does)" >&2
    want=""
fi
[ -z "$need$want" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    [ -n "$want" ] && echo "prereqs: without$want the Fortran or Slurm tests skip" >&2
    [ -z "$need" ] && exit 0
    echo "prereqs: missing:$need (install them, or run as root on Debian/Ubuntu)" >&2
    exit 1
fi
echo "prereqs: installing$need$want"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need $want >/dev/null
