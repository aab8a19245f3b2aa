/*
 * Requests the interposer created: a packed send's buffer must live until the
 * send completes, and a packed receive must be unpacked when it completes,
 * whichever completion call the program uses (Wait*, Test*, Request_get_status,
 * or none after MPI_Request_free); work behind a request (a pipelined message's
 * chunks, mpiw_pipeline.c) is driven through the request's mpiw_driver. A
 * persistent request stays in the table from its MPI_*_init to its MPI_Request_free:
 * each MPI_Start packs a send's bytes afresh, each completion unpacks a receive's and
 * leaves the request inactive. Requests are looked up by handle; programs that never
 * use a packed method pay one load of mpiw_requests_live per call.
 */
#include <pthread.h>
#include <stdlib.h>
#include "mpiw.h"

int64_t mpiw_requests_live;              /* tracked + detached requests */

static mpiw_map tracked;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Requests the program freed while active: still ours to complete. */
typedef struct detached {
    MPI_Request req;
    mpiw_pending *p;
    struct detached *next;
} detached;
static detached *orphans;

#define LOCKED(...) MPIW_LOCKED(&lock, __VA_ARGS__)

/* A request the program let go of has completed (ok: without error): finish it and
 * free it, a persistent one in the MPI too. */
static void release_freed(MPI_Request *req, mpiw_pending *p, const MPI_Status *st, int ok)
{
    int persistent = p->persistent;

    mpiw_requests_release(p, st, ok);
    if (persistent)
        PMPI_Request_free(req);
}

/* A request the interposer cannot keep (no memory): complete it here, now. */
static int complete_here(MPI_Request *req, mpiw_pending *p)
{
    MPI_Status st;
    int err;

    if (p->driver)
        p->driver->progress(p->work, 1);
    err = PMPI_Wait(req, &st);
    release_freed(req, p, &st, err == MPI_SUCCESS);
    return err;
}

/* Into the table; with no room for it, the request is completed here instead.
 * Returns MPI_SUCCESS, or the error of that completion. */
static int keep(MPI_Request *req, mpiw_pending *p)
{
    int err;

    LOCKED(err = mpiw_map_put(&tracked, MPIW_KEY(*req), p));
    return err ? complete_here(req, p) : MPI_SUCCESS;
}

/* A request the interposer just created (p->tmp holds its bytes). A send the MPI
 * completed at once is finished now and left to the MPI: MPICH hands out one built-in
 * completed request for every such send, so its handle names no single message. */
int mpiw_requests_track(MPI_Request *req, mpiw_pending *p)
{
    MPI_Status st;
    int done = 0;

    __atomic_fetch_add(&mpiw_requests_live, 1, __ATOMIC_RELAXED);
    if (!p->driver && !p->persistent && !p->recv &&
        PMPI_Request_get_status(*req, &done, &st) == MPI_SUCCESS && done) {
        mpiw_requests_release(p, &st, 1);
        return MPI_SUCCESS;
    }
    return keep(req, p);
}

/* A persistent request the interposer just created: 0 when kept, 1 when there is no
 * room (the caller undoes it). */
int mpiw_requests_hold(MPI_Request *req, mpiw_pending *p)
{
    int err;

    LOCKED(err = mpiw_map_put(&tracked, MPIW_KEY(*req), p));
    if (!err)
        __atomic_fetch_add(&mpiw_requests_live, 1, __ATOMIC_RELAXED);
    return err;
}

/* MPI_Start and MPI_Startall: pack (or copy in) each inactive persistent send of ours,
 * then start them all in the MPI; those it started are active until a completion call. */
int mpiw_requests_start(int n, MPI_Request reqs[])
{
    mpiw_pending *p;
    int err;

    for (int i = 0; i < n; i++) {
        LOCKED(p = mpiw_map_get(&tracked, MPIW_KEY(reqs[i])));
        if (!p || !p->persistent || p->active)
            continue;
        p->unpacked = 0;
        if (!p->recv && mpiw_pending_refresh(p))
            mpiw_log(MPIW_LOG_ERROR, "a persistent send could not take its device buffer's "
                     "bytes: %s", mpid_error());
    }
    err = n == 1 ? PMPI_Start(reqs) : PMPI_Startall(n, reqs);
    for (int i = 0; i < n && err == MPI_SUCCESS; i++) {
        LOCKED(p = mpiw_map_get(&tracked, MPIW_KEY(reqs[i])));
        if (p && p->persistent)
            p->active = 1;
    }
    return err;
}

/* Bytes a completed receive delivered (or a probe found), from its status. */
int64_t mpiw_status_bytes(const MPI_Status *st)
{
    MPI_Count n = 0;
#if MPIW_HAVE_LARGE_COUNT
    PMPI_Get_count_c(st, MPI_PACKED, &n);
#else
    PMPI_Get_elements_x(st, MPI_PACKED, &n);
#endif
    return n;
}

/* A completed request: unpack what a receive brought, once (an inactive persistent
 * request "completes" at once with an empty status and brings nothing). */
static void finish(mpiw_pending *p, const MPI_Status *st, int ok)
{
    if (p->recv && p->active && !p->unpacked && ok && st)
        mpiw_recv_complete(p, st);
    p->active = 0;
}

