#!/usr/bin/env python3
"""Run a command with this rank's stdout and stderr in files of their own.

    mpiexec -n N python tests/rank_output.py OUTDIR -- CMD ARGS...

writes OUTDIR/rank<r>.out and OUTDIR/rank<r>.err (r from the launcher's
environment), so that tests read each rank's output whole instead of the
launcher's interleaving of all of them. Replaces itself with CMD (exec), so the
launcher's descriptors (MPICH's PMI_FD) and CMD's exit status pass through.
"""
import os
import sys

RANK_VARS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")


def main(argv):
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: rank_output.py OUTDIR -- CMD ARGS...")
    rank = next((os.environ[v] for v in RANK_VARS if v in os.environ), None)
    if rank is None:
        sys.exit(f"rank_output.py: none of {', '.join(RANK_VARS)} is set")
    os.makedirs(argv[0], exist_ok=True)
    base = os.path.join(argv[0], f"rank{rank}")
    for fd, suffix in ((1, ".out"), (2, ".err")):
        f = os.open(base + suffix, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(f, fd)
        os.close(f)
    os.execvp(argv[2], argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
