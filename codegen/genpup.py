#!/usr/bin/env python3
"""Generate the interposer's pack/unpack kernels (C).

One kernel per (number of levels, block class) and direction, as MPICH's yaksa
generates its pup kernels: the loop nest is unrolled to the number of levels,
and the innermost copy is specialised on the block:

  b1 .. b64   blocks of exactly that many bytes: one fixed-size copy
  o2 .. o32   shorter blocks between two of those sizes (3, 5-7, 9-15, 17-31,
              33-63 bytes): two copies of the next smaller size, one from each
              end, overlapping in the middle (every byte written lies inside
              the block, so the overlap writes the same value twice)
  c32         medium blocks: an inline loop of 32-byte copies unrolled to 128
              bytes, the last copy ending at the block's end (beats a memcpy call)
  mc          long blocks: memcpy

Packs of STREAM_MIN bytes or more, in blocks of at least STREAM_BLOCK bytes, a
multiple of 32, into a 32-byte aligned buffer also have a streaming kernel per
level (s32, x86-64 with AVX): non-temporal 32-byte stores, so that the output,
larger than a core's L2 cache, is written without first reading each of its
lines (what a large memcpy gains from rep movsb).

Small-block kernels prefetch the strided side about PREFETCH_BYTES ahead and
are unrolled: such copies are bound by the latency of the cache lines they
touch, not by bandwidth. Plans whose every stride is less than
PREFETCH_MIN_STRIDE are left to the hardware prefetchers, which follow such a walk
themselves (the instruction per block then only costs); a short inner stride
under longer outer ones is still prefetched, since the outer jumps are what the
hardware misses.

The table form (mpic_table.c) gets gather and scatter kernels by displacement table,
for tables whose pieces are all contiguous runs, specialised on the run: b1 .. b64 (every
run that many bytes), w8 (every run the same multiple of 8 bytes), any (runs of any
lengths); they prefetch TABLE_AHEAD pieces ahead in the table.

Usage: genpup.py OUTDIR   (writes OUTDIR/mpic_kernels.c)
"""
import argparse
import os
import sys

MAX_LEVELS = 5                      # counts[0] plus 4 strided levels; deeper plans run generic
FIXED = [1, 2, 4, 8, 16, 32, 64]    # block sizes with their own kernel
OVERLAPS = [2, 4, 8, 16, 32]        # o<w>: blocks longer than w and shorter than 2w
CHUNK_UNROLL = 4                    # c32: 32-byte copies per turn of the chunk loop
STREAM_MIN = 4 << 20                # s32: packs at least this long ...
STREAM_BLOCK = 256                  # ... in blocks at least this long stream their stores
MEMCPY_MIN = 2048                   # blocks this long or longer call memcpy
PREFETCH_BYTES = 32768              # small blocks: prefetch about this far ahead (4-64 blocks)
PREFETCH_MIN_STRIDE = 512           # ... where some level steps at least this far
UNROLL = 4                          # small blocks: unroll the innermost loop
TABLE_AHEAD = 8                     # table kernels: prefetch this many pieces ahead
TABLE_CLASSES = [f"b{n}" for n in FIXED] + ["w8", "any"]


def classes():
    return [f"b{n}" for n in FIXED] + [f"o{w}" for w in OVERLAPS] + ["c32", "mc"]


def copy_stmt(cls, dst, src):
    """The innermost copy of one block."""
    if cls.startswith("b"):
        return [f"memcpy({dst}, {src}, {int(cls[1:])});"]
    if cls.startswith("o"):
        w = int(cls[1:])
        return [f"memcpy({dst}, {src}, {w});",
                f"memcpy({dst} + last, {src} + last, {w});"]
    if cls == "c32":
        return [f"#pragma GCC unroll {CHUNK_UNROLL}",
                f"for (int64_t w = 0; w < nw; w++)",
                f"    memcpy({dst} + w * 32, {src} + w * 32, 32);",
                f"memcpy({dst} + last, {src} + last, 32);"]
    if cls == "s32":
        return [f"#pragma GCC unroll {CHUNK_UNROLL}",
                f"for (int64_t w = 0; w < nw; w++)",
                f"    _mm256_stream_si256((__m256i *) ({dst} + w * 32),",
                f"                        _mm256_loadu_si256((const __m256i *) ({src} + w * 32)));"]
    return ["memcpy(" + dst + ", " + src + ", (size_t) block);"]


