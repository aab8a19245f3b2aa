/*
 * The table form: what the strided form cannot express (blocks at irregular
 * displacements or of unequal lengths, a struct whose members are laid out differently,
 * either nested in a vector, a struct or another index), written as the list of its
 * pieces in typemap order. A piece is one contiguous run of bytes, or a strided block (a
 * canonical description of its own) where a member repeats; each lies at an offset from
 * the element's start. Runs that follow each other in memory are merged, so a struct of
 * adjacent members is one run.
 *
 * The table is built from the same contents as the strided form, when that fails, and
 * checked the same way against what the MPI reports (size, true bounds). Descriptions
 * share a table by reference (mpic_desc_retain, mpic_desc_release).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mpic_internal.h"

#define TABLE_MAX_PIECES (1 << 20)
#define TABLE_MAX_SHAPES 4096

/* 1. Building: pieces appended in typemap order. */
typedef struct builder {
    mpic_table *t;
    int64_t cap_pieces, cap_shapes;
    const char *why;
} builder;

static int grow(void **p, int64_t *cap, int64_t need, size_t size)
{
    int64_t n = *cap ? *cap : 16;
    void *q;

    if (need <= *cap)
        return 0;
    while (n < need)
        n *= 2;
    if (!(q = realloc(*p, (size_t) n * size)))
        return 1;
    *p = q;
    *cap = n;
    return 0;
}

/* One more piece, within the cap. */
static int append(builder *b, mpic_piece p)
{
    mpic_table *t = b->t;

    if (t->npieces >= TABLE_MAX_PIECES) {
        b->why = "a table of more than 2^20 pieces";
        return 1;
    }
    if (grow((void **) &t->pieces, &b->cap_pieces, t->npieces + 1, sizeof *t->pieces)) {
        b->why = "no memory for the table";
        return 1;
    }
    t->pieces[t->npieces++] = p;
    return 0;
}

static int add_run(builder *b, int64_t offset, int64_t len)
{
    mpic_table *t = b->t;
    mpic_piece *last = t->npieces ? &t->pieces[t->npieces - 1] : NULL;

    if (len <= 0)
        return 0;
    if (last && last->shape < 0 && last->offset + last->len == offset) {
        last->len += len;
        return 0;
    }
    return append(b, (mpic_piece) { offset, len, 0, -1 });
}

static int add_shape(builder *b, int64_t offset, const mpic_desc *shape)
{
    mpic_table *t = b->t;
    int64_t s = 0;

    while (s < t->nshapes && !mpic_desc_same_layout(&t->shapes[s], shape))
        s++;
    if (s == t->nshapes) {
        if (t->nshapes >= TABLE_MAX_SHAPES) {
            b->why = "a table of more than 4096 strided shapes";
            return 1;
        }
        if (grow((void **) &t->shapes, &b->cap_shapes, t->nshapes + 1, sizeof *t->shapes)) {
            b->why = "no memory for the table";
            return 1;
        }
        t->shapes[t->nshapes++] = *shape;
    }
    return append(b, (mpic_piece) { offset, shape->info.size, 0, (int32_t) s });
}

/* A strided description as a piece: a contiguous one as a run; else its shape, moved to
 * start 0 (its start goes into the offset). */
static int add_strided(builder *b, int64_t offset, const mpic_desc *d)
{
    mpic_desc shape;

    if (d->ndims == 1)
        return add_run(b, offset + d->start, d->counts[0]);
    shape = *d;
    shape.start = 0;
    shape.table = NULL;
    shape.info = (mpic_typeinfo) { .size = d->info.size };
    return add_shape(b, offset + d->start, &shape);
}

/* One element of child at offset: its pieces, or itself. */
static int add_child(builder *b, int64_t offset, const mpic_desc *child)
{
    const mpic_table *ct = child->table;

    if (child->canonical)
        return add_strided(b, offset, child);
    for (int64_t i = 0; i < ct->npieces; i++) {
        const mpic_piece *p = &ct->pieces[i];
        int err = p->shape < 0 ? add_run(b, offset + p->offset, p->len)
                               : add_shape(b, offset + p->offset, &ct->shapes[p->shape]);
        if (err)
            return 1;
    }
    return 0;
}

/* Would n copies of child's pieces pass the cap? (Checked before a loop, since merged
 * runs need not grow the table.) */
static int too_many(builder *b, int64_t n, const mpic_desc *child)
{
    int64_t per = child->table ? child->table->npieces : 1;

    if (n <= TABLE_MAX_PIECES / per)
        return 0;
    b->why = "a table of more than 2^20 pieces";
    return 1;
}

