"""Code generation: the interposer's kernels (genpup.py, at build time; build_core.py
builds the cffi core) and code for users' programs (genhalo.py: halo exchanges;
gentype.py: array-section datatypes; gencode.py: what they share). Installed as
mpicomm._codegen; used through mpicomm.codegen and `mpicomm codegen`."""
