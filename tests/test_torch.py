"""mpicomm.torch as a package user meets it: torch is needed only by mpicomm.torch."""
import subprocess
import sys


def test_import_mpicomm_does_not_import_torch():
    code = ("import sys, mpicomm, mpicomm.collectives, mpicomm.coding; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd="/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
