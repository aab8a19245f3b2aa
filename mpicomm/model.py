"""The performance model file behind MPICOMM_METHOD=auto.

`mpicomm measure` writes it (HDF5, h5py); the interposer reads it at MPI_Init from
MPICOMM_MODEL, else from the per-user cache (`path()`), else uses built-in defaults.

Layout (times in seconds, one-way, best of the repetitions):
    attrs     mpicomm_model (format), mpi_vendor, mpi_library_version, mpicomm_version,
              host, date, ranks, reps, cpu
    block_bytes [nb], stride_bytes [nst], total_bytes [ns]
                                            the grid: innermost block, stride class (block
                                            b is measured at a stride of
                                            max(b + 64, class)), message size
    method/passthrough [nb, nst, ns]        the MPI sends the layout itself, built as one
                                            vector
    method/passthrough_nested [nb, nst, ns] the same layout built as a vector of vectors of
                                            64 blocks
    method/pack [nb, nst, ns]               the interposer packs and sends bytes
                                            (NaN in these three: not measured, the layout
                                            would span more than 64 MiB); all three
                                            timed as a ping-pong (blocking calls)
    exchange/passthrough, exchange/passthrough_nested, exchange/pack [nb, nst, ns]
                                            the same timed as an exchange (both ranks
                                            Isend and Irecv at once): the times of
                                            nonblocking calls, Sendrecv and collectives
    pipeline, kernels and device tables are measured at the least stride class.
  Models from before the stride axis have no stride_bytes nor passthrough_nested, and
  [nb, ns] tables measured at a stride of max(2b, 128 B): they still load.
    pipeline_total_bytes [np]               optional: the sizes of the grid of two
    method/pipeline [nb, np]                chunks or more, timed with the pipelined
                                            method (attr pipeline_chunk: its chunk)
    pack_seconds, unpack_seconds [nb, ns]   the generated kernels alone, one process
    pack_call/mpi, pack_call/mpicomm, unpack_call/mpi, unpack_call/mpicomm [nb, ns]
                                            optional: MPI_Pack and MPI_Unpack called
                                            through mpi4py, the MPI's own and ours; where
                                            the MPI's is 5% faster, the call is its own
    pingpong_bytes [np], pingpong_seconds [np]   contiguous MPI_BYTE messages
  optional (models from before them have none), the all-to-alls timed as themselves:
    collective/block_bytes [cb], collective/ranks [cr], collective/total_bytes [ct]
                                            their grid: block, communicator size, bytes
                                            per peer (at the least stride class)
    collective/<side>/<form>/passthrough, .../passthrough_nested, .../pack [cb, cr, ct]
                                            seconds of one call of each form of
                                            COLLECTIVE_FORMS whose send (side "send") or
                                            receive ("recv") side is strided, the other
                                            contiguous (NaN: not measured, its buffers
                                            would span more than 64 MiB)
  optional, where a device was usable (attrs device_backend: "cuda" or "sim", device_name):
    device_block_bytes [nd], device_total_bytes [nt]   the device grid
    device/staged, device/oneshot [nd, nt]  a device buffer of the vector type sent with
    device/device [nd, nt]                  each device method (device: CUDA-aware MPIs)
    device/pack_seconds [nd, nt]            the device pack kernel alone
    device/copy_to_host_seconds [nt]        device-to-host copies of nt bytes
  optional, where it was measured in an allocation of two nodes or more:
    internode/                              the host grid between two ranks on different
                                            nodes: block_bytes, stride_bytes, total_bytes,
                                            method/*, exchange/*, pingpong_* as above
                                            (attrs hosts: the two nodes, interconnect: as
                                            the MPI reports it, reps); without it, peers on
                                            other nodes follow the built-in inter-node rules
"""
import os
from pathlib import Path

from mpicomm import build, h5files, installation

FORMAT = "1"
COLLECTIVE_FORMS = ("alltoall", "alltoallv", "alltoallw", "neighbor_alltoallv",
                    "neighbor_alltoallw")
