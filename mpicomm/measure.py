"""`mpicomm measure`: time this system's MPI and the interposer, write the model file.

The command launches this module on 2 ranks of one node (`mpiexec -n 2`, interposer
preloaded) and moves the file into place only when the run succeeded, so a failed or
interrupted measurement never replaces a good model. Rank 0 measures the generated
pack/unpack kernels alone; both ranks then time a ping-pong of contiguous bytes by
size, and of a strided layout (blocks of b bytes at a stride of max(b + 64, class), elements
of b bytes up to a double) over the block x stride x size grid: the MPI's own
derived-type path with the layout built as one vector and as a vector of vectors of 64
blocks (MPIs move a type by its construction), and the pack method, the three in
rotating order, each as a ping-pong (blocking calls, one message at a time) and as an
exchange (both ranks Isend and Irecv at once, as a halo exchange does), and, at the least stride and sizes of two chunks or more, the pipelined
method; best of --reps. Points whose layout would span more than 64 MiB are not
measured (NaN in the file; the interposer takes the nearest measured size). Where a
device is usable (a GPU with CuPy, or the simulated device under MPICOMM_DEVICE=sim),
it also times, on a smaller grid, the device kernels alone, device-to-host copies, and
a ping-pong of a device buffer of the same vector types with each device method
(staged, oneshot; device where the MPI is CUDA-aware).

In a Slurm allocation of two nodes or more it then times the same host grid between
two ranks on different nodes (one on each of the first two), into the file's
`internode` group, with the nodes' names and the interconnect as the MPI reports it:
`auto` answers from it for peers on other nodes. See mpicomm.model for the layout.
"""
import argparse
import datetime
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from mpicomm import installation, launch, measure_alltoall, model

BLOCKS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
TOTALS = (1 << 12, 1 << 13, 1 << 14, 1 << 16, 1 << 18, 1 << 20, 1 << 22, 1 << 24)
# Stride classes: block b is measured at a stride of max(b + DENSE_GAP, class). The least
# keeps blocks under 64 B each on cache lines of their own (closer, they would sit in
# cache and flatter whichever method packs), and longer blocks nearly touching, as rows
# of an array's interior do; the others reach a page and beyond (a 3-D array's x face).
# Powers of two, as the rows of arrays are: their cache-set conflicts slow both methods,
# and the MPI overlaps its copies where packing cannot.
STRIDES = (128, 512, 2048, 8192, 65536)
DENSE_GAP = 64
NESTED = 64         # the nested construction: vectors of this many blocks, repeated
SPAN_CAP = 64 << 20
QUICK_BLOCKS = (8, 1024)
QUICK_STRIDES = (128, 8192)
QUICK_TOTALS = (1 << 14, 1 << 18)
PINGPONG = (8, 1 << 10, 1 << 14, 1 << 18, 1 << 22)
DEVICE_BLOCKS = (8, 64, 512, 4096)
DEVICE_TOTALS = (1 << 16, 1 << 20, 1 << 24)
# The simulated device runs kernels thread by thread: the quick grid, always.
DEVICE_QUICK_BLOCKS = (8, 1024)
DEVICE_QUICK_TOTALS = (1 << 14, 1 << 18)


# The launcher (the `mpicomm measure` command) ------------------------------------------

