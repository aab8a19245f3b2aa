/*
 * Pack and unpack: repeat the description count times (one more level, the
 * MPI's extent apart), simplify again, and run the generated kernel for the
 * resulting number of levels and block size.
 */
#include <string.h>
#include "mpic_internal.h"

void mpic_plan_make(mpic_plan *p, int64_t *start, const mpic_desc *d, int64_t count)
{
    mpic_levels l;

    mpic_levels_from_desc(&l, d);
    if (count > 1)
        mpic_levels_push(&l, count, d->info.extent);
    mpic_levels_simplify(&l);
    *start = l.start;
    p->ndims = l.n + 1;
    p->block = l.block;
    p->counts[0] = l.block;
    p->strides[0] = 0;
    for (int i = 0; i < l.n; i++) {
        p->counts[i + 1] = l.counts[i];
        p->strides[i + 1] = l.strides[i];
    }
}

const mpic_kernel *mpic_plan_kernel(const mpic_plan *p)
{
    return mpic_kernel_lookup(p->ndims, p->block);
}

/* A transpose: two levels whose outer one steps less than a cache line, so that one line
 * holds the blocks of several of its steps (the columns of a matrix, taken one column
 * after another, as a 2-D FFT's transpose sends them). Walked as the plan says, each
 * column reads every line again, at a stride that maps them to the same cache sets;
 * instead a tile of the columns sharing a line is copied row by row, each line read
 * once, each column's packed run written in order. Returns the columns per tile, or 0
 * where the plan is not such a transpose. */
static int64_t transpose_tile(const mpic_plan *p)
{
    if (p->ndims != 3 || p->strides[2] < p->block || p->strides[2] > 32 ||
        p->strides[1] <= 64 || p->counts[2] < 2)
        return 0;
    return 64 / p->strides[2];
}

#define TRANSPOSE_LOOP(COPY)                                                          \
    const int64_t n1 = p->counts[1], s1 = p->strides[1], n2 = p->counts[2],          \
                  s2 = p->strides[2], b = p->block;                                   \
    for (int64_t c0 = 0; c0 < n2; c0 += tile) {                                       \
        int64_t cols = n2 - c0 < tile ? n2 - c0 : tile;                               \
        for (int64_t i1 = 0; i1 < n1; i1++)                                           \
            for (int64_t c = c0; c < c0 + cols; c++) {                                \
                int64_t at = c * s2 + i1 * s1, packed_at = (c * n1 + i1) * b;         \
                COPY;                                                                 \
            }                                                                         \
    }

/* One block of a transpose: at most 32 bytes, the common sizes as fixed copies. */
static inline void block_copy(char *restrict d, const char *restrict s, int64_t b)
{
    switch (b) {
    case 8: memcpy(d, s, 8); break;
    case 16: memcpy(d, s, 16); break;
    case 32: memcpy(d, s, 32); break;
    default: memcpy(d, s, (size_t) b);
    }
}

static void transpose_pack(const char *restrict src, char *restrict dst, const mpic_plan *p,
                           int64_t tile)
{
    TRANSPOSE_LOOP(block_copy(dst + packed_at, src + at, b))
}

static void transpose_unpack(const char *restrict src, char *restrict dst,
                             const mpic_plan *p, int64_t tile)
{
    TRANSPOSE_LOOP(block_copy(dst + at, src + packed_at, b))
}

/* How mpic_pack walks plan p into packed (bytes in all), asked in this order and the first
 * that applies taken: a transpose by tiles (*tile), the streaming kernel (*stream), the
 * plan's kernel (*k), else the generic loops (all three unset). Returns its name. */
static const char *pack_walk(const mpic_plan *p, int64_t bytes, const void *packed,
                             int64_t *tile, mpic_kernel_fn *stream, const mpic_kernel **k)
{
    *stream = NULL;
    *k = NULL;
    if ((*tile = transpose_tile(p)))
        return "transpose";
    if ((*stream = mpic_stream_lookup(p, bytes, (uintptr_t) packed)))
        return "s32";
    *k = mpic_plan_kernel(p);
    return *k ? (*k)->name : "generic";
}

int64_t mpic_pack(const mpic_desc *d, int64_t count, const void *inbuf, void *packed)
{
    mpic_plan p;
    int64_t start;
    const mpic_kernel *k;
    mpic_kernel_fn stream;
    int64_t tile;
    const char *src;

    if (!mpic_packable(d) || count < 0)
        return -MPIC_ERR_ARG;
    if (count == 0)
        return 0;
    if (!d->canonical)
        return mpic_table_pack(d, count, inbuf, packed);
    mpic_plan_make(&p, &start, d, count);
    src = (const char *) ((uintptr_t) inbuf + (uintptr_t) start);
    pack_walk(&p, count * d->info.size, packed, &tile, &stream, &k);
    if (tile)
        transpose_pack(src, packed, &p, tile);
    else if (stream)
        stream(src, packed, &p);
    else if (k)
        k->pack(src, packed, &p);
    else
        mpic_pack_generic(src, packed, &p);
    return count * d->info.size;
}