COLLECTIVE_TABLES = ("passthrough", "passthrough_nested", "pack")
COLLECTIVE_SIDES = ("send", "recv")
# Open MPI 5's neighbour all-to-alls are point-to-point exchanges (an isend and an irecv
# per neighbour): auto answers them from the exchange tables, not their own
# (mpiw_model.c).
EXCHANGE_FORMS_OPEN_MPI_5 = ("neighbor_alltoallv", "neighbor_alltoallw")
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
        for name in ("stride_bytes", "method/passthrough_nested", "exchange/passthrough",
                     "exchange/passthrough_nested", "exchange/pack",
                     "pipeline_total_bytes", "method/pipeline", "device_block_bytes",
                     "device_total_bytes", *(f"device/{m}" for m in DEVICE_METHODS),
                     "device/pack_seconds", "device/copy_to_host_seconds",
                     "pack_call/mpi", "pack_call/mpicomm", "unpack_call/mpi",
                     "unpack_call/mpicomm",
                     "collective/block_bytes", "collective/ranks", "collective/total_bytes",
                     *(f"collective/{side}/{form}/{t}" for side in COLLECTIVE_SIDES
                       for form in COLLECTIVE_FORMS for t in COLLECTIVE_TABLES)):
            if name in f:
                out[name] = f[name][()]
        if "internode" in f:
            g = f["internode"]
            for n in ("block_bytes", "total_bytes", "method/passthrough", "method/pack"):
                if n not in g:
                    raise ModelError(f"{file}: dataset internode/{n} is missing")
            out.update({f"internode/{n}": g[n][()] for n in
                        ("block_bytes", "stride_bytes", "total_bytes", *HOST_TABLES,
                         "pingpong_bytes", "pingpong_seconds") if n in g})
            out["internode_attrs"] = {k: (v.decode() if isinstance(v, bytes) else v)
                                      for k, v in g.attrs.items()}
    return out


HOST_TABLES = ("method/passthrough", "method/passthrough_nested", "method/pack",
               "exchange/passthrough", "exchange/passthrough_nested", "exchange/pack")


def internode(model):
    """The model's tables between nodes as a model of their own (the same names as the
    tables on one node), or None where it was not measured between nodes."""
    if "internode/block_bytes" not in model:
        return None
    sub = {k[len("internode/"):]: v for k, v in model.items() if k.startswith("internode/")}
    sub["attrs"] = model.get("internode_attrs", {})
    return sub


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
EXCHANGE_MARGIN = 1.2   # 20% for nonblocking calls, by the exchange tables


def margin(exchange=False):
    """How much faster packing must be measured for auto to pack (mpiw_model.c)."""
    return EXCHANGE_MARGIN if exchange else MARGIN


def _grid(model, name):
    """A host table as [nb, nst, ns] (a model from before the stride axis has nst = 1)."""
    t = model[name]
    return t[:, None, :] if t.ndim == 2 else t


def strides(model):
    """The stride classes (128 B alone for a model from before the stride axis)."""
    return [int(s) for s in model.get("stride_bytes", [128])]


def gains(model, nested=False, exchange=False):
    """log(passthrough / pack) [nb, nst, ns] of a ping-pong (or an exchange), a point not
    measured taking the nearest measured size of its (block, stride) row (a row with
    none, the row of the next smaller stride), as the interposer reads it."""
    import numpy as np
    group = "exchange" if exchange and "exchange/pack" in model else "method"
    name = f"{group}/passthrough_nested" if nested and f"{group}/passthrough_nested" in model \
        else f"{group}/passthrough"
    return _nearest_measured(np.log(_grid(model, name) / _grid(model, f"{group}/pack")))


def _nearest_measured(g):
    """g [a, b, sizes] with each point not measured (not finite) taking the nearest
    measured size of its (a, b) row (the smaller on a tie), a row with none the row of
    the previous b, as the interposer fills its tables (mpiw_model.c: gains)."""
    import numpy as np
    out = g.copy()
    ns = g.shape[2]
    for i, k in np.ndindex(g.shape[:2]):
        row = g[i, k]
        ok = [j for j in range(ns) if np.isfinite(row[j])]
        for j in range(ns):
            out[i, k, j] = row[min(ok, key=lambda c: (abs(c - j), c > j))] if ok \
                else out[i, k - 1, j]
    return out


