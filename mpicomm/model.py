"""The performance model file behind MPICOMM_METHOD=auto.

`mpicomm measure` writes it (HDF5, h5py); the interposer reads it at MPI_Init from
MPICOMM_MODEL, else from the per-user cache (`path()`), else uses built-in defaults.

Layout (times in seconds, one-way, best of the repetitions):
    attrs     mpicomm_model (format), mpi_vendor, mpi_library_version, mpicomm_version,
              host, date, ranks, reps, cpu
    block_bytes [nb], total_bytes [ns]      the grid: innermost block, message size
    method/passthrough [nb, ns]             the MPI sends a vector type itself (block b,
                                            stride max(2b, 128 B))
    method/pack [nb, ns]                    the interposer packs and sends bytes
    pipeline_total_bytes [np]               optional: the sizes of the grid of two
    method/pipeline [nb, np]                chunks or more, timed with the pipelined
                                            method (attr pipeline_chunk: its chunk)
    pack_seconds, unpack_seconds [nb, ns]   the generated kernels alone, one process
    pingpong_bytes [np], pingpong_seconds [np]   contiguous MPI_BYTE messages
  optional, where a device was usable (attrs device_backend: "cuda" or "sim", device_name):
    device_block_bytes [nd], device_total_bytes [nt]   the device grid
    device/staged, device/oneshot [nd, nt]  a device buffer of the vector type sent with
    device/device [nd, nt]                  each device method (device: CUDA-aware MPIs)
    device/pack_seconds [nd, nt]            the device pack kernel alone
    device/copy_to_host_seconds [nt]        device-to-host copies of nt bytes
"""
import os
from pathlib import Path

from mpicomm import build, h5files, installation

FORMAT = "1"
VENDOR_KEYS = {"MPICH": "mpich", "Open MPI": "openmpi"}


class ModelError(ValueError):
    """A model file that cannot be used."""


def default_path(vendor):
    """The per-user model for this MPI: <cache>/models/<mpi>.h5."""
    key = VENDOR_KEYS.get(vendor, vendor.lower().replace(" ", ""))
    return build.cache_dir() / "models" / f"{key}.h5"


def path(vendor):
    """(path or None for builtin, explicit?) as the interposer will choose it."""
    env = os.environ.get("MPICOMM_MODEL")
    if env:
        return (None if env == "builtin" else Path(env)), True
    return default_path(vendor), False


def read(file):
    """The model as a dict of numpy arrays plus its attributes under "attrs"."""
    f, attrs = h5files.open_marked(file, "mpicomm_model", "model", ModelError)
    with f:
        out = {"attrs": attrs}
        for name in ("block_bytes", "total_bytes", "method/passthrough", "method/pack",
                     "pack_seconds", "unpack_seconds", "pingpong_bytes", "pingpong_seconds"):
            if name not in f:
                raise ModelError(f"{file}: dataset {name} is missing")
            out[name] = f[name][()]
        for name in ("pipeline_total_bytes", "method/pipeline", "device_block_bytes",
                     "device_total_bytes", *(f"device/{m}" for m in DEVICE_METHODS),
                     "device/pack_seconds", "device/copy_to_host_seconds"):
            if name in f:
                out[name] = f[name][()]
    return out


# The device methods a model may hold, in the order the interposer prefers them on a tie.
DEVICE_METHODS = ("device", "staged", "oneshot")


def device_choices(model):
    """{total_bytes: {block bytes: method}} for device buffers on the model's device grid,
    the method with the lowest time as the interposer chooses it (mpiw_model.c), or {}
    when the model has no device tables."""
    import numpy as np
    names = [m for m in DEVICE_METHODS if f"device/{m}" in model]
    if "device_block_bytes" not in model or not names:
        return {}
    t = np.stack([model[f"device/{m}"] for m in names])
    best = np.argmin(t, axis=0)
    return {int(s): {int(b): names[best[i, j]] for i, b in enumerate(model["device_block_bytes"])}
            for j, s in enumerate(model["device_total_bytes"])}


MARGIN = 1.05   # the interposer packs only where the model expects it 5% faster


def choices(model):
    """{total_bytes: [block bytes where auto packs]} on the model's own grid."""
    wins = model["method/passthrough"] > MARGIN * model["method/pack"]
    return {int(s): [int(b) for i, b in enumerate(model["block_bytes"]) if wins[i, j]]
            for j, s in enumerate(model["total_bytes"])}


def pipelined(model):
    """Sizes (of the grid) where auto pipelines on communicators that assert the
    pipelined method's contract: the mean over block lengths of log(best other method /
    pipelined) above log(MARGIN), as the interposer decides (mpiw_model.c)."""
    import numpy as np
    if "method/pipeline" not in model:
        return []
    totals = list(model["total_bytes"])
    out = []
    for j, s in enumerate(model["pipeline_total_bytes"]):
        col = totals.index(s)
        best = np.minimum(model["method/passthrough"][:, col], model["method/pack"][:, col])
        if np.mean(np.log(best / model["method/pipeline"][:, j])) > np.log(MARGIN):
            out.append(int(s))
    return out


def summary(file, vendor, library_version=None):
    """Lines for `mpicomm info` (library_version: the running MPI's, to compare)."""
    try:
        m = read(file)
    except ModelError as exc:
        return [f"{exc}; the interposer uses its built-in defaults"]
    a = m["attrs"]
    lines = [f"{file}",
             f"measured {a.get('date', '?')} on {a.get('host', '?')} with "
             f"{a.get('mpi_vendor', '?')} ({a.get('mpi_library_version', '?')})"]
    if a.get("mpi_vendor") != vendor:
        lines.append(f"measured under {a.get('mpi_vendor')}, not {vendor}: not used")
    elif library_version and "mpi_library_version" in a and \
            a["mpi_library_version"] != installation.library_line(library_version):
        lines.append(f"measured under another version of {vendor} (running "
                     f"{installation.library_line(library_version)}): not used; run "
                     "`mpicomm measure` again")
    for total, blocks in choices(m).items():
        lines.append(f"{_size(total):>8}: pack for blocks of "
                     f"{', '.join(map(str, blocks)) if blocks else 'none'} bytes")
    if "method/pipeline" in m:
        piped = pipelined(m)
        lines.append("pipelined (on communicators asserting exact length and no wildcards) at "
                     + (", ".join(_size(s) for s in piped) if piped else "no size measured"))
    for total, by_block in device_choices(m).items():
        lines.append(f"{_size(total):>8}: device buffers on {a.get('device_name', '?')} "
                     f"({a.get('device_backend', '?')}): " +
                     ", ".join(f"{method} for blocks of {b} B" for b, method in by_block.items()))
    return lines


def _size(n):
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} B"


BUILTIN = {"MPICH": "pack for blocks of at most 64 bytes, pass through above",
           "Open MPI": "pass through (its derived-type sends pipeline)"}
