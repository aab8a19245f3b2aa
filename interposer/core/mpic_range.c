/*
 * Pack or unpack a byte range of the packed stream: what the pipelined method
 * moves chunk by chunk. A range [first, first + nbytes) is a partial block, whole
 * blocks and a partial block. The whole blocks are cut, level by level, into at
 * most two partial steps and one box of whole steps; each box runs the generated
 * kernel for its shape, so a range costs what packing it whole would, plus at
 * most two kernel calls per level.
 */
#include <string.h>
#include "mpic_internal.h"

typedef struct walk {
    mpic_plan full;            /* the plan of the whole message */
    mpic_plan q;               /* a copy, cut down to the box being run */
    const mpic_plan *p;        /* &full */
    char *packed;              /* the next packed byte */
    int unpack;
} walk;

/* Blocks in one step of level lvl (levels 1..lvl-1 complete). */
static int64_t per_step(const mpic_plan *p, int lvl)
{
    int64_t n = 1;

    for (int i = 1; i < lvl; i++)
        n *= p->counts[i];
    return n;
}

/* Byte offset of block b from block 0, in typemap order (level 1 fastest). */
static int64_t block_offset(const mpic_plan *p, int64_t b)
{
    int64_t off = 0;

    for (int i = 1; i < p->ndims; i++) {
        off += (b % p->counts[i]) * p->strides[i];
        b /= p->counts[i];
    }
    return off;
}

static void copy(walk *w, char *strided, int64_t n)
{
    if (w->unpack)
        memcpy(strided, w->packed, (size_t) n);
    else
        memcpy(w->packed, strided, (size_t) n);
    w->packed += n;
}

/* n whole steps of level lvl from base (lvl 0: one block). */
static void box(walk *w, int lvl, char *base, int64_t n)
{
    const mpic_kernel *k;

    if (lvl == 0) {
        copy(w, base, w->p->block);
        return;
    }
    w->q.ndims = lvl + 1;
    w->q.counts[lvl] = n;
    k = mpic_plan_kernel(&w->q);
    if (w->unpack)
        (k ? k->unpack : mpic_unpack_generic)(w->packed, base, &w->q);
    else
        (k ? k->pack : mpic_pack_generic)(base, w->packed, &w->q);
    w->q.counts[lvl] = w->p->counts[lvl];
    w->packed += n * per_step(w->p, lvl) * w->p->block;
}

/* Blocks [b0, b1) of one step of level lvl + 1, whose block 0 is at base. */
static void blocks(walk *w, int lvl, char *base, int64_t b0, int64_t b1)
{
    int64_t in, lo, hi, stride;

    if (b0 >= b1)
        return;
    if (lvl == 0) {
        box(w, 0, base, 1);
        return;
    }
    in = per_step(w->p, lvl);
    lo = b0 / in;
    hi = b1 / in;
    stride = w->p->strides[lvl];
    if (lo == hi) {
        blocks(w, lvl - 1, base + lo * stride, b0 % in, b1 % in);
        return;
    }
    if (b0 % in)
        blocks(w, lvl - 1, base + lo++ * stride, b0 % in, in);
    if (hi > lo)
        box(w, lvl, base + lo * stride, hi - lo);
    if (b1 % in)
        blocks(w, lvl - 1, base + hi * stride, 0, b1 % in);
}

static int64_t range(const mpic_desc *d, int64_t count, int64_t first, int64_t nbytes,
                     char *strided, char *packed, int unpack)
{
    walk w;
    int64_t start, b, head, whole;
    char *base;

    if (!mpic_packable(d) || count < 0 || first < 0 || nbytes < 0 ||
        first > count * d->info.size - nbytes)
        return -MPIC_ERR_ARG;
    if (nbytes == 0)
        return 0;
    if (!d->canonical)
        return mpic_table_range(d, first, nbytes, strided, packed, unpack);
    mpic_plan_make(&w.full, &start, d, count);
    w.q = w.full;
    w.p = &w.full;
    w.packed = packed;
    w.unpack = unpack;
    base = strided + start;

    /* 1. The end of a block the range starts inside. */
    b = first / w.p->block;
    head = first % w.p->block;
    if (head) {
        int64_t n = w.p->block - head < nbytes ? w.p->block - head : nbytes;
        copy(&w, base + block_offset(w.p, b) + head, n);
        nbytes -= n;
        b++;
    }
    /* 2. Whole blocks, 3. the start of the block it ends inside. */
    whole = nbytes / w.p->block;
    blocks(&w, w.p->ndims - 1, base, b, b + whole);
    if (nbytes -= whole * w.p->block)
        copy(&w, base + block_offset(w.p, b + whole), nbytes);
    return (int64_t) (w.packed - packed);
}

int64_t mpic_pack_range(const mpic_desc *d, int64_t count, const void *inbuf, int64_t first,
                        int64_t nbytes, void *packed)
{
    return range(d, count, first, nbytes, (char *) (uintptr_t) inbuf, packed, 0);
}

int64_t mpic_unpack_range(const mpic_desc *d, int64_t count, const void *packed,
                          int64_t first, int64_t nbytes, void *outbuf)
{
    return range(d, count, first, nbytes, outbuf, (char *) (uintptr_t) packed, 1);
}