def kernel(direction, levels, cls):
    """C source of one kernel. The strided side is src for pack, dst for unpack; s32 packs
    only (its stores are non-temporal, then fenced)."""
    name = f"mpic_{direction}_d{levels}_{cls}"
    strided, packed = ("src", "dst") if direction == "pack" else ("dst", "src")
    qual = "const char *" if direction == "pack" else "char *"
    attr = ('__attribute__((target("avx"))) ' if cls == "s32" else
            "MPIC_WIDE " if cls in ("c32", "b32", "b64", "o32") else "")
    lines = [f"static {attr}void {name}(const char *restrict src, char *restrict dst, "
             f"const mpic_plan *p)", "{"]
    body = []
    if cls.startswith("o"):
        body.append(f"const int64_t last = p->block - {int(cls[1:])};")
    if cls == "c32":
        body.append("const int64_t nw = (p->block - 1) / 32, last = p->block - 32;")
    if cls == "s32":
        body.append("const int64_t nw = p->block / 32;")
    if cls == "mc":
        body.append("const int64_t block = p->block;")
    for lvl in range(1, levels):
        body.append(f"const int64_t n{lvl} = p->counts[{lvl}], s{lvl} = p->strides[{lvl}];")
    small = cls not in ("c32", "s32", "mc")
    if levels > 1 and small:
        body.append("const int64_t ahead = mpic_ahead(p);")
    # Loop nest, outermost level first; each level offsets the strided pointer.
    inner = f"{strided}{levels}"
    body.append(f"{qual}{inner} = {strided};")
    indent = ""
    for lvl in range(levels - 1, 0, -1):
        if lvl == 1 and small:
            body.append(f"{indent}#pragma GCC unroll {UNROLL}")
        body.append(f"{indent}for (int64_t i{lvl} = 0; i{lvl} < n{lvl}; i{lvl}++) {{")
        indent += "    "
        body.append(f"{indent}{qual}{strided}{lvl} = {strided}{lvl + 1} + i{lvl} * s{lvl};")
        inner = f"{strided}{lvl}"
    size = f"{int(cls[1:])}" if cls.startswith("b") else "p->block"
    if levels > 1 and small:
        write = "" if direction == "pack" else ", 1"
        body.append(f"{indent}if (ahead)")
        body.append(f"{indent}    __builtin_prefetch({inner} + ahead{write});")
    if direction == "pack":
        body += [indent + s for s in copy_stmt(cls, packed, inner)]
    else:
        body += [indent + s for s in copy_stmt(cls, inner, packed)]
    body.append(f"{indent}{packed} += {size};")
    for lvl in range(1, levels):
        indent = indent[4:]
        body.append(f"{indent}}}")
    if levels == 1:
        body.append(f"(void) {packed};")
    if cls == "s32":
        body.append("_mm_sfence();")
    lines += ["    " + b for b in body] + ["}", ""]
    return name, "\n".join(lines)


