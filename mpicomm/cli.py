"""The mpicomm command line: build, preload-path, run, measure, codegen, info."""
import argparse
import os
import platform
import shlex
import subprocess
import sys

import mpicomm
from mpicomm import build, installation, launch

# measure and model (numpy, h5py) are imported by the commands that use them: `mpicomm
# run` starts every job, and would pay for them at every launch.


def _cmd_build(args):
    meta = build.build(mpicc=args.mpicc, force=args.force, nvcc=args.nvcc)
    print(meta["library"])
    return 0


def _cmd_preload_path(args):
    print(build.preload_path(mpicc=args.mpicc))
    return 0


def _cmd_run(args):
    argv = args.command[1:] if args.command[:1] == ["--"] else args.command
    cmd, env = launch.command(args.n, argv, interposer=not args.no_interposer,
                              mpiexec_args=shlex.split(args.mpiexec_args or ""), ft=args.ft,
                              launcher=args.launcher,
                              srun_args=shlex.split(args.srun_args or ""))
    if args.verbose:
        print("mpicomm run:", " ".join(shlex.quote(c) for c in cmd), file=sys.stderr)
    try:
        return subprocess.call(cmd, env=env)
    except KeyboardInterrupt:
        return 130


def _cmd_measure(args):
    from mpicomm import measure
    out = measure.run(args.output, quick=args.quick, reps=args.reps,
                      mpiexec_args=shlex.split(args.mpiexec_args or ""), verbose=args.verbose)
    print(out)
    return 0


def _model_rows(inst):
    from mpicomm import model
    chosen, explicit = model.path(inst.vendor)
    builtin = (f"built-in defaults: {model.BUILTIN.get(inst.vendor, 'pass through')}; "
               "between nodes: "
               f"{model.BUILTIN_INTERNODE.get(inst.vendor, 'pass through')}")
    if chosen is None:
        return [("model", f"{builtin} (MPICOMM_MODEL=builtin)")]
    if not chosen.exists():
        how = "MPICOMM_MODEL" if explicit else "run `mpicomm measure` to make one"
        return [("model", f"{builtin}; no file at {chosen} ({how})")]
    lines = model.summary(chosen, inst.vendor, inst.library_version)
    return [("model", lines[0])] + [("", line) for line in lines[1:]]


