#!/bin/sh
# PyTorch for mpicomm.torch and its tests, into the environment of the Python given:
# a CPU build where one is at hand (a torch wheel in a folder of PIP_FIND_LINKS, as
# machines without a GPU keep one), else PyPI's torch (with its CUDA libraries, several
# GB). Nothing is done where torch is already installed.
set -e
python=${1:?usage: install_torch.sh PYTHON}
if "$python" -c "import torch" 2>/dev/null; then
    exit 0
fi
tag=$("$python" -c "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')")
for dir in $(echo "${PIP_FIND_LINKS:-}" | tr ' ,' '  ') /opt/wheels; do
    for wheel in "$dir"/torch-*+cpu-"$tag"-*.whl; do
        if [ -f "$wheel" ]; then
            echo "installing $(basename "$wheel")"
            exec "$python" -m pip install -q "$wheel"
        fi
    done
done
echo "installing torch from PyPI (no CPU build at hand: several GB with its CUDA libraries)"
exec "$python" -m pip install -q "torch>=2.1"
