/*
 * Reduce a datatype to the canonical strided block.
 *
 * Each combiner puts new levels around its child's levels: a level is "count
 * repetitions, stride bytes apart". Simplification then drops count-1 levels,
 * folds levels whose stride equals the block into the block, and merges two
 * levels whose strides chain. None of these steps changes which byte goes
 * where, so the packed order stays the typemap order.
 *
 * The result is checked against what the MPI reports: the size and the true
 * bounds must agree, or the type is declared not canonical.
 */
#include <stdio.h>
#include <string.h>
#include <stdarg.h>
#include "mpic.h"
#include "mpic_internal.h"

static int fail(mpic_desc *out, const char *fmt, ...)
{
    va_list ap;
    out->canonical = 0;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    return MPIC_ERR_NOT_CANONICAL;
}

/* Blocks of equal length at regular displacements: the shape shared by indexed,
 * hindexed, indexed_block, hindexed_block and struct. Blocks of length zero
 * carry no data and are skipped. Displacement i is displs[i] * unit bytes. */
static int add_blocks(mpic_desc *out, mpic_levels *l, const mpic_desc *child, int64_t n,
                      const int64_t *blocklens, int64_t common_blocklen, const int64_t *displs,
                      int64_t unit)
{
    int64_t blocklen = -1, kept = 0, first = 0, last = 0, spacing = 0;

    for (int64_t i = 0; i < n; i++) {
        int64_t bl = blocklens ? blocklens[i] : common_blocklen, d = displs[i] * unit;
        if (bl == 0)
            continue;
        if (blocklen >= 0 && bl != blocklen)
            return fail(out, "blocks of different lengths (%lld and %lld)",
                        (long long) blocklen, (long long) bl);
        if (kept == 0)
            first = d;
        else if (kept == 1)
            spacing = d - first;
        else if (d - last != spacing)
            return fail(out, "irregular displacements");
        blocklen = bl;
        last = d;
        kept++;
    }
    if (kept == 0)
        return fail(out, "empty type");

    mpic_levels_from_desc(l, child);
    l->start += first;
    if (mpic_levels_push(l, blocklen, child->info.extent) || mpic_levels_push(l, kept, spacing))
        return fail(out, "too many levels");
    return MPIC_OK;
}

/* Subarray: one level per dimension, the fastest-varying one innermost. */
static int add_subarray(mpic_desc *out, mpic_levels *l, const mpic_desc *child, int64_t ndims,
                        const int64_t *sizes, const int64_t *subsizes, const int64_t *starts,
                        int c_order)
{
    int64_t stride = child->info.extent;

    if (ndims < 1 || ndims > MPIC_LEVELS_CAP)
        return fail(out, "subarray of %lld dimensions", (long long) ndims);
    mpic_levels_from_desc(l, child);
    for (int64_t k = 0; k < ndims; k++) {
        int64_t dim = c_order ? ndims - 1 - k : k;
        l->start += starts[dim] * stride;
        if (mpic_levels_push(l, subsizes[dim], stride))
            return fail(out, "too many levels");
        stride *= sizes[dim];
    }
    return MPIC_OK;
}