def run(output=None, quick=False, reps=5, mpiexec_args=(), verbose=False):
    """Measure and write the model to output (default: the per-user model); its path."""
    inst = installation.probe()
    output = Path(output) if output else model.default_path(inst.vendor)
    if output.exists():
        try:
            model.read(output)
        except model.ModelError as exc:
            raise ValueError(f"refusing to overwrite {output}: {exc}") from exc
    if reps < 1:
        raise ValueError(f"--reps must be at least 1, got {reps}")
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=".measure-", suffix=".h5")
    os.close(fd)
    try:
        argv = [sys.executable, "-m", "mpicomm.measure", "--out", tmp, "--reps", str(reps)]
        quick_arg = ["--quick"] if quick else []

        def step(what, nprocs, args, **where):
            """One launch of the worker; a failed one leaves output as it was."""
            cmd, env = launch.command(nprocs, argv + args, inst=inst,
                                      env_vars={"MPICOMM_MODEL": "builtin"}, **where)
            if verbose:
                print("mpicomm measure:", " ".join(shlex.quote(c) for c in cmd),
                      file=sys.stderr)
            # Run from the output's folder: a source checkout in the current folder would
            # shadow the installed package in the ranks.
            if subprocess.call(cmd, env=env, cwd=output.parent) != 0:
                raise RuntimeError(f"{what} failed (see its output above); {output} is "
                                   "unchanged")

        step("the measurement run", 2, quick_arg, mpiexec_args=mpiexec_args, one_node=True)
        # The all-to-alls at more ranks, then the grid between two nodes, added to the
        # same file.
        srun = launch.choose(None) == "srun"
        for ranks in ([] if quick else measure_alltoall.RANKS[1:]):
            room = launch.node_tasks() if srun else None
            if room is not None and room < ranks:
                print(f"mpicomm measure: the all-to-alls at {ranks} ranks need {ranks} tasks on "
                      f"one node, and this allocation has {room}: measured at 2 ranks only",
                      file=sys.stderr, flush=True)
                continue
            step(f"the measurement of the all-to-alls at {ranks} ranks", ranks, ["--alltoalls"],
                 mpiexec_args=mpiexec_args, one_node=True)
        if srun and launch.allocation_nodes() >= 2:
            print("mpicomm measure: between two nodes", file=sys.stderr, flush=True)
            step("the measurement between two nodes", 2, ["--internode"] + quick_arg,
                 spread=True)
        model.read(tmp)
        os.replace(tmp, output)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return output


# The worker (rank 0 and rank 1 under mpiexec) --------------------------------------------

def _best(comm, fn, reps):
    """Best (lowest) time of fn over reps, both ranks in step; the slower rank counts."""
    from mpi4py import MPI
    best = float("inf")
    for _ in range(reps):
        comm.Barrier()
        t = time.perf_counter()
        fn()
        best = min(best, comm.allreduce(time.perf_counter() - t, op=MPI.MAX))
    return best


def _pingpong(comm, buf, count, dt, trips):
    peer = 1 - comm.Get_rank()
    for _ in range(trips):
        if comm.Get_rank() == 0:
            comm.Send([buf, count, dt], peer, 7)
            comm.Recv([buf, count, dt], peer, 7)
        else:
            comm.Recv([buf, count, dt], peer, 7)
            comm.Send([buf, count, dt], peer, 7)


def _methods(comm, ip, names, reps, buf, dt, trips):
    """{method: best one-way seconds} of a ping-pong of one dt from buf with each method,
    the methods in rotating order in each of reps rounds."""
    best = dict.fromkeys(names, float("inf"))
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            with ip.method(name):
                t = _best(comm, lambda: _pingpong(comm, buf, 1, dt, trips), 1)
            best[name] = min(best[name], t / trips / 2)
    return best


def _stride(block, cls=STRIDES[0]):
    return max(block + DENSE_GAP, cls)