def collective_forms(model):
    """The all-to-all forms the model timed as themselves."""
    return [form for form in COLLECTIVE_FORMS if f"collective/send/{form}/pack" in model]


def collective_gains(model, form, nested=False, side="send"):
    """log(passthrough / pack) [block, ranks, bytes per peer] of one side of an all-to-all,
    a point not measured taking the nearest measured size of its row, as the interposer
    reads it."""
    import numpy as np
    name = "passthrough_nested" if nested else "passthrough"
    return _nearest_measured(np.log(model[f"collective/{side}/{form}/{name}"] /
                                    model[f"collective/{side}/{form}/pack"]))


def as_exchanges(m):
    """The all-to-all forms auto answers from the exchange tables for this model's MPI
    (Open MPI 5's neighbour all-to-alls), not from their own."""
    vendor, version = installation.parse_vendor(str(m["attrs"].get("mpi_library_version", "")))
    major = version.split(".")[0]
    return EXCHANGE_FORMS_OPEN_MPI_5 if vendor == "Open MPI" and major.isdigit() and \
        int(major) >= 5 else ()


def _collective_lines(m):
    """auto's choices for the all-to-alls: per form a row per block length, a column per
    communicator size holding one mark per size, one vector | nested vectors."""
    import numpy as np
    lines = []
    ranks = [int(r) for r in m["collective/ranks"]]
    sizes = ", ".join(_size(int(s)) for s in m["collective/total_bytes"])
    followers = [f for f in collective_forms(m) if f in as_exchanges(m)]
    if followers:
        lines.append(", ".join("MPI_" + f[0].upper() + f[1:] for f in followers) +
                     ": as the exchanges they are under this MPI (an isend and an irecv per "
                     "neighbour), auto follows the exchange tables")
    for form, side in ((f, s) for f in collective_forms(m) for s in COLLECTIVE_SIDES
                       if f not in followers):
        marks = [collective_gains(m, form, nested, side) > np.log(MARGIN)
                 for nested in (False, True)]
        width = max(len(m["collective/total_bytes"]), *(len(f"{r} ranks") for r in ranks))
        head = " ".join(f"{f'{r} ranks':>{width}}" for r in ranks)
        head = f"{head:>{len('nested vectors')}}"
        name = "MPI_" + form[0].upper() + form[1:]
        lines += [f"{name}, {'send' if side == 'send' else 'receive'} side: auto packs (P) or "
                  f"leaves to the MPI (.) by block, ranks and bytes per peer ({sizes} in "
                  "each column):",
                  f"   block  {head}  |  {head}",
                  f"   bytes  {'one vector':>{len(head)}}  |  {'nested vectors':>{len(head)}}"]
        for i, b in enumerate(m["collective/block_bytes"]):
            cells = ["".join(".P"[int(v)] for v in t[i, k]) for t in marks
                     for k in range(len(ranks))]
            half = len(cells) // 2
            flat = " ".join(f"{c:>{width}}" for c in cells[:half])
            nest = " ".join(f"{c:>{width}}" for c in cells[half:])
            lines.append(f"{int(b):>8}  {flat:>{len(head)}}  |  {nest:>{len(head)}}")
    return lines


def choices(model, exchange=False):
    """[construction][block, stride, size] booleans: where auto packs on the model's own
    grid, for the layout built as one vector (0) and as nested vectors (1), for blocking
    calls (or, exchange, the others)."""
    import numpy as np
    return [gains(model, nested, exchange) > np.log(margin(exchange))
            for nested in (False, True)]


