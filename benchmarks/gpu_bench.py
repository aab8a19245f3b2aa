#!/usr/bin/env python3
"""Device buffers through the interposer, side by side in one run (GPU, or the simulated
device, where it checks bytes and reports no speed).

    mpicomm run -n 2 -- python benchmarks/gpu_bench.py [--reps 7] [--quick] [--json out.json]
    MPICOMM_DEVICE=sim mpicomm run -n 2 -- python benchmarks/gpu_bench.py --quick --halo 24

1. Device MPI_Pack of the host pack benchmark's cases (benchmarks/pack_bench.py) on device
   arrays, device to device: GB/s, against the sector bound (the 32-byte sectors the type
   touches plus the packed bytes, at the device-to-device copy rate measured in the same
   run) and, on a GPU, against CuPy's own strided copy of the same section
   (cupy.ascontiguousarray(view): what a user writes today). Bytes are checked against
   the MPI's host MPI_Pack of the same data.
2. Halo exchange of the six faces of an n^3 block (--halo, default 256; ghost 1) between
   two ranks, in device memory, over the installed MPI: the interposer with each device
   method forced (staged, oneshot; device where the MPI is CUDA-aware) and with its own
   choice (auto), against the manual path (on a GPU: CuPy copies each face contiguous,
   .get() to host, mpi4py sends, and back with cupy.asarray into the ghost layer). Ghosts
   are checked after every exchange.
Every figure is the best of --reps (pack) or the median of --reps exchanges (halo).
"""
import argparse
import ctypes
import json
import os
import sys
import time

import numpy as np
from mpi4py import MPI

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pack_bench  # noqa: E402
from mpicomm import device  # noqa: E402
from mpicomm.datatypes import describe  # noqa: E402

SECTOR = 32


def sectors_touched(desc):
    """Distinct 32-byte sectors one element's blocks touch."""
    counts, strides = desc.counts, desc.strides
    starts = np.array([desc.start], dtype=np.int64)
    for c, s in zip(counts[1:], strides[1:]):
        starts = (starts[None, :] + (np.arange(c, dtype=np.int64) * s)[:, None]).ravel()
    first, last = starts // SECTOR, (starts + counts[0] - 1) // SECTOR
    if counts[0] <= SECTOR:
        return len(np.unique(np.concatenate([first, last])))
    return int(np.sum(last - first + 1))


def sync():
    if device.backend() == "cuda":
        import cupy
        cupy.cuda.runtime.deviceSynchronize()


def timed(fn):
    sync()
    t = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t


def copy_rate(reps):
    """Device-to-device copy rate in bytes/s (read + write counted once each)."""
    n = 256 << 20 if device.backend() == "cuda" else 16 << 20
    a, b = device.empty(n, np.uint8), device.empty(n, np.uint8)
    lib = ctypes.CDLL(None)
    lib.mpicomm_device_copy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
    dst, src = b.__cuda_array_interface__["data"][0], a.__cuda_array_interface__["data"][0]
    best = min(timed(lambda: lib.mpicomm_device_copy(dst, src, n)) for _ in range(reps))
    return 2 * n / best


VIEWS = {
    "a[:,:,0]": lambda a: a[:, :, 0], "a[:,:,0:2]": lambda a: a[:, :, 0:2],
    "a[:,:,-4:]": lambda a: a[:, :, -4:], "a[:,0,:]": lambda a: a[:, 0, :],
}