def _cmd_codegen(args):
    from mpicomm import codegen
    if args.what == "halo":
        src = codegen.halo(args.dims, args.ghost, args.neighbors, args.dtype, args.lang,
                           args.prefix, exchange=args.exchange)
    else:
        src = codegen.datatype(args.shape, args.section, args.dtype, args.order, args.lang,
                               args.name)
    if not args.output or args.output == "-":
        sys.stdout.write(src)
        return 0
    if os.path.exists(args.output) and not args.force:
        raise ValueError(f"{args.output} exists: refusing to overwrite it (--force to replace)")
    # Written beside the target and moved in place: an interrupted run leaves no half file.
    tmp = f"{args.output}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.write(src)
        os.replace(tmp, args.output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(args.output)
    return 0


def _launcher_row(inst):
    try:
        which = launch.choose()
    except ValueError as exc:
        return f"none: {exc}"
    where = (f"inside Slurm job {os.environ['SLURM_JOB_ID']}" if launch.in_allocation()
             else "outside a Slurm allocation")
    if which == "srun":
        pmi = launch.SRUN_PMI.get(inst.vendor)
        return f"srun{f' --mpi={pmi}' if pmi else ''} ({where})"
    return f"mpiexec ({where})"


def _cuda_row():
    try:
        aware = installation.cuda_aware()
    except installation.MPINotFound as exc:
        return f"unknown (the query failed: {str(exc).splitlines()[-1]})"
    if aware is None:
        return "unknown (the MPI has no MPIX_Query_cuda_support)"
    return (f"{'yes' if aware else 'no'} (MPIX_Query_cuda_support; mpicomm.collectives "
            "stages device arrays through host either way)")


def _cuda_kernels_row(meta):
    cuda = meta["cuda_kernels"]
    if not cuda and meta.get("cuda_error"):
        why = meta["cuda_error"].splitlines()[0]
        return f"no ({why}: device buffers are packed through host memory)"
    if not cuda:
        return ("no (no nvcc found at build: device buffers are packed through host "
                "memory)")
    row = (f"yes ({cuda['kernels']} generated, {cuda['nvcc_version']}, "
           f"sm_{', sm_'.join(map(str, cuda['archs']))})")
    return row + _kernels_driver_check(cuda["library"])


def _kernels_driver_check(library):
    """Whether this machine's CUDA driver runs kernels of the CUDA version they were built
    with (a driver older than the kernels fails every launch)."""
    import ctypes
    try:
        driver = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return ""
    version = ctypes.c_int(0)
    if driver.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return ""
    try:
        built = ctypes.CDLL(library).mpik_cuda_runtime_version()
    except (OSError, AttributeError) as exc:
        return f"; its library does not load here ({exc}): device buffers are packed on the host"
    have, need = version.value, built
    if have < need:
        return (f"; this driver supports CUDA {have // 1000}.{have % 1000 // 10}, older than "
                f"the kernels' CUDA {need // 1000}.{need % 1000 // 10}: device buffers are "
                "packed through host memory (update the driver, or build with an older nvcc)")
    return f"; the driver supports CUDA {have // 1000}.{have % 1000 // 10}"


def _gpu_row():
    """The GPUs the CUDA driver sees, asked through the driver itself (no toolkit needed)."""
    import ctypes
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "none (no CUDA driver)"
    count = ctypes.c_int(0)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return "none (the CUDA driver sees no device)"
    names = []
    for i in range(count.value):
        dev, name = ctypes.c_int(0), ctypes.create_string_buffer(256)
        if cuda.cuDeviceGet(ctypes.byref(dev), i) == 0 and \
                cuda.cuDeviceGetName(name, 256, dev) == 0:
            names.append(name.value.decode(errors="replace"))
    return f"{count.value} ({', '.join(names)})" if names else "none"


def _cmd_info(args):
    inst = installation.probe()
    rows = [
        ("mpicomm", mpicomm.__version__),
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("mpi4py", inst.mpi4py),
        ("MPI", f"{inst.vendor} {inst.version} (MPI standard {inst.std_version[0]}."
                f"{inst.std_version[1]})"),
        ("libmpi", inst.libmpi),
        ("CUDA-aware", _cuda_row()),
        ("GPU", _gpu_row()),
        ("device", os.environ.get("MPICOMM_DEVICE") or "cuda (MPICOMM_DEVICE unset)"),
    ]
    for tool in ("mpicc", "mpiexec"):
        try:
            rows.append((tool, inst.tool(tool)))
        except installation.MPINotFound as exc:
            rows.append((tool, f"not found ({exc})"))
    rows.append(("launcher", _launcher_row(inst)))
    try:
        meta = build.build(inst=inst, quiet=True) if not args.no_build else None
    except build.BuildError as exc:
        meta = None
        rows.append(("interposer", f"not built: {exc}"))
    if meta:
        rows += [
            ("interposer", meta["library"]),
            ("built against", f"{meta['mpi_vendor']} {meta['mpi_version']} ({meta['mpicc']})"),
            ("CPU kernels", f"yes ({meta['cpu_kernels']} generated)"),
            ("CUDA kernels", _cuda_kernels_row(meta)),
            ("Fortran", f"{meta['fortran_entry_points']} entry points of its own, for the "
                        "MPI binding's calls that skip the C functions; the rest go "
                        "through the C wrappers" if meta.get("fortran_entry_points")
             else "through the MPI's C functions (its binding calls them)"),
            ("HDF5 (model)", meta.get("hdf5") or "none found: the interposer cannot read a model"),
        ]
    rows += _model_rows(inst)
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")
    return 0


def parser():
    p = argparse.ArgumentParser(prog="mpicomm", description=mpicomm.__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"mpicomm {mpicomm.__version__}")
    sub = p.add_subparsers(dest="cmd", required=True)

    b = sub.add_parser("build", help="build the interposer for the installed MPI")
    b.add_argument("--mpicc", help="MPI C compiler to build with (default: the installed MPI's)")
    b.add_argument("--force", action="store_true", help="rebuild even if a build is cached")
    b.add_argument("--nvcc", help="CUDA compiler for the device kernels (default: MPICOMM_NVCC, "
                                  "else nvcc on PATH or in /usr/local/cuda; off: none)")
    b.set_defaults(func=_cmd_build)

    pp = sub.add_parser("preload-path", help="print the interposer built for the installed MPI")
    pp.add_argument("--mpicc", help="MPI C compiler to build with if no build is cached")
    pp.set_defaults(func=_cmd_preload_path)

    r = sub.add_parser("run", help="run a command on N ranks with the interposer preloaded",
                       usage="mpicomm run [-n N] [--launcher L] [--no-interposer] [--ft] "
                             "[--mpiexec-args ARGS] [--srun-args ARGS] [-v] -- CMD [ARGS...]")
    r.add_argument("-n", type=int, help="number of ranks (required outside a Slurm "
                   "allocation; inside one, default SLURM_NTASKS)")
    r.add_argument("--launcher", choices=launch.LAUNCHERS,
                   help="mpiexec, srun, or auto: srun inside a Slurm allocation, else mpiexec "
                        "(default: MPICOMM_LAUNCHER, else auto)")
    r.add_argument("--no-interposer", action="store_true", help="run without the interposer")
    r.add_argument("--ft", action="store_true",
                   help="let the job survive failed ranks (Open MPI ULFM; see mpicomm.ft)")
    r.add_argument("--mpiexec-args", help="extra arguments for mpiexec, as one string")
    r.add_argument("--srun-args", help="extra arguments for srun, as one string")
    r.add_argument("-v", "--verbose", action="store_true", help="print the launch command")
    r.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    r.set_defaults(func=_cmd_run)

    m = sub.add_parser("measure", help="measure this system and write the model auto uses",
                       usage="mpicomm measure [-o FILE] [--quick] [--reps N] "
                             "[--mpiexec-args ARGS] [-v]")
    m.add_argument("-o", "--output", help="model file to write (default: the per-user model "
                   "the interposer reads, <cache>/models/<mpi>.h5)")
    m.add_argument("--quick", action="store_true", help="a small grid (seconds, for tests)")
    m.add_argument("--reps", type=int, default=5, help="repetitions, best kept (default 5)")
    m.add_argument("--mpiexec-args", help="extra arguments for mpiexec, as one string")
    m.add_argument("-v", "--verbose", action="store_true", help="print the mpiexec command")
    m.set_defaults(func=_cmd_measure)

    g = sub.add_parser("codegen", help="generate MPI code for your program: halo exchange, "
                       "array-section datatypes (C, Python or Fortran)")
    gsub = g.add_subparsers(dest="what", required=True)
    for name, helptext in (("halo", "halo exchange of a 1-3 D array with ghost cells"),
                           ("datatype", "the datatype of an array section (numpy indexing)")):
        gp = gsub.add_parser(name, help=helptext)
        if name == "halo":
            gp.add_argument("--dims", type=int, required=True, help="1, 2 or 3")
            gp.add_argument("--ghost", type=int, default=1, help="ghost cells per side (1)")
            gp.add_argument("--neighbors", default="faces",
                            help="faces (2 per dimension) or all (3^dims - 1) (faces)")
            gp.add_argument("--prefix", default="halo", help="names' prefix (halo)")
            gp.add_argument("--exchange", default="isend",
                            help="isend (Isend/Irecv per neighbour) or alltoallw (one "
                                 "MPI_Neighbor_alltoallw; faces, C and Python) (isend)")
        else:
            gp.add_argument("--shape", required=True, help="array sizes, e.g. 64,64,64")
            gp.add_argument("--section", required=True,
                            help="numpy-style index, e.g. ':,:,0:2' or '1:-1:2, 5'")
            gp.add_argument("--order", default="C", help="C (row-major) or F (column-major)")
            gp.add_argument("--name", default="section", help="the function's name (section)")
        gp.add_argument("--dtype", default="float64",
                        help="float32, float64, int32 or int64 (float64)")
        gp.add_argument("--lang", default="c", help="c (a header), python or fortran (c)")
        gp.add_argument("-o", "--output", help="file to write (default: standard output)")
        gp.add_argument("--force", action="store_true", help="replace an existing file")
        gp.set_defaults(func=_cmd_codegen)

    i = sub.add_parser("info", help="versions, the MPI in use, and the interposer build")
    i.add_argument("--no-build", action="store_true", help="do not build the interposer")
    i.set_defaults(func=_cmd_info)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (RuntimeError, ValueError) as exc:
        print(f"mpicomm {args.cmd}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
