/*
 * The bytes behind one side of a point-to-point call of ours, as its method keeps them:
 * packed bytes (pack, device, staged, oneshot; mpiw_bytes.c) or a host mirror of a device
 * buffer (mirror; mpiw_device.c). A record is filled once (a send's bytes packed or
 * copied in, unless persistent), refreshed at each MPI_Start of a persistent send,
 * delivered into the program's buffer when a receive completes, and let go of at the end.
 */
#include <stdlib.h>
#include "mpiw.h"

/* A mirror receive of count elements that are one run of bytes in typemap order copies
 * back only the bytes that came, and so needs nothing copied in first: a predefined type
 * without padding, or a canonical one the core finds contiguous. Anything else (gaps,
 * overlaps) is copied in whole and back whole. */
static int dense(int64_t count, MPI_Datatype dt)
{
    int ni, na, nd, combiner;
    MPI_Count size = 0, lb, extent, tlb, textent;
    mpic_desc d;

    if (PMPI_Type_get_envelope(dt, &ni, &na, &nd, &combiner) != MPI_SUCCESS)
        return 0;
    if (combiner != MPI_COMBINER_NAMED)
        return mpiw_types_lookup(dt, &d) && mpic_contiguous(&d, count);
    return PMPI_Type_size_x(dt, &size) == MPI_SUCCESS &&
           PMPI_Type_get_extent_x(dt, &lb, &extent) == MPI_SUCCESS &&
           PMPI_Type_get_true_extent_x(dt, &tlb, &textent) == MPI_SUCCESS && size == extent &&
           size == textent;
}

int mpiw_pending_fill(mpiw_pending *p, const mpiw_choice *c, int recv, int persistent,
                      void *buf, int64_t count, MPI_Datatype dt)
{
    p->method = c->method;
    p->recv = recv;
    p->persistent = persistent;
    p->active = !persistent;
    p->count = count;
    p->buf = buf;
    p->dt = dt;
    p->desc = c->desc;
    mpic_desc_retain(&p->desc);
    p->tmp = NULL;
    p->mirror = NULL;
    p->coll = NULL;
    p->keeps = 0;
    if (c->method == MPIW_METHOD_MIRROR) {
        if (!(p->mirror = malloc(sizeof *p->mirror)))
            return 1;
        if (mpiw_mirror_open(p->mirror, buf, count, dt, 0)) {
            free(p->mirror);
            p->mirror = NULL;
            return 1;
        }
        /* A receive with gaps keeps its own copy of the type, for the mask of the bytes
         * that came (the program may free its type before the message arrives). */
        if (recv && !dense(count, dt)) {
            if (PMPI_Type_dup(dt, &p->kept) != MPI_SUCCESS) {
                mpiw_pending_clear(p);
                return 1;
            }
            p->keeps = 1;
        }
        if (recv ? p->keeps : !persistent) {
            if (mpiw_pending_refresh(p)) {
                mpiw_pending_clear(p);
                return 1;
            }
        }
        return 0;
    }
    if (!(p->tmp = mpiw_bytes_get(c->method, c->bytes, buf)))
        return 1;
    if (!recv && !persistent && mpiw_bytes_pack(c->method, &c->desc, count, buf, p->tmp)) {
        mpiw_pending_clear(p);
        return 1;
    }
    return 0;
}

void *mpiw_pending_wire(const mpiw_pending *p, int64_t *count, MPI_Datatype *dt)
{
    if (p->mirror) {
        *count = p->count;
        *dt = p->dt;
        return mpiw_mirror_at(p->mirror);
    }
    *count = p->count * p->desc.info.size;
    *dt = MPI_PACKED;
    return p->tmp;
}

int mpiw_pending_refresh(mpiw_pending *p)
{
    mpiw_mirror *m = p->mirror;

    if (m)
        return mpid_copy(m->host, m->dev + m->lo, (size_t) (m->hi - m->lo));
    return mpiw_bytes_pack(p->method, &p->desc, p->count, p->buf, p->tmp);
}

void mpiw_recv_complete(const mpiw_pending *p, const MPI_Status *st)
{
    int cancelled = 0, err;
    mpiw_mirror *m = p->mirror;

    if (p->coll) {
        mpiw_mirror *r = &p->coll->r;
        if (mpiw_mirror_close(r, r->lo, mpiw_mirror_len(r)))
            mpiw_log(MPIW_LOG_ERROR, "a collective's result could not be delivered to the "
                     "device buffer: %s", mpid_error());
        return;
    }
    PMPI_Test_cancelled(st, &cancelled);
    if (cancelled)
        return;
    if (!m) {
        err = mpiw_bytes_unpack(p->method, &p->desc, mpiw_status_bytes(st), p->tmp, p->buf);
    } else if (!p->keeps) {
        err = mpid_copy(m->dev + m->lo, m->host, (size_t) mpiw_status_bytes(st));
    } else {
        /* Only the bytes the message wrote: the program may have changed the others,
         * gaps within the span included, since the receive was posted. */
        mpiw_mirror_mask(m, p->count, p->kept, mpiw_status_bytes(st));
        err = m->mask ? mpid_merge(m->dev + m->lo, m->host, m->mask, (size_t) (m->hi - m->lo))
                      : mpid_copy(m->dev + m->lo, m->host, (size_t) (m->hi - m->lo));
        free(m->mask);
        m->mask = NULL;
    }
    if (err)
        mpiw_log(MPIW_LOG_ERROR, "a received message could not be delivered to the device "
                 "buffer: %s", mpid_error());
}

void mpiw_pending_clear(mpiw_pending *p)
{
    if (p->coll) {
        mpiw_mirror_close(&p->coll->s, 0, 0);
        mpiw_mirror_close(&p->coll->r, 0, 0);
        free(p->coll);
        p->coll = NULL;
    } else if (p->mirror) {
        mpiw_mirror_close(p->mirror, 0, 0);
        free(p->mirror);
        p->mirror = NULL;
    } else if (p->tmp) {
        mpiw_bytes_put(p->method, p->tmp);
    }
    p->tmp = NULL;
    if (p->keeps)
        PMPI_Type_free(&p->kept);
    p->keeps = 0;
    mpic_desc_release(&p->desc);
}
