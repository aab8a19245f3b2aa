#!/bin/sh
# Install what a fresh Debian/Ubuntu machine lacks to build mpicomm: venv support,
# a C compiler and the Python headers. Does nothing when they are there.
set -e
PYTHON=${PYTHON:-python3}
need=""
$PYTHON -c "import venv, ensurepip" 2>/dev/null || need="$need python3-venv"
command -v cc >/dev/null 2>&1 || need="$need gcc libc6-dev"
command -v nm >/dev/null 2>&1 || need="$need binutils"
inc=$($PYTHON -c "import sysconfig; print(sysconfig.get_paths()['include'])")
[ -f "$inc/Python.h" ] || need="$need python3-dev"
[ -z "$need" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "prereqs: missing:$need (install them, or run as root on Debian/Ubuntu)" >&2
    exit 1
fi
echo "prereqs: installing$need"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $need >/dev/null
