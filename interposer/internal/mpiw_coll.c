/*
 * Collectives with device buffers over an MPI that is not CUDA-aware: each buffer the
 * call reads or writes is mirrored in pinned host memory (mpiw_device.c), the MPI runs on
 * the mirrors with the program's own counts and types, and the receive buffer's span is
 * copied back once the call returns (a nonblocking call: once its request completes,
 * through whichever completion call, mpiw_requests.c). A receive buffer is copied in first
 * too (MPI_IN_PLACE reads it), and only the bytes of its blocks go back: the program may
 * change the others while a nonblocking call is under way.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "mpiw.h"

int mpiw_coll_device(const void *sbuf, const void *rbuf)
{
    return mpiw_active() &&
           !(mpiw_g.cuda_aware && mpid_backend_real()) &&
           mpid_either_on_device(sbuf, rbuf);
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

int mpiw_coll_root(MPI_Comm comm, int root)
{
    int rank = -1, inter = 0;

    PMPI_Comm_test_inter(comm, &inter);
    if (inter)
        return root == MPI_ROOT;
    PMPI_Comm_rank(comm, &rank);
    return rank == root;
}

mpiw_side mpiw_coll_side(const void *buf, const void *counts, const void *displs, int aint,
                         MPI_Datatype type, const MPI_Datatype *types, int large)
{
    mpiw_side s = { .buf = (char *) buf, .type = type, .types = types };

    if (large)
        s.counts_c = counts;
    else
        s.counts = counts;
    if (large || aint)
        s.displs_a = displs;
    else
        s.displs = displs;
    return s;
}

/* A blocking call's end: the receive side back to the device after success. */
static int close_now(mpiw_coll *c, int err, MPI_Comm comm)
{
    int bad = mpiw_mirror_close(&c->r, c->r.lo, err == MPI_SUCCESS ? mpiw_mirror_len(&c->r) : 0);

    mpiw_mirror_close(&c->s, 0, 0);
    return bad ? mpiw_device_failed(comm, MPI_ERR_OTHER) : err;
}

int mpiw_coll_end(mpiw_coll *c, int err, MPI_Comm comm, MPI_Request *req)
{
    mpiw_pending *p;
    int done = 0;

    mpiw_count(MPIW_STAT_method_mirror, 1);
    /* A call the MPI completed at once may share its request handle with others (MPICH
     * hands out one built-in completed request): finish it now, leave the request to the
     * MPI. */
    if (req && err == MPI_SUCCESS)
        PMPI_Request_get_status(*req, &done, MPI_STATUS_IGNORE);
    if (!req || done || err != MPI_SUCCESS || (!c->s.host && !c->r.host))
        return close_now(c, err, comm);
    if (!(p = calloc(1, sizeof *p)) || !(p->coll = malloc(sizeof *p->coll))) {
        free(p);
        mpiw_log(MPIW_LOG_WARN, "no memory to keep a nonblocking collective's mirrors; "
                 "it completes here");
        return close_now(c, PMPI_Wait(req, MPI_STATUS_IGNORE), comm);
    }
    *p->coll = *c;
    p->recv = 1;
    p->active = 1;
    return mpiw_requests_track(req, p);
}

/* The bytes the blocks of a side span from its buffer: [lo, hi), lo >= hi when none. */
static void side_span(const mpiw_side *s, int n, int64_t *lo, int64_t *hi)
{
    mpic_typeinfo one = { 0 }, t;

    *lo = INT64_MAX;
    *hi = INT64_MIN;
    if (n <= 0 || (!s->types && !mpiw_type_info(s->type, &one)))
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

#if MPIW_HAVE_LARGE_COUNT
#define POSITION MPI_Count
#else
#define POSITION int
#endif

/* The receive side's mask: the bytes of its blocks (MPI_Unpack of 0xff bytes), so that
 * only they go back to the device; none where the blocks fill the span. */
static void mask_side(mpiw_mirror *m, const mpiw_side *r, int n)
{
    mpic_typeinfo one = { 0 }, t;
    int64_t total = 0, most = 0;
    unsigned char *ones;
    int err = 0;

    if (!m->host || (!r->types && !mpiw_type_info(r->type, &one)))
        return;
    for (int i = 0; i < n; i++) {
        int64_t k = mpiw_side_count(r, i);
        if (k > 0 && mpiw_type_info(mpiw_side_type(r, i), &t)) {
            total += k * t.size;
            most = k * t.size > most ? k * t.size : most;
        }
    }
    if (total >= m->hi - m->lo || !(m->mask = calloc(1, (size_t) (m->hi - m->lo))))
        return;
    if (!(ones = malloc((size_t) most))) {
        free(m->mask);
        m->mask = NULL;
        return;
    }
    memset(ones, 0xff, (size_t) most);
    for (int i = 0; i < n && !err; i++) {
        int64_t k = mpiw_side_count(r, i);
        MPI_Datatype type = mpiw_side_type(r, i);
        POSITION pos = 0;
        unsigned char *at;
        if (k <= 0 || !mpiw_type_info(type, &t))
            continue;
        at = m->mask - m->lo + (mpiw_side_block(r, i, (MPI_Aint) one.extent) - r->buf);
#if MPIW_HAVE_LARGE_COUNT
        err = PMPI_Unpack_c(ones, k * t.size, &pos, at, k, type, MPI_COMM_SELF);
#else
        err = k * t.size > INT_MAX ||
              PMPI_Unpack(ones, (int) (k * t.size), &pos, at, (int) k, type, MPI_COMM_SELF);
#endif
    }
    free(ones);
    if (err) {
        free(m->mask);
        m->mask = NULL;
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
    mask_side(&c->r, r, nr);
    if (c->s.host)
        s->buf = mpiw_mirror_at(&c->s);
    if (c->r.host)
        r->buf = mpiw_mirror_at(&c->r);
    return 0;
}