def stream_section():
    """The s32 kernels (x86-64 only) and the lookup mpic_pack asks first."""
    out = ["#if defined(__x86_64__) && defined(__GNUC__)", "#include <immintrin.h>", ""]
    names = []
    for levels in range(1, MAX_LEVELS + 1):
        name, src = kernel("pack", levels, "s32")
        out.append(src)
        names.append(name)
    out += [f"static const mpic_kernel_fn mpic_stream_kernels[{MAX_LEVELS}] = {{",
            "    " + ", ".join(names), "};", "",
            "mpic_kernel_fn mpic_stream_lookup(const mpic_plan *p, int64_t bytes, uintptr_t dst)",
            "{",
            f"    static int avx = -1;",
            "",
            f"    if (bytes < {STREAM_MIN} || p->block < {STREAM_BLOCK} || p->block % 32 || dst % 32 ||",
            f"        p->ndims > {MAX_LEVELS})",
            "        return NULL;",
            "    if (avx < 0)",
            '        avx = __builtin_cpu_supports("avx");',
            "    return avx ? mpic_stream_kernels[p->ndims - 1] : NULL;",
            "}",
            "#else",
            "mpic_kernel_fn mpic_stream_lookup(const mpic_plan *p, int64_t bytes, uintptr_t dst)",
            "{",
            "    (void) p, (void) bytes, (void) dst;",
            "    return NULL;",
            "}",
            "#endif", ""]
    return "\n".join(out)


def lookup():
    fixed_cases = "\n".join(f"    case {n}: c = {i}; break;" for i, n in enumerate(FIXED))
    overlaps = "\n".join(f"        else if (block > {w}) c = {len(FIXED) + i};"
                         for i, w in reversed(list(enumerate(OVERLAPS))))
    return f"""const mpic_kernel *mpic_kernel_lookup(int ndims, int64_t block)
{{
    int c;

    if (ndims < 1 || ndims > {MAX_LEVELS} || block < 1)
        return NULL;
    switch (block) {{
{fixed_cases}
    default:
        if (block >= {MEMCPY_MIN}) c = {len(FIXED) + len(OVERLAPS) + 1};
        else if (block > {FIXED[-1]}) c = {len(FIXED) + len(OVERLAPS)};
{overlaps}
        else return NULL;
    }}
    return &mpic_kernels[ndims - 1][c];
}}
"""


# A run of any length up to 32 bytes: two overlapping copies of the widest word that fits
# (every byte written lies inside the run, so an overlap writes the same value twice);
# longer runs call memcpy.
SHORT_RUN = """static inline void mpic_run(char *restrict d, const char *restrict s, int64_t n)
{
    if (n >= 16 && n <= 32) {
        memcpy(d, s, 16);
        memcpy(d + n - 16, s + n - 16, 16);
    } else if (n >= 8 && n < 16) {
        memcpy(d, s, 8);
        memcpy(d + n - 8, s + n - 8, 8);
    } else if (n >= 4 && n < 8) {
        memcpy(d, s, 4);
        memcpy(d + n - 4, s + n - 4, 4);
    } else if (n > 0 && n < 4) {
        d[0] = s[0];
        d[n - 1] = s[n - 1];
        d[n / 2] = s[n / 2];
    } else if (n > 32) {
        memcpy(d, s, (size_t) n);
    }
}
"""


def table_kernel(direction, cls):
    """Gather (pack) or scatter (unpack) count elements by a table of runs."""
    name = f"mpic_t{direction}_{cls}"
    pack = direction == "pack"
    strided = "src + p[i].offset" if pack else "dst + p[i].offset"
    if cls == "any":
        copy = f"mpic_run(dst, {strided}, p[i].len);" if pack else \
               f"mpic_run({strided}, src, p[i].len);"
    else:
        size = "nw * 8" if cls == "w8" else cls[1:]
        copy = (f"memcpy(dst, {strided}, {size});" if pack else
                f"memcpy({strided}, src, {size});")
    step = "dst" if pack else "src"
    adv = f"{step} += p[i].len;"
    ahead = "src" if pack else "dst"
    lines = [f"static void {name}(const char *restrict src, char *restrict dst, "
             f"const mpic_piece *restrict p, int64_t n, int64_t count, int64_t extent)",
             "{",
             "    const int64_t nw = n ? p[0].len / 8 : 0;",
             "    (void) nw;",
             f"    for (int64_t e = 0; e < count; e++, {ahead} += extent) {{",
             "        for (int64_t i = 0; i < n; i++) {",
             f"            if (i + {TABLE_AHEAD} < n)",
             f"                __builtin_prefetch({ahead} + p[i + {TABLE_AHEAD}].offset, {0 if pack else 1});",
             f"            {copy}",
             f"            {adv}",
             "        }",
             "    }",
             "}"]
    return name, "\n".join(lines) + "\n"