def pack_suite(args, rate, real):
    rows = []
    print(f"{'case':<18}{'block':>7}{'MB':>8}{'GB/s':>8}{'bound':>8}{'of bound':>10}"
          f"{'CuPy':>8}{'vs CuPy':>9}")
    for name, shape, dt in pack_bench.cases(args.quick):
        dt.Commit()
        desc = describe(dt)
        host = np.random.default_rng(0).random(int(np.prod(shape))).view(np.uint8)
        src = device.asarray(host)
        nbytes = dt.Get_extent()[1]
        size = dt.Get_size()
        out = device.empty(size, np.uint8)
        ref = bytearray(size)
        real(dt.Pack, memoryview(host)[:nbytes], ref, 0, MPI.COMM_SELF)
        arg = src[:nbytes]
        t = min(timed(lambda: dt.Pack(arg, out, 0, MPI.COMM_SELF)) for _ in range(args.reps))
        ok = device.asnumpy(out).tobytes() == bytes(ref)
        bound = (sectors_touched(desc) * SECTOR + size) / rate
        row = {"case": name, "block": desc.counts[0], "bytes": size, "bytes_ok": ok,
               "gbs": size / t / 1e9, "bound_gbs": size / bound / 1e9}
        row["of_bound"] = row["gbs"] / row["bound_gbs"]
        if device.backend() == "cuda" and name in VIEWS:
            import cupy
            a3 = src.view(cupy.float64).reshape(shape)
            tc = min(timed(lambda: cupy.ascontiguousarray(VIEWS[name](a3)))
                     for _ in range(args.reps))
            row["cupy_gbs"], row["vs_cupy"] = size / tc / 1e9, tc / t
        rows.append(row)
        speed = device.backend() == "cuda"
        print(f"{name:<18}{row['block']:>7}{size / 1e6:>8.2f}"
              + (f"{row['gbs']:>8.1f}{row['bound_gbs']:>8.1f}{row['of_bound']:>9.0%}"
                 if speed else f"{'-':>8}{'-':>8}{'-':>10}")
              + (f"{row['cupy_gbs']:>8.1f}{row['vs_cupy']:>8.2f}x" if "cupy_gbs" in row else "")
              + ("" if ok else "  BYTES DIFFER"))
        dt.Free()
        if not ok:
            raise SystemExit(f"gpu_bench: {name}: device MPI_Pack differs from the MPI's")
    return rows


class Halo:
    """Six faces of an n^3 block with one ghost layer, exchanged with the other rank."""

    def __init__(self, comm, n):
        self.comm, self.n = comm, n
        self.peer = 1 - comm.Get_rank()
        shape = [n + 2] * 3
        rank = comm.Get_rank()
        self.host = np.full(shape, -1.0)
        self.host[1:-1, 1:-1, 1:-1] = rank + 1
        self.a = device.asarray(self.host)
        self.faces = []
        for axis in range(3):
            for side in (0, 1):
                sub, send_at, recv_at = [n] * 3, [1] * 3, [1] * 3
                sub[axis] = 1
                send_at[axis] = 1 if side == 0 else n
                recv_at[axis] = 0 if side == 0 else n + 1
                send = MPI.DOUBLE.Create_subarray(shape, sub, send_at).Commit()
                recv = MPI.DOUBLE.Create_subarray(shape, sub, recv_at).Commit()
                self.faces.append((send, recv, 2 * axis + side, 2 * axis + 1 - side,
                                   axis, send_at[axis], recv_at[axis]))

    def interposed(self):
        reqs = [self.comm.Irecv([self.a, 1, recv], self.peer, back)
                for _, recv, _, back, *_ in self.faces]
        reqs += [self.comm.Isend([self.a, 1, send], self.peer, tag)
                 for send, _, tag, *_ in self.faces]
        MPI.Request.Waitall(reqs)

    def manual(self):
        """What a user writes today with CuPy over an MPI that is not CUDA-aware."""
        import cupy
        a, reqs, inbox = self.a, [], []
        for _, _, tag, back, axis, s_at, r_at in self.faces:
            box = np.empty((self.n, self.n), np.float64)
            inbox.append((box, axis, r_at))
            reqs.append(self.comm.Irecv(box, self.peer, back))
        for _, _, tag, _, axis, s_at, _ in self.faces:
            index = [slice(1, -1)] * 3
            index[axis] = s_at
            face = cupy.ascontiguousarray(a[tuple(index)])
            reqs.append(self.comm.Isend(face.get(), self.peer, tag))
        MPI.Request.Waitall(reqs)
        for box, axis, r_at in inbox:
            index = [slice(1, -1)] * 3
            index[axis] = r_at
            a[tuple(index)] = cupy.asarray(box)

    def check(self):
        got = device.asnumpy(self.a)
        other = 2 - self.comm.Get_rank()
        ok = True
        for _, _, _, _, axis, _, r_at in self.faces:
            index = [slice(1, -1)] * 3
            index[axis] = r_at
            ok &= bool((got[tuple(index)] == other).all())
        return self.comm.allreduce(ok, op=MPI.LAND)

    def reset(self):
        self.a = device.asarray(self.host)

    def free(self):
        for send, recv, *_ in self.faces:
            send.Free()
            recv.Free()