/* 2. Turn one combiner into levels around its child. */
static int combiner_levels(mpic_desc *out, mpic_levels *l, const mpic_contents *c,
                           const mpic_desc *ch)
{
    int64_t ext = ch[0].info.extent, n;

    switch (c->combiner) {
    case MPIC_COMBINER_DUP:
    case MPIC_COMBINER_RESIZED:
        mpic_levels_from_desc(l, &ch[0]);
        return MPIC_OK;
    case MPIC_COMBINER_CONTIGUOUS:
        mpic_levels_from_desc(l, &ch[0]);
        return mpic_levels_push(l, mpic_arg(c, 0), ext) ? fail(out, "too many levels") : MPIC_OK;
    case MPIC_COMBINER_VECTOR:
    case MPIC_COMBINER_HVECTOR: {
        int64_t stride = c->combiner == MPIC_COMBINER_VECTOR ? mpic_arg(c, 2) * ext
                         : c->large ? c->counts[2] : c->addrs[0];
        mpic_levels_from_desc(l, &ch[0]);
        if (mpic_levels_push(l, mpic_arg(c, 1), ext) || mpic_levels_push(l, mpic_arg(c, 0), stride))
            return fail(out, "too many levels");
        return MPIC_OK;
    }
    case MPIC_COMBINER_INDEXED:
        n = mpic_arg(c, 0);
        return add_blocks(out, l, &ch[0], n, (c->large ? c->counts : c->ints) + 1, 0,
                          (c->large ? c->counts : c->ints) + 1 + n, ext);
    case MPIC_COMBINER_HINDEXED:
        n = mpic_arg(c, 0);
        return add_blocks(out, l, &ch[0], n, (c->large ? c->counts : c->ints) + 1, 0,
                          mpic_byte_displs(c, 1 + n), 1);
    case MPIC_COMBINER_INDEXED_BLOCK:
        n = mpic_arg(c, 0);
        return add_blocks(out, l, &ch[0], n, NULL, mpic_arg(c, 1),
                          (c->large ? c->counts : c->ints) + 2, ext);
    case MPIC_COMBINER_HINDEXED_BLOCK:
        n = mpic_arg(c, 0);
        return add_blocks(out, l, &ch[0], n, NULL, mpic_arg(c, 1), mpic_byte_displs(c, 2), 1);
    case MPIC_COMBINER_STRUCT: {
        /* Members that carry data must all be the same layout; then it is an hindexed. */
        const mpic_desc *first = NULL;
        const int64_t *bl = (c->large ? c->counts : c->ints) + 1;
        n = mpic_arg(c, 0);
        for (int64_t i = 0; i < n; i++) {
            if (bl[i] == 0 || ch[i].info.size == 0)
                continue;
            if (!ch[i].canonical)
                return fail(out, "struct member: %s", ch[i].reason);
            if (first && !mpic_desc_same_layout(first, &ch[i]))
                return fail(out, "struct members of different layouts");
            if (!first)
                first = &ch[i];
        }
        if (!first)
            return fail(out, "empty type");
        return add_blocks(out, l, first, n, bl, 0, mpic_byte_displs(c, 1 + n), 1);
    }
    case MPIC_COMBINER_SUBARRAY:
        if (c->large) {
            n = c->ints[0];
            return add_subarray(out, l, &ch[0], n, c->counts, c->counts + n, c->counts + 2 * n,
                                c->ints[1] == c->order_c);
        }
        n = c->ints[0];
        return add_subarray(out, l, &ch[0], n, c->ints + 1, c->ints + 1 + n, c->ints + 1 + 2 * n,
                            c->ints[1 + 3 * n] == c->order_c);
    case MPIC_COMBINER_DARRAY:
        return fail(out, "darray is not decoded");
    default:
        return fail(out, "combiner %d is not decoded", c->combiner);
    }
}

/* The count of the repetition nearest the predefined types, as the program built the
 * type: a child's where it has one, else this constructor's where it repeats with gaps
 * (a subarray: its first repeated dimension after the fastest). MPIs move a type by its
 * construction, not its layout: MPICH sends a face built as a vector of short vectors
 * several times faster than the same bytes as one long vector, so the model tells the
 * two apart by this count. */
static int64_t leaf_count(const mpic_contents *c, const mpic_desc *ch)
{
    int64_t most = 0, n, k;
    const int64_t *sub;
    int c_order;

    for (int64_t i = 0; i < c->ntypes; i++)
        most = ch[i].leaf_count > most ? ch[i].leaf_count : most;
    if (most > 0)
        return most;
    switch (c->combiner) {
    case MPIC_COMBINER_DUP:
    case MPIC_COMBINER_RESIZED:
        return 0;
    case MPIC_COMBINER_CONTIGUOUS:
        return ch[0].info.size == ch[0].info.extent ? 0 : mpic_arg(c, 0);
    case MPIC_COMBINER_SUBARRAY:
        n = c->ints[0];                            /* ndims: an int in both forms */
        sub = c->large ? c->counts + n : c->ints + 1 + n;
        c_order = (c->large ? c->ints[1] : c->ints[1 + 3 * n]) == c->order_c;
        for (k = 1; k < n; k++)
            if (sub[c_order ? n - 1 - k : k] > 1)
                return sub[c_order ? n - 1 - k : k];
        return 0;
    default:
        return mpic_arg(c, 0);     /* vectors, indexed and struct: their count of blocks */
    }
}

/* The contiguous bytes of the blocks of that repetition as built: a vector's (or an
 * indexed block's) blocklength, or a subarray's extent in its fastest dimension, of an
 * element without holes; the least of its children's first (0: none). */
