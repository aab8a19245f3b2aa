#!/usr/bin/env python3
"""Fetch the test suite of the installed mpi4py (it ships only in the sdist).

Downloads mpi4py-<version>.tar.gz from the package index, checks its sha256
against the index, and extracts test/ into DEST/mpi4py-<version>/. Prints that
folder. Does nothing if it is already there.

Usage: fetch_mpi4py_suite.py DEST [--index URL]
"""
import argparse
import hashlib
import io
import os
import re
import sys
import tarfile
import urllib.request


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest")
    ap.add_argument("--index", default=os.environ.get("MPICOMM_PYPI_SIMPLE",
                                                      "https://pypi.org/simple"))
    args = ap.parse_args(argv)
    import mpi4py
    version = mpi4py.__version__
    target = os.path.join(args.dest, f"mpi4py-{version}")
    if os.path.exists(os.path.join(target, "test", "main.py")):
        print(target)
        return 0
    name = f"mpi4py-{version}.tar.gz"
    page = urllib.request.urlopen(f"{args.index}/mpi4py/", timeout=120).read().decode()
    m = re.search(r'href="([^"]*/' + re.escape(name) + r')#sha256=([0-9a-f]{64})"', page)
    if not m:
        print(f"fetch_mpi4py_suite: {name} not listed at {args.index}/mpi4py/", file=sys.stderr)
        return 1
    data = urllib.request.urlopen(m.group(1), timeout=300).read()
    if hashlib.sha256(data).hexdigest() != m.group(2):
        print(f"fetch_mpi4py_suite: sha256 mismatch for {name}", file=sys.stderr)
        return 1
    tmp = target + ".part"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = [t for t in tar.getmembers()
                   if t.name.startswith(f"mpi4py-{version}/test/") and t.isfile()]
        for t in members:
            t.name = t.name[len(f"mpi4py-{version}/"):]
            tar.extract(t, tmp)
    os.replace(tmp, target)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
