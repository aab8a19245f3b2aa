/*
 * Collectives with device buffers over an MPI that is not CUDA-aware: each buffer the
 * call reads or writes is mirrored in pinned host memory (mpiw_device.c), the MPI runs on
 * the mirrors with the program's own counts and types, and the receive buffer's span is
 * copied back once the call returns. A receive buffer is copied in first too: MPI_IN_PLACE
 * reads it, and a type with gaps must keep them.
 */
#include <stdint.h>
#include "mpiw.h"

int mpiw_coll_device(const void *sbuf, const void *rbuf)
{
    return mpiw_active() &&
           !(mpiw_g.cuda_aware && mpid_backend_active() == &mpid_cuda_backend) &&
           (mpid_on_device(sbuf) || mpid_on_device(rbuf));
}

int mpiw_coll_peers(MPI_Comm comm)
{
    int inter = 0, n = 0;

    if (comm == MPI_COMM_NULL || PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS)
        return 0;
    if (inter)
        PMPI_Comm_remote_size(comm, &n);
    else
        PMPI_Comm_size(comm, &n);
    return n;
}

int mpiw_coll_open(mpiw_coll *c, const void *sbuf, int64_t scount, MPI_Datatype stype,
                   void *rbuf, int64_t rcount, MPI_Datatype rtype)
{
    if (sbuf == MPI_IN_PLACE)
        scount = 0;
    if (mpiw_mirror_open(&c->s, sbuf, scount, stype, 1))
        return 1;
    if (mpiw_mirror_open(&c->r, rbuf, rcount, rtype, 1)) {
        mpiw_mirror_close(&c->s, 0, 0);
        return 1;
    }
    return 0;
}

void *mpiw_coll_sbuf(const mpiw_coll *c)
{
    return mpiw_mirror_at(&c->s);
}

void *mpiw_coll_rbuf(const mpiw_coll *c)
{
    return mpiw_mirror_at(&c->r);
}

int mpiw_coll_close(mpiw_coll *c, int err, MPI_Comm comm)
{
    int bad = mpiw_mirror_close(&c->r, c->r.lo, err == MPI_SUCCESS ? mpiw_mirror_len(&c->r) : 0);

    mpiw_mirror_close(&c->s, 0, 0);
    mpiw_count(MPIW_STAT_method_mirror, 1);
    return bad ? mpiw_device_failed(comm, MPI_ERR_OTHER) : err;
}

/* The bytes the blocks of a side span from its buffer: [lo, hi), lo >= hi when none. */
static void side_span(const mpiw_side *s, int n, int64_t *lo, int64_t *hi)
{
    mpic_typeinfo one = { 0 }, t;

    *lo = INT64_MAX;
    *hi = INT64_MIN;
    if (!s->types && !mpiw_type_info(s->type, &one))
        return;
    for (int i = 0; i < n; i++) {
        int64_t k = mpiw_side_count(s, i), a, b, at;
        if (k <= 0 || !mpiw_type_info(mpiw_side_type(s, i), &t))
            continue;
        at = mpiw_side_block(s, i, (MPI_Aint) one.extent) - s->buf;
        mpid_span(&t, k, &a, &b);
        *lo = at + a < *lo ? at + a : *lo;
        *hi = at + b > *hi ? at + b : *hi;
    }
}

int mpiw_coll_open_sides(mpiw_coll *c, mpiw_side *s, int ns, mpiw_side *r, int nr)
{
    int64_t lo, hi;

    side_span(s, ns, &lo, &hi);
    if (mpiw_mirror_open_span(&c->s, (void *) s->buf == MPI_IN_PLACE ? NULL : s->buf, lo, hi))
        return 1;
    side_span(r, nr, &lo, &hi);
    if (mpiw_mirror_open_span(&c->r, r->buf, lo, hi)) {
        mpiw_mirror_close(&c->s, 0, 0);
        return 1;
    }
    if (c->s.host)
        s->buf = mpiw_mirror_at(&c->s);
    if (c->r.host)
        r->buf = mpiw_mirror_at(&c->r);
    return 0;
}