static int64_t leaf_bytes(const mpic_contents *c, const mpic_desc *ch)
{
    int64_t least = 0, n;
    const int64_t *sub;
    int c_order;

    for (int64_t i = 0; i < c->ntypes; i++)
        if (ch[i].leaf_bytes > 0 && (!least || ch[i].leaf_bytes < least))
            least = ch[i].leaf_bytes;
    if (least > 0 || ch[0].info.size != ch[0].info.extent)
        return least;
    switch (c->combiner) {
    case MPIC_COMBINER_VECTOR:
    case MPIC_COMBINER_HVECTOR:
    case MPIC_COMBINER_INDEXED_BLOCK:
    case MPIC_COMBINER_HINDEXED_BLOCK:
        return mpic_arg(c, 1) * ch[0].info.size;
    case MPIC_COMBINER_SUBARRAY:
        n = c->ints[0];
        sub = c->large ? c->counts + n : c->ints + 1 + n;
        c_order = (c->large ? c->ints[1] : c->ints[1 + 3 * n]) == c->order_c;
        return sub[c_order ? n - 1 : 0] * ch[0].info.size;
    default:
        return 0;
    }
}

/* How many constructors deep an MPI stores the type: the deepest child's and this
 * level's, where a contiguous of one element, a duplicate and a resize to the child's
 * own bounds add none, and a subarray of n dimensions adds n + 1, at least 3 (MPICH
 * builds a vector, n - 2 hvectors, an offset for its start and the resize; a distributed
 * array one more). MPICH 5 hands a type of at most three levels to the receiver whole,
 * for its single-copy path (mpiw_model.c). */
static int levels(const mpic_contents *c, const mpic_desc *ch, const mpic_typeinfo *info)
{
    int most = 0;
    int64_t n;

    for (int64_t i = 0; i < c->ntypes; i++)
        most = ch[i].levels > most ? ch[i].levels : most;
    switch (c->combiner) {
    case MPIC_COMBINER_DUP:
        return most;
    case MPIC_COMBINER_CONTIGUOUS:
        return most + (mpic_arg(c, 0) != 1);
    case MPIC_COMBINER_RESIZED:
        return most + (info->lb != ch[0].info.lb || info->extent != ch[0].info.extent);
    case MPIC_COMBINER_SUBARRAY:
    case MPIC_COMBINER_DARRAY:
        n = c->combiner == MPIC_COMBINER_SUBARRAY ? c->ints[0] : c->ints[2];
        return most + (n < 2 ? 3 : (int) n + 1) + (c->combiner == MPIC_COMBINER_DARRAY);
    default:
        return most + 1;
    }
}

int mpic_desc_named(mpic_desc *out, const mpic_typeinfo *info)
{
    memset(out, 0, sizeof *out);
    out->info = *info;
    if (info->size <= 0)
        return fail(out, "empty type");
    if (info->size != info->extent || info->lb != 0 || info->true_lb != 0)
        return fail(out, "predefined type with holes (size %lld, extent %lld)",
                    (long long) info->size, (long long) info->extent);
    out->canonical = 1;
    out->ndims = 1;
    out->counts[0] = info->size;
    return MPIC_OK;
}

int mpic_desc_build(mpic_desc *out, const mpic_contents *c, const mpic_desc *children,
                    const mpic_typeinfo *info)
{
    mpic_levels l;
    int err;

    memset(out, 0, sizeof *out);
    out->info = *info;

    /* 1. Children must be canonical themselves (struct checks its own members). */
    if (c->ntypes < 1)
        return fail(out, "no child type");
    if (info->size <= 0)
        return fail(out, "empty type");
    if (c->combiner != MPIC_COMBINER_STRUCT && !children[0].canonical) {
        err = children[0].table ? mpic_table_build(out, c, children)
                                : fail(out, "child: %s", children[0].reason);
        out->leaf_count = leaf_count(c, children);
        out->leaf_bytes = leaf_bytes(c, children);
        out->levels = levels(c, children, info);
        return err;
    }

    /* 2. Levels from the combiner, 3. simplified, 4. checked against the MPI; 5. what
     * the strided form cannot express, as a table. */
    err = combiner_levels(out, &l, c, children);
    if (err && !out->reason[0])
        fail(out, "too many levels");
    if (!err) {
        mpic_levels_simplify(&l);
        err = mpic_levels_to_desc(out, &l);
    }
    if (err)
        err = mpic_table_build(out, c, children);
    out->leaf_count = leaf_count(c, children);
    out->leaf_bytes = leaf_bytes(c, children);
    out->levels = levels(c, children, info);
    return err;
}