def table_lookup():
    fixed = "\n".join(f"    case {n}: return &mpic_table_kernels[{i}];" for i, n in enumerate(FIXED))
    return f"""const mpic_table_kernel *mpic_table_kernel_lookup(int64_t run)
{{
    switch (run) {{
{fixed}
    case 0: return &mpic_table_kernels[{len(FIXED) + 1}];
    default: return &mpic_table_kernels[run % 8 ? {len(FIXED) + 1} : {len(FIXED)}];
    }}
}}
"""


def generate():
    out = ["/* Generated by codegen/genpup.py; do not edit. */",
           "#include <string.h>",
           "#include <stdint.h>",
           '#include "mpic_internal.h"', "",
           "/* Chunked and 32/64-byte copies (and 33-63 bytes) get an AVX2 clone, chosen when the library is loaded. */",
           "#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)",
           '#define MPIC_WIDE __attribute__((target_clones("avx2", "default")))',
           "#else",
           "#define MPIC_WIDE",
           "#endif", "",
           f"/* Prefetch distance along level 1: about {PREFETCH_BYTES} bytes ahead, 4 to 64 blocks;",
           f" * none where no level steps {PREFETCH_MIN_STRIDE} bytes or more. */",
           "static inline int64_t mpic_ahead(const mpic_plan *p)",
           "{",
           "    int64_t stride = p->strides[1], a = stride < 0 ? -stride : stride,",
           f"            n = a ? {PREFETCH_BYTES} / a : 64, far = 0;",
           "",
           "    for (int i = 1; i < p->ndims; i++)      /* or-ing: at least the largest */",
           "        far |= p->strides[i] < 0 ? -p->strides[i] : p->strides[i];",
           f"    if (far < {PREFETCH_MIN_STRIDE})",
           "        return 0;",
           "    return (n < 4 ? 4 : n > 64 ? 64 : n) * stride;",
           "}", ""]
    table = []
    for levels in range(1, MAX_LEVELS + 1):
        row = []
        for cls in classes():
            pname, psrc = kernel("pack", levels, cls)
            uname, usrc = kernel("unpack", levels, cls)
            out += [psrc, usrc]
            row.append(f'        {{"d{levels}_{cls}", {pname}, {uname}}},')
        table.append("    {\n" + "\n".join(row) + "\n    },")
    ncls = len(classes())
    out.append(f"static const mpic_kernel mpic_kernels[{MAX_LEVELS}][{ncls}] = {{")
    out += table
    out += ["};", "", lookup(), stream_section()]
    rows = []
    out.append(SHORT_RUN)
    for cls in TABLE_CLASSES:
        pname, psrc = table_kernel("pack", cls)
        uname, usrc = table_kernel("unpack", cls)
        out += [psrc, usrc]
        rows.append(f'    {{"t_{cls}", {pname}, {uname}}},')
    out.append(f"static const mpic_table_kernel mpic_table_kernels[{len(TABLE_CLASSES)}] = {{")
    out += rows + ["};", "", table_lookup()]
    out += [f"const int mpic_kernels_generated = "
            f"{2 * MAX_LEVELS * ncls + 2 * len(TABLE_CLASSES) + MAX_LEVELS};", ""]
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", help="directory for mpic_kernels.c")
    args = ap.parse_args(argv)
    os.makedirs(args.outdir, exist_ok=True)
    path = os.path.join(args.outdir, "mpic_kernels.c")
    text = generate()
    try:
        with open(path) as f:
            if f.read() == text:
                return 0
    except OSError:
        pass
    with open(path, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
