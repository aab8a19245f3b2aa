#!/usr/bin/env python3
"""Generate the interposer's pack/unpack kernels (C).

One kernel per (number of levels, block class) and direction, as MPICH's yaksa
generates its pup kernels: the loop nest is unrolled to the number of levels,
and the innermost copy is specialised on the block:

  b1 .. b64   blocks of exactly that many bytes: one fixed-size copy
  w8 .. w1    blocks of any length made of aligned words of that size
  c32         medium blocks: an inline loop of 32-byte copies (beats a memcpy call)
  mc          long blocks: memcpy

Small-block kernels prefetch the strided side about PREFETCH_BYTES ahead and
are unrolled: such copies are bound by the latency of the cache lines they
touch, not by bandwidth.

Usage: genpup.py OUTDIR   (writes OUTDIR/mpic_kernels.c)
"""
import argparse
import os
import sys

MAX_LEVELS = 5                      # counts[0] plus 4 strided levels; deeper plans run generic
FIXED = [1, 2, 4, 8, 16, 32, 64]    # block sizes with their own kernel
WORDS = [8, 4, 2, 1]                # word sizes for other blocks, by alignment
CHUNK_MIN = 64                      # other blocks this long or longer copy in 32-byte chunks
MEMCPY_MIN = 2048                   # blocks this long or longer call memcpy
PREFETCH_BYTES = 32768              # small blocks: prefetch about this far ahead (4-64 blocks)
UNROLL = 4                          # small blocks: unroll the innermost loop


def classes():
    return [f"b{n}" for n in FIXED] + [f"w{w}" for w in WORDS] + ["c32", "mc"]


def copy_stmt(cls, dst, src):
    """The innermost copy of one block."""
    if cls.startswith("b"):
        return [f"memcpy({dst}, {src}, {int(cls[1:])});"]
    if cls.startswith("w"):
        w = int(cls[1:])
        return [f"for (int64_t w = 0; w < nw; w++)",
                f"    memcpy({dst} + w * {w}, {src} + w * {w}, {w});"]
    if cls == "c32":
        return [f"for (int64_t w = 0; w < nw; w++)",
                f"    memcpy({dst} + w * 32, {src} + w * 32, 32);",
                f"if (tail)",
                f"    memcpy({dst} + nw * 32, {src} + nw * 32, (size_t) tail);"]
    return ["memcpy(" + dst + ", " + src + ", (size_t) block);"]


def kernel(direction, levels, cls):
    """C source of one kernel. The strided side is src for pack, dst for unpack."""
    name = f"mpic_{direction}_d{levels}_{cls}"
    strided, packed = ("src", "dst") if direction == "pack" else ("dst", "src")
    qual = "const char *" if direction == "pack" else "char *"
    attr = "MPIC_WIDE " if cls in ("c32", "b32", "b64") else ""
    lines = [f"static {attr}void {name}(const char *restrict src, char *restrict dst, "
             f"const mpic_plan *p)", "{"]
    body = []
    if cls.startswith("w"):
        body.append(f"const int64_t nw = p->block / {int(cls[1:])};")
    if cls == "c32":
        body.append("const int64_t nw = p->block / 32, tail = p->block % 32;")
    if cls == "mc":
        body.append("const int64_t block = p->block;")
    for lvl in range(1, levels):
        body.append(f"const int64_t n{lvl} = p->counts[{lvl}], s{lvl} = p->strides[{lvl}];")
    small = cls not in ("c32", "mc")
    if levels > 1 and small:
        body.append("const int64_t ahead = mpic_ahead(s1);")
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
        body.append(f"{indent}__builtin_prefetch({inner} + ahead{write});")
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
    lines += ["    " + b for b in body] + ["}", ""]
    return name, "\n".join(lines)


def lookup():
    fixed_cases = "\n".join(f"    case {n}: c = {i}; break;" for i, n in enumerate(FIXED))
    words = "\n".join(
        f"        else if (align >= {w}) c = {len(FIXED) + i};" for i, w in enumerate(WORDS[1:-1], 1))
    return f"""const mpic_kernel *mpic_kernel_lookup(int ndims, int64_t block, int64_t align)
{{
    int c;

    if (ndims < 1 || ndims > {MAX_LEVELS})
        return NULL;
    switch (block) {{
{fixed_cases}
    default:
        if (block >= {MEMCPY_MIN}) c = {len(FIXED) + len(WORDS) + 1};
        else if (block >= {CHUNK_MIN}) c = {len(FIXED) + len(WORDS)};
        else if (align >= {WORDS[0]}) c = {len(FIXED)};
{words}
        else c = {len(FIXED) + len(WORDS) - 1};
    }}
    return &mpic_kernels[ndims - 1][c];
}}
"""


def generate():
    out = ["/* Generated by interposer/codegen/genpup.py; do not edit. */",
           "#include <string.h>",
           "#include <stdint.h>",
           '#include "mpic_internal.h"', "",
           "/* Chunked and 32/64-byte copies get an AVX2 clone, chosen when the library is loaded. */",
           "#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)",
           '#define MPIC_WIDE __attribute__((target_clones("avx2", "default")))',
           "#else",
           "#define MPIC_WIDE",
           "#endif", "",
           f"/* Prefetch distance: about {PREFETCH_BYTES} bytes ahead, 4 to 64 blocks. */",
           "static inline int64_t mpic_ahead(int64_t stride)",
           "{",
           "    int64_t a = stride < 0 ? -stride : stride,",
           f"            n = a ? {PREFETCH_BYTES} / a : 64;",
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
    out += ["};", "", f"const int mpic_kernels_generated = {2 * MAX_LEVELS * ncls};", "", lookup()]
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