int64_t mpic_unpack(const mpic_desc *d, int64_t count, const void *packed, void *outbuf)
{
    mpic_plan p;
    int64_t start, tile;
    const mpic_kernel *k;
    char *dst;

    if (!mpic_packable(d) || count < 0)
        return -MPIC_ERR_ARG;
    if (count == 0)
        return 0;
    if (!d->canonical)
        return mpic_table_unpack(d, count, packed, outbuf);
    mpic_plan_make(&p, &start, d, count);
    dst = (char *) ((uintptr_t) outbuf + (uintptr_t) start);
    if ((tile = transpose_tile(&p)))
        transpose_unpack(packed, dst, &p, tile);
    else if ((k = mpic_plan_kernel(&p)))
        k->unpack(packed, dst, &p);
    else
        mpic_unpack_generic(packed, dst, &p);
    return count * d->info.size;
}

int64_t mpic_unpack_bytes(const mpic_desc *d, int64_t nbytes, const void *packed, void *outbuf)
{
    int64_t whole, left, idx[MPIC_MAX_DIMS] = {0};
    const char *src;
    char *elem;

    if (!mpic_packable(d) || nbytes < 0)
        return -MPIC_ERR_ARG;
    if (nbytes == 0)
        return 0;
    whole = nbytes / d->info.size;
    if (whole)
        mpic_unpack(d, whole, packed, outbuf);
    if (!d->canonical) {
        mpic_table_unpack_head(d, nbytes - whole * d->info.size,
                               (const char *) packed + whole * d->info.size,
                               (char *) outbuf + whole * d->info.extent);
        return nbytes;
    }

    /* The tail: the first bytes of element `whole`, block by block in typemap order. */
    left = nbytes - whole * d->info.size;
    src = (const char *) packed + whole * d->info.size;
    elem = (char *) outbuf + whole * d->info.extent + d->start;
    while (left > 0) {
        int64_t off = 0, n = left < d->counts[0] ? left : d->counts[0];
        for (int i = 1; i < d->ndims; i++)
            off += idx[i] * d->strides[i];
        memcpy(elem + off, src, (size_t) n);
        src += n;
        left -= n;
        for (int i = 1; i < d->ndims && ++idx[i] == d->counts[i]; i++)
            idx[i] = 0;
    }
    return nbytes;
}

const char *mpic_kernel_name(const mpic_desc *d, int64_t count, const void *packed)
{
    mpic_plan p;
    int64_t start;
    const mpic_kernel *k;
    mpic_kernel_fn stream;
    int64_t tile;

    if (!d->canonical || count <= 0)
        return "none";
    mpic_plan_make(&p, &start, d, count);
    return pack_walk(&p, count * d->info.size, packed, &tile, &stream, &k);
}

/* The plan of count elements of a canonical d (0: none, not canonical or no elements). */
static int canonical_plan(const mpic_desc *d, int64_t count, mpic_plan *p)
{
    int64_t start;

    if (!d->canonical || count <= 0)
        return 0;
    mpic_plan_make(p, &start, d, count);
    return 1;
}

int mpic_contiguous(const mpic_desc *d, int64_t count)
{
    mpic_plan p;

    return canonical_plan(d, count, &p) && p.ndims == 1;
}

int mpic_transposes(const mpic_desc *d, int64_t count)
{
    mpic_plan p;

    return canonical_plan(d, count, &p) && transpose_tile(&p) > 0;
}

int mpic_kernel_count(void)
{
    return mpic_kernels_generated;
}

/* Odometer over levels 1..ndims-1 for plans deeper than the generated kernels. */
#define GENERIC_LOOP(PACKED, COPY)                                                 \
    int64_t idx[MPIC_LEVELS_CAP] = {0};                                               \
    int64_t off = 0;                                                                  \
    for (;;) {                                                                        \
        COPY;                                                                         \
        PACKED += p->block;                                                           \
        int lvl = 1;                                                                  \
        while (lvl < p->ndims) {                                                      \
            off += p->strides[lvl];                                                   \
            if (++idx[lvl] < p->counts[lvl])                                          \
                break;                                                                \
            off -= p->strides[lvl] * p->counts[lvl];                                  \
            idx[lvl] = 0;                                                             \
            lvl++;                                                                    \
        }                                                                             \
        if (lvl == p->ndims)                                                          \
            break;                                                                    \
    }

void mpic_pack_generic(const char *restrict src, char *restrict dst, const mpic_plan *p)
{
    GENERIC_LOOP(dst, memcpy(dst, src + off, (size_t) p->block))
}

void mpic_unpack_generic(const char *restrict src, char *restrict dst, const mpic_plan *p)
{
    GENERIC_LOOP(src, memcpy(dst + off, src, (size_t) p->block))
}