/* n elements of child, its extent apart, from offset: one strided piece where the child
 * is strided and the levels fit, else element by element. */
static int add_block(builder *b, int64_t offset, const mpic_desc *child, int64_t n)
{
    mpic_levels l;

    if (n <= 0 || child->info.size == 0)
        return 0;
    if (child->canonical) {
        mpic_levels_from_desc(&l, child);
        if (!mpic_levels_push(&l, n, child->info.extent)) {
            mpic_desc d = { .info = { .size = child->info.size * n } };
            mpic_levels_simplify(&l);
            if (l.n + 1 <= MPIC_MAX_DIMS) {
                mpic_levels_store(&d, &l);
                return add_strided(b, offset, &d);
            }
        }
    }
    if (too_many(b, n, child))
        return 1;
    for (int64_t r = 0; r < n; r++)
        if (add_child(b, offset + r * child->info.extent, child))
            return 1;
    return 0;
}

/* Blocks i of blocklens[i] (or common) children at displs[i] * unit bytes. */
static int add_indexed(builder *b, const mpic_desc *ch, int per_block_child, int64_t n,
                       const int64_t *blocklens, int64_t common, const int64_t *displs,
                       int64_t unit)
{
    if (!per_block_child && too_many(b, n, &ch[0]))
        return 1;
    for (int64_t i = 0; i < n; i++)
        if (add_block(b, displs[i] * unit, per_block_child ? &ch[i] : &ch[0],
                      blocklens ? blocklens[i] : common))
            return 1;
    return 0;
}

/* A subarray of a child that is a table: each run of the fastest dimension is a block. */
static int add_subarray(builder *b, const mpic_desc *child, int64_t nd, const int64_t *sizes,
                        const int64_t *subsizes, const int64_t *starts, int c_order)
{
    int64_t idx[MPIC_LEVELS_CAP] = {0}, stride[MPIC_LEVELS_CAP], ext = child->info.extent;
    int64_t inner = c_order ? nd - 1 : 0;

    if (nd < 1 || nd > MPIC_LEVELS_CAP) {
        b->why = "subarray of too many dimensions";
        return 1;
    }
    for (int64_t k = 0, s = ext; k < nd; k++) {      /* byte stride of each dimension */
        int64_t dim = c_order ? nd - 1 - k : k;
        stride[dim] = s;
        s *= sizes[dim];
    }
    int64_t rows = 1;
    for (int64_t k = 0; k < nd; k++) {
        if (subsizes[k] <= 0)
            return 0;
        if (k != inner && (rows *= subsizes[k]) > TABLE_MAX_PIECES)
            break;
    }
    if (too_many(b, rows, child))
        return 1;
    for (;;) {
        int64_t off = 0, k;
        for (int64_t dim = 0; dim < nd; dim++)
            off += (starts[dim] + (dim == inner ? 0 : idx[dim])) * stride[dim];
        if (add_block(b, off, child, subsizes[inner]))
            return 1;
        /* Next run: the slower dimensions as an odometer, the fastest of them first. */
        for (k = 0; k < nd; k++) {
            int64_t dim = c_order ? nd - 1 - k : k;
            if (dim == inner)
                continue;
            if (++idx[dim] < subsizes[dim])
                break;
            idx[dim] = 0;
        }
        if (k == nd)
            return 0;
    }
}

