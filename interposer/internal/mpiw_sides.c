/*
 * The sides of an all-to-all (neighbourhood or whole communicator): where each block
 * is, and a side packed whole into MPI_PACKED bytes, one block after the other.
 */
#include <limits.h>
#include <stdlib.h>
#include "mpiw.h"

int64_t mpiw_side_count(const mpiw_side *s, int i)
{
    return s->counts ? s->counts[i] : s->counts_c ? (int64_t) s->counts_c[i] : s->count;
}

MPI_Datatype mpiw_side_type(const mpiw_side *s, int i)
{
    return s->types ? s->types[i] : s->type;
}

/* The first byte of block i: displacements are bytes for the w forms, extents for the
 * v forms, and MPI_Alltoall's block i starts i * count extents in. */
char *mpiw_side_block(const mpiw_side *s, int i, MPI_Aint extent)
{
    int64_t d = s->displs ? s->displs[i] : s->displs_a ? (int64_t) s->displs_a[i]
                                                       : (int64_t) i * s->count;

    return s->buf + (s->types ? d : d * extent);
}

/* Bytes of block i packed into n blocks of a side, their offsets in o, their total. */
static int64_t layout(const mpiw_side *s, int n, const mpic_desc *d, int one, int64_t *c,
                      int64_t *o)
{
    int64_t total = 0;

    for (int i = 0; i < n; i++) {
        int64_t k = mpiw_side_count(s, i);
        c[i] = k ? k * d[one ? 0 : i].info.size : 0;
        o[i] = total;
        total += c[i];
    }
    return total;
}

/* 2. Allocate (and, on the sending side, fill) the packed bytes of a side. */
static int fill(const mpiw_side *s, int n, int large, int send, const mpic_desc *d, int one,
                int64_t *c, int64_t *o, char **tmp)
{
    MPI_Aint lb, extent = 0;
    int64_t total = layout(s, n, d, one, c, o);

    if ((!large && total > INT_MAX) || (!s->types && PMPI_Type_get_extent(s->type, &lb, &extent)))
        return 0;
    if (!(*tmp = mpiw_scratch_get((size_t) total))) {
        mpiw_log(MPIW_LOG_WARN, "no memory for a packed all-to-all; the MPI carries it");
        return 0;
    }
    for (int i = 0; i < n && send; i++)
        if (c[i])
            mpic_pack(&d[one ? 0 : i], mpiw_side_count(s, i), mpiw_side_block(s, i, extent),
                      *tmp + o[i]);
    if (send)
        mpiw_count(MPIW_STAT_bytes_packed, total);
    return 1;
}

/* Does the chooser pack count elements of dt (d filled, its table retained: the caller
 * releases it)? A type of ours it declines counts as method_passthrough. */
int mpiw_side_packs(const void *buf, int64_t count, MPI_Datatype dt, mpic_desc *d,
                    const mpiw_collective *k, int recv)
{
    mpiw_call call = { buf, count, dt, 0, MPI_COMM_NULL, 1, 0, k->form + 1, k->ranks, recv,
                       k->remote };
    mpiw_choice c;

    mpiw_choose(&call, &c);
    mpiw_count(MPIW_STAT_method_passthrough, c.declined);
    if (c.method != MPIW_METHOD_PACK)
        return 0;
    *d = c.desc;
    mpic_desc_retain(d);
    return 1;
}

void mpiw_side_release(mpic_desc *d, int n)
{
    for (int i = 0; i < n; i++)
        mpic_desc_release(&d[i]);
}

int mpiw_side_pack(const mpiw_side *s, int n, int large, int send, mpic_desc *d, int64_t *c,
                   int64_t *o, char **tmp, const mpiw_collective *k)
{
    int64_t most = 0;

    /* 1. One type for every block: packed whole or not at all, as the largest decides. */
    for (int i = 0; i < n; i++) {
        if (mpiw_side_count(s, i) < 0)
            return 0;
        most = mpiw_side_count(s, i) > most ? mpiw_side_count(s, i) : most;
    }
    return mpiw_side_packs(s->buf, most, s->type, d, k, !send) &&
           fill(s, n, large, send, d, 1, c, o, tmp);
}

int mpiw_side_pack_w(const mpiw_side *s, int n, int large, int send, mpic_desc *d, int64_t *c,
                     int64_t *o, char **tmp, const mpiw_collective *k)
{
    int64_t most = -1;
    int at = 0;

    /* 1. A type per block: every block with data must be one of ours; the largest (in
     * bytes) decides for the side. */
    for (int i = 0; i < n; i++) {
        int64_t k = mpiw_side_count(s, i);
        if (k < 0 || (k > 0 && !mpiw_types_lookup_packable(mpiw_side_type(s, i), &d[i])))
            return 0;
        if (k > 0 && k * d[i].info.size > most) {
            most = k * d[i].info.size;
            at = i;
        }
    }
    if (most < 0)
        return 0;
    mpic_desc chosen = { 0 };
    int ours = mpiw_side_packs(s->buf, mpiw_side_count(s, at), mpiw_side_type(s, at), &chosen,
                               k, !send);
    mpic_desc_release(&chosen);
    return ours && fill(s, n, large, send, d, 0, c, o, tmp);
}

void mpiw_side_unpack(const mpiw_side *r, int n, const mpic_desc *d, int one, const char *tmp,
                      const int64_t *c, const int64_t *o, const char *skip)
{
    MPI_Aint lb, extent = 0;
    int64_t done = 0;

    if (!r->types && PMPI_Type_get_extent(r->type, &lb, &extent))
        return;
    for (int i = 0; i < n; i++)
        if (c[i] && !(skip && skip[i])) {
            mpic_unpack(&d[one ? 0 : i], mpiw_side_count(r, i), tmp + o[i],
                        mpiw_side_block(r, i, extent));
            done += c[i];
        }
    mpiw_count(MPIW_STAT_bytes_unpacked, done);
}