def _choice_lines(m, exchange=False):
    """A map of auto's choices: a row per block length, a column per stride class holding
    one mark per size, P (packed) or . (the MPI); one vector | nested vectors."""
    flat, nested = choices(m, exchange)
    classes = [_size(c) for c in strides(m)]
    width = max(len(m["total_bytes"]), *(len(c) for c in classes))
    head = " ".join(f"{c:>{width}}" for c in classes)
    calls = "nonblocking calls, Sendrecv and collectives (timed as an exchange)" if exchange \
        else "blocking sends and receives (timed as a ping-pong)"
    lines = [f"{calls}: auto packs (P) or leaves to the MPI (.) by block, stride and size "
             "(sizes " + ", ".join(_size(int(s)) for s in m["total_bytes"])
             + " in each column):",
             f"   block  {head}  |  {head}", f"   bytes  {'one vector':<{len(head)}}  |  "
             "nested vectors"]
    for i, b in enumerate(m["block_bytes"]):
        row = ["".join(".P"[int(v)] for v in t[i, k]) for t in (flat, nested)
               for k in range(t.shape[1])]
        half = len(row) // 2
        lines.append(f"{int(b):>8}  " + " ".join(f"{c:>{width}}" for c in row[:half]) + "  |  "
                     + " ".join(f"{c:>{width}}" for c in row[half:]))
    return lines


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
        best = np.minimum(_grid(model, "method/passthrough")[:, 0, col],
                          _grid(model, "method/pack")[:, 0, col])
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
    lines += _choice_lines(m) + (_choice_lines(m, True) if "exchange/pack" in m else [])
    remote = internode(m)
    if remote is None:
        lines.append(f"between nodes (not measured): {BUILTIN_INTERNODE.get(vendor, 'pass through')}")
    else:
        ra = remote["attrs"]
        lines.append(f"between nodes, measured between "
                     f"{' and '.join(str(ra.get('hosts', '?')).split())} over "
                     f"{ra.get('interconnect', '?')}:")
        lines += _choice_lines(remote) + _choice_lines(remote, True)
    lines += _collective_lines(m) if collective_forms(m) else [
        "the all-to-alls: not timed as themselves (a model from before them); they follow "
        "the exchange tables"]
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


BUILTIN = {"MPICH": "pack messages of 8 KiB or more of blocks of at most 64 bytes less than "
                   "8 KiB apart in types built as long vectors or tables, and for "
                   "nonblocking calls in any type of 16 KiB or more or at strides of 8 KiB "
                   "or more; under MPICH 5 also blocks of 65 B to 2 KiB in messages of "
                   "8 KiB to 1 MiB and to 3 KiB in messages to 256 KiB (blocking) or 8 to "
                   "64 KiB (nonblocking), messages of 8 KiB or more of at most 1024 "
                   "blocks of at most 64 B in types at most three constructors deep, "
                   "blocking messages of 512 KiB to 4 MiB of blocks of 12 to 64 B 2 to "
                   "8 KiB apart with 128 to 1023 in the innermost vector (from 64 KiB "
                   "for blocks of 32 B or more, 256 or more in that vector; with a "
                   "measured model too), and nonblocking point-to-point messages under "
                   "8 KiB; transposes of 8 KiB or more; pass through the rest, and "
                   "structs of differently laid-out members with blocks of 128 B or more",
           "Open MPI": "pack Open MPI 5's blocking messages of 8 to 32 KiB of blocks of 128 "
                       "to 512 B, of 8 to 64 KiB of blocks of 64 to 127 B at most 512 B apart "
                       "(to 16 KiB at most 2 KiB apart), of 32 to 64 KiB of blocks of 192 to "
                       "319 B at most 1 KiB apart and of 512 B to 2 KiB of 8-byte "
                       "blocks; its messages over 8 to 64 KiB of blocks of 24 to 63 B at "
                       "most 1.5 KiB apart (not at power-of-two strides from 512 B over "
                       "32 KiB, from 1 KiB over 16 KiB; with a measured model too at "
                       "other strides); blocking messages of 2 to 96 KiB "
                       "of index lists (indexed types, structs of them) of blocks of at "
                       "most 32 B on average, to 160 KiB of at most 16 B (with a "
                       "measured model too); pass through the rest (its derived-type "
                       "sends pipeline)"}
# Peers on other nodes, without a model measured between nodes (mpiw_model.c:
# builtin_internode).
BUILTIN_INTERNODE = {"MPICH": "pack messages of 8 KiB or more of blocks of 8 to 512 B, "
                              "of longer blocks to 1 MiB (blocking) or 256 KiB "
                              "(nonblocking), of shorter ones in types built as long "
                              "vectors; pass through the rest",
                     "Open MPI": "pack blocking messages of 8 to 256 KiB of index lists "
                                 "(indexed types, structs of them) of blocks of at most "
                                 "32 B on average (with a measured model too); pass "
                                 "through the rest"}