/* 2. The pieces of one combiner over its children. */
static int add_combiner(builder *b, const mpic_contents *c, const mpic_desc *ch)
{
    int64_t n = c->combiner == MPIC_COMBINER_SUBARRAY ? 0 : mpic_arg(c, 0);
    const int64_t *iv = c->large ? c->counts : c->ints;

    switch (c->combiner) {
    case MPIC_COMBINER_DUP:
    case MPIC_COMBINER_RESIZED:
        return add_child(b, 0, &ch[0]);
    case MPIC_COMBINER_CONTIGUOUS:
        return add_block(b, 0, &ch[0], n);
    case MPIC_COMBINER_VECTOR:
    case MPIC_COMBINER_HVECTOR: {
        int64_t stride = c->combiner == MPIC_COMBINER_VECTOR ? mpic_arg(c, 2) * ch[0].info.extent
                         : c->large ? c->counts[2] : c->addrs[0];
        if (too_many(b, n, &ch[0]))
            return 1;
        for (int64_t j = 0; j < n; j++)
            if (add_block(b, j * stride, &ch[0], mpic_arg(c, 1)))
                return 1;
        return 0;
    }
    case MPIC_COMBINER_INDEXED:
        return add_indexed(b, ch, 0, n, iv + 1, 0, iv + 1 + n, ch[0].info.extent);
    case MPIC_COMBINER_HINDEXED:
        return add_indexed(b, ch, 0, n, iv + 1, 0, mpic_byte_displs(c, 1 + n), 1);
    case MPIC_COMBINER_INDEXED_BLOCK:
        return add_indexed(b, ch, 0, n, NULL, mpic_arg(c, 1), iv + 2, ch[0].info.extent);
    case MPIC_COMBINER_HINDEXED_BLOCK:
        return add_indexed(b, ch, 0, n, NULL, mpic_arg(c, 1), mpic_byte_displs(c, 2), 1);
    case MPIC_COMBINER_STRUCT:
        return add_indexed(b, ch, 1, n, iv + 1, 0, mpic_byte_displs(c, 1 + n), 1);
    case MPIC_COMBINER_SUBARRAY:
        n = c->ints[0];
        if (c->large)
            return add_subarray(b, &ch[0], n, c->counts, c->counts + n, c->counts + 2 * n,
                                c->ints[1] == c->order_c);
        return add_subarray(b, &ch[0], n, c->ints + 1, c->ints + 1 + n, c->ints + 1 + 2 * n,
                            c->ints[1 + 3 * n] == c->order_c);
    default:
        b->why = "not a combiner the table form covers";
        return 1;
    }
}

/* Byte range [lo, hi) of a piece from its element's start. */
static void piece_span(const mpic_table *t, const mpic_piece *p, int64_t *lo, int64_t *hi)
{
    *lo = p->offset;
    *hi = p->offset + p->len;
    if (p->shape >= 0) {
        const mpic_desc *s = &t->shapes[p->shape];
        *hi = p->offset + s->counts[0];
        for (int i = 1; i < s->ndims; i++) {
            int64_t span = (s->counts[i] - 1) * s->strides[i];
            if (span < 0)
                *lo += span;
            else
                *hi += span;
        }
    }
}

/* 3. The table against the MPI's size and true bounds. */
static const char *check(const mpic_table *t, const mpic_typeinfo *info)
{
    int64_t size = 0, lo = INT64_MAX, hi = INT64_MIN, a, z;

    for (int64_t i = 0; i < t->npieces; i++) {
        size += t->pieces[i].len;
        piece_span(t, &t->pieces[i], &a, &z);
        lo = a < lo ? a : lo;
        hi = z > hi ? z : hi;
    }
    if (t->npieces == 0)
        return "empty type";
    if (size != info->size)
        return "table size disagrees with the MPI";
    if (lo != info->true_lb || hi - lo != info->true_extent)
        return "table true bounds disagree with the MPI";
    return NULL;
}

/* One reference; the run length every piece shares (0: they differ, or some are
 * strided); the contiguous blocks an element has. */
static void finish(mpic_table *t)
{
    int64_t run = -1;

    t->blocks = 0;
    for (int64_t i = 0, at = 0; i < t->npieces; i++) {
        mpic_piece *p = &t->pieces[i];
        int64_t n = 1;
        p->at = at;
        at += p->len;
        run = run == 0 || p->shape >= 0 || (run > 0 && p->len != run) ? 0 : p->len;
        if (p->shape >= 0)
            for (int k = 1; k < t->shapes[p->shape].ndims; k++)
                n *= t->shapes[p->shape].counts[k];
        t->blocks += n;
    }
    t->run = run > 0 ? run : 0;
    t->refs = 1;
}