def halo_suite(args, comm):
    lib = ctypes.CDLL(None)
    lib.mpicomm_interposer_set_method.restype = ctypes.c_char_p
    aware = device.backend() == "cuda" and _cuda_aware()
    methods = ["staged", "oneshot"] + (["device"] if aware else []) + ["auto"]
    halo = Halo(comm, args.halo)
    rows = {}
    for how in methods + (["manual"] if device.backend() == "cuda" else []):
        halo.reset()
        if how != "manual":
            lib.mpicomm_interposer_set_method(how.encode())
        fn = halo.manual if how == "manual" else halo.interposed
        fn()
        if not halo.check():
            raise SystemExit(f"gpu_bench: halo {how}: ghosts wrong")
        times = []
        for _ in range(args.reps):
            comm.Barrier()
            times.append(timed(fn))
        rows[how] = comm.allreduce(float(np.median(times)), op=MPI.MAX)
        lib.mpicomm_interposer_set_method(b"auto")
    halo.free()
    if comm.Get_rank() == 0:
        base = rows.get("manual")
        for how, t in rows.items():
            speed = device.backend() == "cuda"
            print(f"halo {args.halo}^3 {how:<8}" + (f"{t * 1e3:9.3f} ms" if speed else "   ghosts OK")
                  + (f"  {base / t:5.2f}x the manual path" if base and how != "manual" else ""))
    return rows


def _cuda_aware():
    fn = getattr(ctypes.CDLL(None), "MPIX_Query_cuda_support", None)
    return bool(fn and fn())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7, help="repetitions (default 7)")
    ap.add_argument("--quick", action="store_true", help="the pack suite's smaller arrays")
    ap.add_argument("--halo", type=int, default=256, help="halo block edge (default 256)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)
    lib = ctypes.CDLL(None)
    if not hasattr(lib, "mpicomm_interposer_set_enabled"):
        sys.exit("gpu_bench: the interposer is not preloaded; run it with `mpicomm run`")
    comm = MPI.COMM_WORLD
    if comm.Get_size() != 2:
        sys.exit("gpu_bench: run on 2 ranks (the halo exchange is between two)")

    def real(fn, *a):
        was = lib.mpicomm_interposer_set_enabled(0)
        try:
            return fn(*a)
        finally:
            lib.mpicomm_interposer_set_enabled(was)

    rate = copy_rate(args.reps)
    result = {"backend": device.backend(), "mpi": MPI.Get_library_version().splitlines()[0],
              "copy_gbs": rate / 1e9, "reps": args.reps}
    if comm.Get_rank() == 0:
        gpu = "simulated device (bytes checked, no speed)" if device.backend() == "sim" else \
            _gpu_name()
        print(f"# {gpu}; {result['mpi']}; device copy {rate / 1e9:.1f} GB/s")
        result["pack"] = pack_suite(args, rate, real)
    comm.Barrier()
    result["halo_ms"] = {k: v * 1e3 for k, v in halo_suite(args, comm).items()}
    if comm.Get_rank() == 0 and args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


def _gpu_name():
    import cupy
    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    return props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])


if __name__ == "__main__":
    sys.exit(main())