def _vector(block, total, cls=STRIDES[0], nested=False):
    """total bytes in blocks of block bytes at _stride(block, cls), of the widest element
    that fits a block (MPIs treat a double vector better than a byte one): one vector, or
    (nested) a vector of NESTED blocks repeated, the same layout."""
    from mpi4py import MPI
    elem = {1: MPI.BYTE, 2: MPI.SHORT, 4: MPI.FLOAT}.get(block, MPI.DOUBLE)
    per, n = block // elem.Get_size(), total // block
    stride = _stride(block, cls)
    if not nested or n <= NESTED:
        return elem.Create_vector(n, per, stride // elem.Get_size())
    inner = elem.Create_vector(NESTED, per, stride // elem.Get_size())
    outer = inner.Create_hvector(n // NESTED, 1, NESTED * stride)
    inner.Free()
    return outer


def _span(block, total, cls=STRIDES[0]):
    return total // block * _stride(block, cls)


def _trips(total):
    return max(2, min(200, (4 << 20) // total))


def _kernels(blocks, totals, reps):
    """Seconds to pack and to unpack each grid point with the generated kernels."""
    from mpicomm import datatypes
    from mpicomm._core import ffi, lib
    pack_s = np.zeros((len(blocks), len(totals)))
    unpack_s = np.zeros_like(pack_s)
    for i, b in enumerate(blocks):
        for j, s in enumerate(totals):
            dt = _vector(b, s)
            d = datatypes._cdesc(datatypes.describe(dt))
            dt.Free()
            src = np.ones(_span(b, s), np.uint8)
            dst = np.empty(s, np.uint8)
            ps, pd = ffi.from_buffer(src), ffi.from_buffer(dst)
            n = _trips(s)
            pack_s[i, j] = _seconds(lambda: lib.mpic_pack(d, 1, ps, pd), n, reps)
            unpack_s[i, j] = _seconds(lambda: lib.mpic_unpack(d, 1, pd, ps), n, reps)
    return pack_s, unpack_s


def _pack_calls(comm, ip, blocks, totals, reps):
    """Seconds of MPI_Pack and MPI_Unpack of each grid point, the MPI's own (the
    interposer switched to pass-through) and ours, alternating: {name: [block][total]}.
    An unpack is timed after one untimed, as a program unpacks what a receive has just
    written: the packed bytes in cache, whichever pack wrote them."""
    names = ("pack_call/mpi", "pack_call/mpicomm", "unpack_call/mpi", "unpack_call/mpicomm")
    out = {name: np.zeros((len(blocks), len(totals))) for name in names}
    for i, b in enumerate(blocks):
        for j, s in enumerate(totals):
            dt = _vector(b, s).Commit()
            src = np.ones(dt.Get_extent()[1], np.uint8)
            packed = np.empty(s, np.uint8)
            n = _trips(s)
            calls = {"pack_call": lambda: dt.Pack(src, packed, 0, comm),
                     "unpack_call": lambda: dt.Unpack(packed, 0, src, comm)}
            for rep in range(reps):
                for ours in ((0, 1) if rep % 2 else (1, 0)):
                    with (ip.method("auto") if ours else ip.disabled()):
                        for kind, call in calls.items():
                            name = f"{kind}/{'mpicomm' if ours else 'mpi'}"
                            if kind == "unpack_call":
                                call()
                            t = _seconds(call, n, 1)
                            out[name][i, j] = t if rep == 0 else min(out[name][i, j], t)
            dt.Free()
    return out


def worker(argv=None):
    from mpi4py import MPI
    from mpicomm.interposer import Interposer
    ap = argparse.ArgumentParser(prog="python -m mpicomm.measure")
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--alltoalls", action="store_true",
                    help="time the all-to-alls alone at this job's size, into --out")
    ap.add_argument("--internode", action="store_true",
                    help="time the host grid between two nodes, into --out's internode group")
    args = ap.parse_args(argv)
    if args.alltoalls:
        return alltoall_worker(args)
    comm = MPI.COMM_WORLD
    if comm.Get_size() != 2:
        sys.exit("mpicomm measure: the worker runs on exactly 2 ranks")
    if args.internode:
        return internode_worker(comm, args)
    ip = Interposer()
    rank0 = comm.Get_rank() == 0
    blocks, totals = (QUICK_BLOCKS, QUICK_TOTALS) if args.quick else (BLOCKS, TOTALS)

    # 1. The kernels alone, and MPI_Pack/MPI_Unpack the MPI's way and ours (rank 0).
    pack_s, unpack_s = _kernels(blocks, totals, args.reps) if rank0 else (None, None)
    pack_calls = _pack_calls(comm, ip, blocks, totals, args.reps) if rank0 else None

    # 2., 3. Contiguous ping-pong by size, the strided grid.
    sizes, contiguous, strides, piped, chunk, times = _host_grid(comm, ip, args, blocks, totals,
                                                                 pipeline=True)

    # 4. Device buffers, where both ranks have a device.
    dev = _device_grid(comm, ip, args) if _device_backend(comm) else None

    # 5. The all-to-alls at 2 ranks.
    coll = measure_alltoall.measure(comm, ip, args.reps, args.quick, log=_log)

    # 6. Rank 0 writes the file.
    if rank0:
        _write(args.out, blocks, strides, totals, times, pack_s, unpack_s, sizes, contiguous,
               args, piped, chunk, dev, pack_calls)
        _add_alltoalls(args.out, coll, 2)
    comm.Barrier()
    return 0


def _host_grid(comm, ip, args, blocks, totals, pipeline):
    """2. Contiguous ping-pong by size, 3. the strided grid, the methods in rotating order
    (pipeline: the pipelined method too): (sizes, contiguous seconds, strides, the
    pipelined sizes, the chunk, {table: seconds})."""
    from mpi4py import MPI
    started = time.time()
    sizes = PINGPONG[:3] if args.quick else PINGPONG
    contiguous = []
    for s in sizes:
        buf = np.zeros(s, np.uint8)
        n = _trips(s)
        _pingpong(comm, buf, s, MPI.BYTE, n)                  # warm-up: connections, pages
        contiguous.append(_best(comm, lambda: _pingpong(comm, buf, s, MPI.BYTE, n),
                                args.reps) / n / 2)

    strides = QUICK_STRIDES if args.quick else STRIDES
    chunk = ip.pipeline_chunk
    piped = [s for s in totals if s >= 2 * chunk] if pipeline else []
    shape = (len(blocks), len(strides), len(totals))
    labels = ("passthrough", "nested", "pack", "ex_passthrough", "ex_nested", "ex_pack")
    times = {name: np.full(shape, np.nan) for name in labels}
    times["pipeline"] = np.zeros((len(blocks), len(piped)))
    for i, b in enumerate(blocks):
        for k, cls in enumerate(strides):
            if k and _stride(b, cls) == _stride(b, strides[k - 1]):
                for name in labels:
                    times[name][i, k] = times[name][i, k - 1]      # the same layout
                continue
            for j, s in enumerate(totals):
                if _span(b, s, cls) > SPAN_CAP:
                    continue
                best = _point(comm, ip, args.reps, b, s, cls,
                              with_pipeline=k == 0 and s in piped)
                for name in labels:
                    times[name][i, k, j] = best[name]
                if "pipeline" in best:
                    times["pipeline"][i, piped.index(s)] = best["pipeline"]
        if comm.Get_rank() == 0:
            print(f"mpicomm measure: blocks of {b} B done ({time.time() - started:.0f} s)",
                  file=sys.stderr, flush=True)
    return sizes, contiguous, strides, piped, chunk, times


def internode_worker(comm, args):
    """The host grid between two ranks on different nodes, into args.out's internode
    group (the file the run on one node wrote)."""
    from mpi4py import MPI
    from mpicomm.interposer import Interposer
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    apart = comm.allreduce(node.Get_size(), op=MPI.MAX) == 1
    node.Free()
    if not apart:
        sys.exit("mpicomm measure: the two ranks of the inter-node run share a node")
    hosts = comm.allgather(MPI.Get_processor_name())
    blocks, totals = (QUICK_BLOCKS, QUICK_TOTALS) if args.quick else (BLOCKS, TOTALS)
    sizes, contiguous, strides, _, _, times = _host_grid(comm, Interposer(), args, blocks,
                                                         totals, pipeline=False)
    if comm.Get_rank() == 0:
        import h5py
        with h5py.File(args.out, "a") as f:
            g = f.require_group("internode")
            g.attrs["hosts"] = np.bytes_(" ".join(hosts))
            g.attrs["interconnect"] = np.bytes_(interconnect(MPI.Get_library_version()))
            g.attrs["reps"] = args.reps
            _write_host(g, blocks, strides, totals, times, sizes, contiguous)
    comm.Barrier()
    return 0


# The variables by which each MPI family is told which network to take.
NETWORK_VARIABLES = ("FI_PROVIDER", "UCX_TLS", "UCX_NET_DEVICES", "MPIR_CVAR_CH4_NETMOD",
                     "MPIR_CVAR_OFI_USE_PROVIDER", "OMPI_MCA_pml", "OMPI_MCA_btl",
                     "OMPI_MCA_mtl", "OMPI_MCA_btl_tcp_if_include")


def interconnect(library):
    """The interconnect as the MPI reports it: MPICH's device line (its network modules),
    and the variables that select a network, where set; else the MPI's defaults."""
    parts = [ln.split(":", 1)[1].strip() for ln in library.splitlines()
             if ln.startswith("MPICH Device:")]
    parts += [f"{k}={os.environ[k]}" for k in NETWORK_VARIABLES if os.environ.get(k)]
    return "; ".join(parts) or "the MPI's default transports"


def _log(text):
    print(f"mpicomm measure: {text}", file=sys.stderr, flush=True)


def _add_alltoalls(path, coll, ranks):
    import h5py
    with h5py.File(path, "a") as f:
        measure_alltoall.write(f, coll, ranks)


def alltoall_worker(args):
    """The all-to-alls alone at this job's size, added to the file args.out."""
    from mpi4py import MPI
    from mpicomm.interposer import Interposer
    comm = MPI.COMM_WORLD
    coll = measure_alltoall.measure(comm, Interposer(), args.reps, args.quick, log=_log)
    if comm.Get_rank() == 0:
        _add_alltoalls(args.out, coll, comm.Get_size())
    comm.Barrier()
    return 0


def _exchange(comm, buf, out, dt, trips):
    from mpi4py import MPI
    peer = 1 - comm.Get_rank()
    for _ in range(trips):
        MPI.Request.Waitall([comm.Irecv([out, 1, dt], peer, 8),
                             comm.Isend([buf, 1, dt], peer, 8)])


def _point(comm, ip, reps, block, total, cls, with_pipeline):
    """{passthrough, nested, pack[, pipeline], and ex_ the same as an exchange: best
    one-way seconds} of one grid point."""
    flat = _vector(block, total, cls).Commit()
    nested = _vector(block, total, cls, nested=True).Commit()
    buf = np.ones(_span(block, total, cls), np.uint8)      # real pages, not the zero page
    out = np.ones_like(buf)
    n = _trips(total)
    variants = [("passthrough", "passthrough", flat), ("nested", "passthrough", nested),
                ("pack", "pack", flat)] + ([("pipeline", "pipeline", flat)] if with_pipeline
                                           else [])
    variants += [("ex_" + label, method, dt) for label, method, dt in variants[:3]]
    best = {}
    for rep in range(reps):
        k = rep % len(variants)
        for label, method, dt in variants[k:] + variants[:k]:
            with ip.method(method):
                if label.startswith("ex_"):
                    t = _best(comm, lambda: _exchange(comm, buf, out, dt, n), 1) * 2
                else:
                    t = _best(comm, lambda: _pingpong(comm, buf, 1, dt, n), 1)
            best[label] = min(best.get(label, float("inf")), t / n / 2)
    flat.Free()
    nested.Free()
    return best


def _device_backend(comm):
    """The device backend both ranks can allocate on ("cuda", "sim"), or None."""
    from mpi4py import MPI
    from mpicomm import device
    try:
        device.empty(1, np.uint8)
        ok = 1
    except Exception:           # no CuPy, no GPU, no driver, no simulated device
        ok = 0
    return device.backend() if comm.allreduce(ok, op=MPI.MIN) else None


def _device_grid(comm, ip, args):
    """The device methods' ping-pong times, the device kernels and device-to-host copies
    (rank 0), on the device grid."""
    from mpicomm import datatypes, device
    backend = device.backend()
    quick = args.quick or backend == "sim"
    blocks, totals = ((DEVICE_QUICK_BLOCKS, DEVICE_QUICK_TOTALS) if quick
                      else (DEVICE_BLOCKS, DEVICE_TOTALS))
    names = ("staged", "oneshot") + (("device",) if ip.cuda_aware else ())
    out = {"backend": backend, "name": _device_name(backend), "blocks": blocks,
           "totals": totals, "methods": {n: np.zeros((len(blocks), len(totals))) for n in names},
           "pack": np.zeros((len(blocks), len(totals))), "copy": np.zeros(len(totals))}
    started = time.time()
    for i, b in enumerate(blocks):
        for j, s in enumerate(totals):
            dt = _vector(b, s).Commit()
            buf = device.asarray(np.ones(_span(b, s), np.uint8))
            n = max(2, _trips(s) // (10 if backend == "sim" else 1))
            best = _methods(comm, ip, names, args.reps, buf, dt, n)
            for name in names:
                out["methods"][name][i, j] = best[name]
            if comm.Get_rank() == 0:
                desc = datatypes.describe(dt)
                packed = device.empty(s, np.uint8)
                src = buf.__cuda_array_interface__["data"][0]
                dst = packed.__cuda_array_interface__["data"][0]
                out["pack"][i, j] = _seconds(
                    lambda: datatypes._device_call("pack", desc, 1, src, dst), n, args.reps)
            dt.Free()
        if comm.Get_rank() == 0:
            print(f"mpicomm measure: device blocks of {b} B done ({time.time() - started:.0f} s)",
                  file=sys.stderr, flush=True)
    if comm.Get_rank() == 0:
        for j, s in enumerate(totals):
            src = device.empty(s, np.uint8)
            out["copy"][j] = _seconds(lambda: device.asnumpy(src), _trips(s), args.reps)
    return out


def _seconds(fn, n, reps):
    """Best over reps of the mean time of n calls of fn."""
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - t) / n)
    return best


def _device_name(backend):
    if backend == "sim":
        return "simulated device"
    import cupy
    return cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)["name"].decode()


def _write(out, blocks, strides, totals, times, pack_s, unpack_s, sizes, contiguous, args,
           piped, chunk, dev, pack_calls):
    import h5py
    from mpi4py import MPI
    import mpicomm
    library = MPI.Get_library_version()
    vendor, _ = installation.parse_vendor(library)
    with h5py.File(out, "w") as f:
        a = f.attrs
        a["mpicomm_model"] = np.bytes_(model.FORMAT)
        a["mpi_vendor"] = np.bytes_(vendor)
        a["mpi_library_version"] = np.bytes_(installation.library_line(library))
        a["mpicomm_version"] = np.bytes_(mpicomm.__version__)
        a["host"] = np.bytes_(platform.node())
        a["cpu"] = np.bytes_(platform.processor() or platform.machine())
        a["date"] = np.bytes_(datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"))
        a["ranks"] = 2
        a["reps"] = args.reps
        a["quick"] = int(args.quick)
        _write_host(f, blocks, strides, totals, times, sizes, contiguous)
        if piped:
            f["pipeline_total_bytes"] = np.array(piped, np.int64)
            f["method/pipeline"] = times["pipeline"]
            a["pipeline_chunk"] = chunk
        f["pack_seconds"] = pack_s
        f["unpack_seconds"] = unpack_s
        for name, t in pack_calls.items():
            f[name] = t
        if dev:
            a["device_backend"] = np.bytes_(dev["backend"])
            a["device_name"] = np.bytes_(dev["name"])
            f["device_block_bytes"] = np.array(dev["blocks"], np.int64)
            f["device_total_bytes"] = np.array(dev["totals"], np.int64)
            for name, t in dev["methods"].items():
                f[f"device/{name}"] = t
            f["device/pack_seconds"] = dev["pack"]
            f["device/copy_to_host_seconds"] = dev["copy"]


def _write_host(g, blocks, strides, totals, times, sizes, contiguous):
    """The host grid's tables into g (the file, or its internode group)."""
    g["block_bytes"] = np.array(blocks, np.int64)
    g["stride_bytes"] = np.array(strides, np.int64)
    g["total_bytes"] = np.array(totals, np.int64)
    for name, label in (("method/passthrough", "passthrough"),
                        ("method/passthrough_nested", "nested"), ("method/pack", "pack"),
                        ("exchange/passthrough", "ex_passthrough"),
                        ("exchange/passthrough_nested", "ex_nested"),
                        ("exchange/pack", "ex_pack")):
        g[name] = times[label]
    g["pingpong_bytes"] = np.array(sizes, np.int64)
    g["pingpong_seconds"] = np.array(contiguous)


def _worker_or_abort():
    """A failing rank takes the job down instead of leaving its peer waiting."""
    try:
        return worker()
    except SystemExit:
        raise
    except BaseException:
        import traceback
        from mpi4py import MPI
        traceback.print_exc()
        sys.stderr.flush()
        MPI.COMM_WORLD.Abort(1)


if __name__ == "__main__":
    sys.exit(_worker_or_abort())