int mpic_table_build(mpic_desc *out, const mpic_contents *c, const mpic_desc *children)
{
    builder b = { 0 };
    const char *why;

    /* 1. A combiner the table covers, every child that carries data strided or a table
     * itself (else the strided form's reason stands). */
    if (c->combiner == MPIC_COMBINER_DARRAY || c->combiner == MPIC_COMBINER_NAMED ||
        c->combiner == MPIC_COMBINER_OTHER)
        return MPIC_ERR_NOT_CANONICAL;
    for (int64_t i = 0; i < c->ntypes; i++)
        if (children[i].info.size > 0 && !mpic_packable(&children[i]))
            return MPIC_ERR_NOT_CANONICAL;
    if (!(b.t = calloc(1, sizeof *b.t)))
        return MPIC_ERR_NOT_CANONICAL;

    /* 2. Its pieces, 3. checked; 4. whether every piece is a run of one length. */
    why = add_combiner(&b, c, children) ? b.why : check(b.t, &out->info);
    if (why) {
        mpic_table_free(b.t);
        snprintf(out->reason, sizeof out->reason, "%s", why);
        return MPIC_ERR_NOT_CANONICAL;
    }
    /* 5. One piece is the strided form after all (blocks of unequal lengths that touch). */
    if (b.t->npieces == 1) {
        const mpic_piece *p = &b.t->pieces[0];
        int64_t size = out->info.size;
        mpic_typeinfo info = out->info;
        if (p->shape < 0)
            *out = (mpic_desc) { .canonical = 1, .ndims = 1, .counts = { size } };
        else
            *out = b.t->shapes[p->shape];
        out->canonical = 1;
        out->start = p->offset;
        out->info = info;
        mpic_table_free(b.t);
        return MPIC_OK;
    }
    finish(b.t);
    out->canonical = 0;
    out->table = b.t;
    snprintf(out->reason, sizeof out->reason, "table of %lld pieces",
             (long long) b.t->npieces);
    return MPIC_OK;
}

void mpic_table_free(mpic_table *t)
{
    if (!t)
        return;
    free(t->pieces);
    free(t->shapes);
    free(t);
}

void mpic_desc_retain(const mpic_desc *d)
{
    if (d->table)
        __atomic_fetch_add(&((mpic_table *) d->table)->refs, 1, __ATOMIC_RELAXED);
}

void mpic_desc_release(mpic_desc *d)
{
    mpic_table *t = (mpic_table *) d->table;

    d->table = NULL;
    if (t && __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0)
        mpic_table_free(t);
}

int mpic_packable(const mpic_desc *d)
{
    return d->canonical || d->table != NULL;
}

int64_t mpic_block_bytes(const mpic_desc *d)
{
    if (d->canonical)
        return d->counts[0];
    return d->table && d->table->blocks ? d->info.size / d->table->blocks : 0;
}

/* Blocks whose rows interleave (a transpose's columns: 16 B at 8 KiB, the next column
 * 16 B on: a span per block of half the stride or less) share cache lines across the
 * outer loop, while its inner loop stays within this many lines; their memory traffic
 * is that of their span. */
#define REUSE_LINES 16384

int64_t mpic_block_stride(const mpic_desc *d)
{
    int64_t blocks;

    if (!d->canonical)
        return d->table && d->table->blocks ? d->info.true_extent / d->table->blocks : 0;
    if (d->ndims < 2)
        return d->info.extent;
    blocks = d->info.size / d->counts[0];
    if (d->counts[1] <= REUSE_LINES && blocks > 0 &&
        2 * (d->info.true_extent / blocks) <= d->strides[1])
        return d->info.true_extent / blocks;
    return d->strides[1];
}

int64_t mpic_table_pieces(const mpic_desc *d, int64_t *nshapes)
{
    if (!d->table) {
        *nshapes = 0;
        return 0;
    }
    *nshapes = d->table->nshapes;
    return d->table->npieces;
}

int mpic_table_piece(const mpic_desc *d, int64_t i, int64_t *offset, int64_t *len,
                     int64_t *shape)
{
    if (!d->table || i < 0 || i >= d->table->npieces)
        return MPIC_ERR_ARG;
    *offset = d->table->pieces[i].offset;
    *len = d->table->pieces[i].len;
    *shape = d->table->pieces[i].shape;
    return MPIC_OK;
}

const mpic_desc *mpic_table_shape(const mpic_desc *d, int64_t s)
{
    return d->table && s >= 0 && s < d->table->nshapes ? &d->table->shapes[s] : NULL;
}

/* 4. Packing: a table of runs by a generated kernel; one with strided pieces piece by
 * piece (a run copied, a shape by its strided kernel). */
int64_t mpic_table_pack(const mpic_desc *d, int64_t count, const char *inbuf, char *packed)
{
    const mpic_table *t = d->table;
    char *out = packed;

    if (t->nshapes == 0) {
        mpic_table_kernel_lookup(t->run)->pack(inbuf, packed, t->pieces, t->npieces, count,
                                               d->info.extent);
        return count * d->info.size;
    }
    for (int64_t e = 0; e < count; e++) {
        const char *base = inbuf + e * d->info.extent;
        for (int64_t i = 0; i < t->npieces; i++) {
            const mpic_piece *p = &t->pieces[i];
            if (p->shape < 0)
                memcpy(out, base + p->offset, (size_t) p->len);
            else
                mpic_pack(&t->shapes[p->shape], 1, base + p->offset, out);
            out += p->len;
        }
    }
    return count * d->info.size;
}

