/*
 * Simplification of levels, and the check of the result against the MPI.
 */
#include <stdio.h>
#include <string.h>
#include "mpic_internal.h"

void mpic_levels_from_desc(mpic_levels *l, const mpic_desc *d)
{
    l->start = d->start;
    l->block = d->counts[0];
    l->n = d->ndims - 1;
    for (int i = 1; i < d->ndims; i++) {
        l->counts[i - 1] = d->counts[i];
        l->strides[i - 1] = d->strides[i];
    }
}

int mpic_levels_push(mpic_levels *l, int64_t count, int64_t stride)
{
    if (l->n >= MPIC_LEVELS_CAP)
        return MPIC_ERR_NOT_CANONICAL;
    l->counts[l->n] = count;
    l->strides[l->n] = stride;
    l->n++;
    return MPIC_OK;
}

static void drop(mpic_levels *l, int i)
{
    for (int k = i; k + 1 < l->n; k++) {
        l->counts[k] = l->counts[k + 1];
        l->strides[k] = l->strides[k + 1];
    }
    l->n--;
}

void mpic_levels_simplify(mpic_levels *l)
{
    int changed = 1;

    while (changed) {
        changed = 0;
        /* 1. A level of one repetition does nothing. */
        for (int i = 0; i < l->n; i++)
            if (l->counts[i] == 1) {
                drop(l, i--);
                changed = 1;
            }
        /* 2. Blocks that abut become one block. */
        if (l->n > 0 && l->strides[0] == l->block) {
            l->block *= l->counts[0];
            drop(l, 0);
            changed = 1;
        }
        /* 3. Two levels whose strides chain become one. */
        for (int i = 0; i + 1 < l->n; i++)
            if (l->strides[i + 1] == l->counts[i] * l->strides[i]) {
                l->counts[i] *= l->counts[i + 1];
                drop(l, i + 1);
                changed = 1;
            }
    }
}

static int fail(mpic_desc *out, const char *why, int64_t a, int64_t b)
{
    out->canonical = 0;
    snprintf(out->reason, sizeof out->reason, "%s (%lld vs %lld)", why, (long long) a,
             (long long) b);
    return MPIC_ERR_NOT_CANONICAL;
}

int mpic_levels_to_desc(mpic_desc *out, const mpic_levels *l)
{
    int64_t size = l->block, lo = l->start, hi = l->start + l->block, span;

    /* 1. Empty levels and too many levels are left to the MPI. */
    for (int i = 0; i < l->n; i++)
        if (l->counts[i] <= 0)
            return fail(out, "empty or negative count", l->counts[i], 0);
    if (l->n + 1 > MPIC_MAX_DIMS)
        return fail(out, "too many levels", l->n + 1, MPIC_MAX_DIMS);
    if (l->block <= 0)
        return fail(out, "empty block", l->block, 0);

    /* 2. Size and true bounds must be what the MPI says they are. */
    for (int i = 0; i < l->n; i++) {
        if (__builtin_mul_overflow(size, l->counts[i], &size) ||
            __builtin_mul_overflow(l->counts[i] - 1, l->strides[i], &span))
            return fail(out, "overflow", l->counts[i], l->strides[i]);
        if (span < 0)
            lo += span;
        else
            hi += span;
    }
    if (size != out->info.size)
        return fail(out, "size disagrees with the MPI", size, out->info.size);
    if (lo != out->info.true_lb || hi - lo != out->info.true_extent)
        return fail(out, "true bounds disagree with the MPI", lo, out->info.true_lb);

    /* 3. Copy out. */
    out->reason[0] = 0;
    mpic_levels_store(out, l);
    return MPIC_OK;
}

void mpic_levels_store(mpic_desc *out, const mpic_levels *l)
{
    out->canonical = 1;
    out->start = l->start;
    out->ndims = l->n + 1;
    out->counts[0] = l->block;
    out->strides[0] = 0;
    for (int i = 0; i < l->n; i++) {
        out->counts[i + 1] = l->counts[i];
        out->strides[i + 1] = l->strides[i];
    }
}

int mpic_desc_same_layout(const mpic_desc *a, const mpic_desc *b)
{
    if (a->canonical != b->canonical || a->ndims != b->ndims || a->start != b->start ||
        a->info.extent != b->info.extent || a->info.size != b->info.size)
        return 0;
    for (int i = 0; i < a->ndims; i++)
        if (a->counts[i] != b->counts[i] || a->strides[i] != b->strides[i])
            return 0;
    return 1;
}
