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

/* Largest power of two, up to 8, dividing every address and stride a kernel touches. */
static int64_t alignment(const mpic_plan *p, uintptr_t strided, uintptr_t packed)
{
    uint64_t bits = (uint64_t) strided | (uint64_t) packed | (uint64_t) p->block | 8;
    for (int i = 1; i < p->ndims; i++)
        bits |= (uint64_t) p->strides[i];
    return (int64_t) (bits & -bits);
}

const mpic_kernel *mpic_plan_kernel(const mpic_plan *p, uintptr_t strided, uintptr_t packed)
{
    return mpic_kernel_lookup(p->ndims, p->block, alignment(p, strided, packed));
}

int64_t mpic_pack(const mpic_desc *d, int64_t count, const void *inbuf, void *packed)
{
    mpic_plan p;
    int64_t start;
    const mpic_kernel *k;
    const char *src;

    if (!mpic_packable(d) || count < 0)
        return -MPIC_ERR_ARG;
    if (count == 0)
        return 0;
    if (!d->canonical)
        return mpic_table_pack(d, count, inbuf, packed);
    mpic_plan_make(&p, &start, d, count);
    src = (const char *) ((uintptr_t) inbuf + (uintptr_t) start);
    k = mpic_plan_kernel(&p, (uintptr_t) src, (uintptr_t) packed);
    if (k)
        k->pack(src, packed, &p);
    else
        mpic_pack_generic(src, packed, &p);
    return count * d->info.size;
}

int64_t mpic_unpack(const mpic_desc *d, int64_t count, const void *packed, void *outbuf)
{
    mpic_plan p;
    int64_t start;
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
    k = mpic_plan_kernel(&p, (uintptr_t) dst, (uintptr_t) packed);
    if (k)
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

const char *mpic_kernel_name(const mpic_desc *d, int64_t count, const void *inbuf,
                             const void *packed)
{
    mpic_plan p;
    int64_t start;
    const mpic_kernel *k;

    if (!d->canonical || count <= 0)
        return "none";
    mpic_plan_make(&p, &start, d, count);
    k = mpic_plan_kernel(&p, (uintptr_t) inbuf + (uintptr_t) start, (uintptr_t) packed);
    return k ? k->name : "generic";
}

int mpic_contiguous(const mpic_desc *d, int64_t count)
{
    mpic_plan p;
    int64_t start;

    if (!d->canonical || count <= 0)
        return 0;
    mpic_plan_make(&p, &start, d, count);
    return p.ndims == 1;
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