int64_t mpic_table_unpack(const mpic_desc *d, int64_t count, const char *packed, char *outbuf)
{
    const mpic_table *t = d->table;
    const char *in = packed;

    if (t->nshapes == 0) {
        mpic_table_kernel_lookup(t->run)->unpack(packed, outbuf, t->pieces, t->npieces, count,
                                                 d->info.extent);
        return count * d->info.size;
    }
    for (int64_t e = 0; e < count; e++) {
        char *base = outbuf + e * d->info.extent;
        for (int64_t i = 0; i < t->npieces; i++) {
            const mpic_piece *p = &t->pieces[i];
            if (p->shape < 0)
                memcpy(base + p->offset, in, (size_t) p->len);
            else
                mpic_unpack(&t->shapes[p->shape], 1, in, base + p->offset);
            in += p->len;
        }
    }
    return count * d->info.size;
}

/* The first nbytes of the packed stream (nbytes is less than one element past the
 * whole ones): whole pieces, then the head of the next one. */
int64_t mpic_table_unpack_head(const mpic_desc *d, int64_t nbytes, const char *packed,
                               char *elem)
{
    const mpic_table *t = d->table;

    for (int64_t i = 0; i < t->npieces && nbytes > 0; i++) {
        const mpic_piece *p = &t->pieces[i];
        int64_t n = nbytes < p->len ? nbytes : p->len;
        if (p->shape < 0)
            memcpy(elem + p->offset, packed, (size_t) n);
        else
            mpic_unpack_bytes(&t->shapes[p->shape], n, packed, elem + p->offset);
        packed += n;
        nbytes -= n;
    }
    return 0;
}

int mpic_table_make(mpic_desc *out, const int64_t *pieces, int64_t npieces,
                    const mpic_desc *shapes, int64_t nshapes, const mpic_typeinfo *info)
{
    builder b = { 0 };
    const char *why = NULL;

    memset(out, 0, sizeof *out);
    out->info = *info;
    if (!(b.t = calloc(1, sizeof *b.t)))
        return MPIC_ERR_ARG;
    for (int64_t i = 0; i < npieces && !why; i++) {
        int64_t off = pieces[3 * i], len = pieces[3 * i + 1], s = pieces[3 * i + 2];
        if (s >= nshapes || s < -1 || (s >= 0 && !shapes[s].canonical))
            why = "a piece names no strided shape";
        else if (s < 0 ? add_run(&b, off, len) : add_strided(&b, off, &shapes[s]))
            why = b.why;
    }
    if (why || (why = check(b.t, info))) {
        mpic_table_free(b.t);
        snprintf(out->reason, sizeof out->reason, "%s", why);
        return MPIC_ERR_ARG;
    }
    finish(b.t);
    out->table = b.t;
    snprintf(out->reason, sizeof out->reason, "table of %lld pieces", (long long) b.t->npieces);
    return MPIC_OK;
}

/* 5. A byte range of the packed stream (the pipelined method's chunks): the element and
 * the piece it starts in (by binary search on where pieces start), then piece by piece,
 * a strided piece's part by the strided range functions. */
static int64_t find(const mpic_table *t, int64_t off)
{
    int64_t lo = 0, hi = t->npieces - 1;

    while (lo < hi) {
        int64_t mid = (lo + hi + 1) / 2;
        if (t->pieces[mid].at <= off)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

int64_t mpic_table_range(const mpic_desc *d, int64_t first, int64_t nbytes, char *strided,
                         char *packed, int unpack)
{
    const mpic_table *t = d->table;
    int64_t e = first / d->info.size, off = first % d->info.size, i = find(t, off), done = 0;

    while (done < nbytes) {
        const mpic_piece *p = &t->pieces[i];
        char *base = strided + e * d->info.extent + p->offset;
        int64_t within = off - p->at, n = p->len - within < nbytes - done ? p->len - within
                                                                          : nbytes - done;
        if (p->shape >= 0 && unpack)
            mpic_unpack_range(&t->shapes[p->shape], 1, packed + done, within, n, base);
        else if (p->shape >= 0)
            mpic_pack_range(&t->shapes[p->shape], 1, base, within, n, packed + done);
        else if (unpack)
            memcpy(base + within, packed + done, (size_t) n);
        else
            memcpy(packed + done, base + within, (size_t) n);
        done += n;
        off += n;
        if (++i == t->npieces) {
            i = off = 0;
            e++;
        }
    }
    return nbytes;
}