void mpiw_requests_release(mpiw_pending *p, const MPI_Status *st, int ok)
{
    finish(p, st, ok);
    mpiw_pending_clear(p);
    free(p);
    __atomic_fetch_sub(&mpiw_requests_live, 1, __ATOMIC_RELAXED);
}

/* A completion call saw the request complete: a persistent one stays ours (in the
 * table all along, see mpiw_requests_claim), inactive. */
void mpiw_requests_settle(mpiw_pending *p, const MPI_Status *st, int ok)
{
    if (p->persistent)
        finish(p, st, ok);
    else
        mpiw_requests_release(p, st, ok);
}

/* Completion calls take a request's entry out of the table before calling the MPI:
 * once the MPI frees a handle, another thread may get the same one for a new request
 * and register it, which must not meet the old entry. A request that did not complete
 * is put back. A persistent request keeps its handle and its entry throughout. */
mpiw_pending *mpiw_requests_claim(MPI_Request key)
{
    mpiw_pending *p;

    LOCKED({
        p = mpiw_map_get(&tracked, MPIW_KEY(key));
        if (p && !p->persistent)
            mpiw_map_remove(&tracked, MPIW_KEY(key));
    });
    return p;
}

void mpiw_requests_unclaim(MPI_Request *req, mpiw_pending *p)
{
    if (!p->persistent)
        keep(req, p);
}

/* MPI_Request_get_status reported completion without freeing: unpack now, once. */
void mpiw_requests_peek(MPI_Request key, const MPI_Status *st)
{
    mpiw_pending *p;

    LOCKED(p = mpiw_map_get(&tracked, MPIW_KEY(key)));
    if (p && p->recv && p->active && !p->unpacked) {
        mpiw_recv_complete(p, st);
        p->unpacked = 1;
    }
}

/* MPI_Request_free of a tracked request: the program lets go, we keep it until done
 * (an inactive persistent request is freed at once). */
int mpiw_requests_detach(MPI_Request *req)
{
    mpiw_pending *p;
    detached *d;

    LOCKED(p = mpiw_map_remove(&tracked, MPIW_KEY(*req)));
    if (!p)
        return 0;
    if (p->persistent && !p->active) {
        release_freed(req, p, NULL, 0);
        return 1;
    }
    d = malloc(sizeof *d);
    if (!d) {                       /* cannot keep it: wait for it here instead */
        complete_here(req, p);
        return 1;
    }
    d->req = *req;
    d->p = p;
    LOCKED({
        d->next = orphans;
        orphans = d;
    });
    *req = MPI_REQUEST_NULL;
    return 1;
}

/* Does any of these requests belong to the interposer? */
int mpiw_requests_any(const MPI_Request *reqs, int n)
{
    int hit = 0;

    if (!__atomic_load_n(&mpiw_requests_live, __ATOMIC_RELAXED))
        return 0;
    mpiw_requests_poll();
    LOCKED({
        for (int i = 0; i < n && !hit; i++)
            hit = mpiw_map_get(&tracked, MPIW_KEY(reqs[i])) != NULL;
    });
    return hit;
}

/* Complete the detached requests that have finished. */
void mpiw_requests_poll(void)
{
    detached **at, *done = NULL;

    if (!orphans)
        return;
    LOCKED({
        at = &orphans;
        while (*at) {
            detached *d = *at;
            MPI_Status st;
            int flag = 0, ok;
            if (d->p->driver)
                d->p->driver->progress(d->p->work, 0);
            ok = PMPI_Test(&d->req, &flag, &st) == MPI_SUCCESS;
            if (flag || !ok) {
                *at = d->next;
                release_freed(&d->req, d->p, &st, ok);
                d->next = done;
                done = d;
            } else {
                at = &d->next;
            }
        }
    });
    while (done) {
        detached *next = done->next;
        free(done);
        done = next;
    }
}

/* A driven request (a pipelined message's chunks) moved on (MPI_Request_get_status), or
 * the receive cancelled (MPI_Cancel), before the MPI looks at its generalized request. */
void mpiw_requests_advance(MPI_Request key, int cancel)
{
    mpiw_pending *p = mpiw_requests_claim(key);

    if (!p)
        return;
    if (p->driver && cancel)
        p->driver->cancel(p->work);
    else if (p->driver)
        p->driver->progress(p->work, 0);
    mpiw_requests_unclaim(&key, p);
}

/* Persistent requests the program did not free before MPI_Finalize: our records go. */
static void forget_inactive(void *value)
{
    mpiw_pending *p = value;

    if (p->persistent && !p->active)
        mpiw_requests_release(p, NULL, 0);
}

/* At MPI_Finalize: complete what has finished; what has not is the program's error
 * (a freed receive never matched), and its buffers are left to the process's end. */
void mpiw_requests_clear(void)
{
    mpiw_requests_poll();
    if (orphans)
        mpiw_log(MPIW_LOG_WARN, "MPI_Finalize with freed requests still active");
    LOCKED(mpiw_map_clear(&tracked, forget_inactive));
}
