"""What the tests need and the product does not: the test Slurm cluster, the reference
model of typemaps, random type specifications and datatypes, helpers, and the programs
the tests launch. Imported as `support` by the tests (pyproject.toml puts tests/ on pytest's path) and
as `tests.support` from the repository's root (benchmarks: `python -m benchmarks.NAME`)."""
