/*
 * The senders: how a point-to-point call is carried out, as the chooser (mpiw_choose.c)
 * decides for each of its buffers.
 *
 *   passthrough  the MPI moves the program's buffer and type itself
 *   pipeline     a message of at least two chunks goes as one message per chunk, packed
 *                and unpacked as they travel (mpiw_pipeline.c; a contract every rank
 *                keeps, see there)
 *   packed       pack (host), device, staged and oneshot: the elements packed into bytes
 *                of the method's memory (mpiw_bytes.c) and sent as MPI_PACKED; a receive
 *                takes MPI_PACKED and unpacks
 *   mirror       a device buffer the MPI cannot take: its bytes through host memory,
 *                with the program's own count and type (mpiw_device.c)
 * Every method puts the same bytes on the wire: MPI_PACKED matches any type signature on
 * the other side (MPI 4.1, 3.3.1) and our packed bytes are the MPI's own (tests/mpi,
 * tests/device), so a sender and a receiver may choose differently and need not agree.
 * Standard, synchronous and ready sends keep their mode, and so do their nonblocking and
 * persistent forms; buffered sends stay the MPI's (the program sized its attached buffer
 * for them).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "mpiw.h"

/* 1. Ask the chooser about count elements of dt at buf, to or from peer; a message that
 * may be pipelined names its communicator. Calls left to the MPI count as fallbacks, and
 * those where the method or the model declined a type of ours also as method_passthrough;
 * calls of ours count under their method. */
static void counted(const mpiw_choice *c, int fallback, int fast)
{
    static const int stat[] = {
        [MPIW_METHOD_PACK] = MPIW_STAT_method_pack,
        [MPIW_METHOD_DEVICE] = MPIW_STAT_method_device,
        [MPIW_METHOD_STAGED] = MPIW_STAT_method_staged,
        [MPIW_METHOD_ONESHOT] = MPIW_STAT_method_oneshot,
        [MPIW_METHOD_MIRROR] = MPIW_STAT_method_mirror,
    };

    if (c->method == MPIW_METHOD_PASSTHROUGH) {
        mpiw_count(fallback, 1);
        mpiw_count(MPIW_STAT_method_passthrough, c->declined);
    } else if (c->method != MPIW_METHOD_PIPELINE) {
        mpiw_count(fast, 1);
        mpiw_count(stat[c->method], 1);
    }
}

/* pipe: the message may be pipelined (a call the pipelined method carries) */
static int choose(const void *buf, int64_t count, MPI_Datatype dt, int peer, MPI_Comm comm,
                  int pipe, mpiw_choice *c, int recv, int alone)
{
    mpiw_call call = { buf, count, dt, peer, pipe ? comm : MPI_COMM_NULL, 1, alone, 0, 0, 0,
                       mpiw_locality_remote(comm, peer) };

    mpiw_choose(&call, c);
    counted(c, recv ? MPIW_STAT_recv_fallback : MPIW_STAT_send_fallback,
            recv ? MPIW_STAT_recv_fast : MPIW_STAT_send_fast);
    return c->method;
}

/* No room for a message's bytes: the MPI carries a host buffer itself (0); a device
 * buffer, which it cannot take, gets the MPI's error for it (1, *err set). */
static int no_room(const mpiw_choice *c, MPI_Comm comm, int *err)
{
    if (c->method == MPIW_METHOD_PACK) {
        mpiw_log(MPIW_LOG_WARN, "no memory for a packed message; the MPI carries it");
        return 0;
    }
    *err = mpiw_device_failed(comm, MPI_ERR_NO_MEM);
    return 1;
}

/* 2. The calls the MPI is handed: the wire of a record (mpiw_pending.c), in the
 * large-count form where the MPI has it. */
#if MPIW_HAVE_LARGE_COUNT
#define CALL(fn, buf, n, dt, ...) PMPI_##fn##_c(buf, (MPI_Count) (n), dt, __VA_ARGS__)
#else
#define CALL(fn, buf, n, dt, ...) PMPI_##fn(buf, (int) (n), dt, __VA_ARGS__)
#endif

static int send_wire(const mpiw_pending *p, int dest, int tag, MPI_Comm comm, int mode)
{
    int64_t n;
    MPI_Datatype dt;
    void *buf = mpiw_pending_wire(p, &n, &dt);

    switch (mode) {
    case MPIW_MODE_SYNC:
        return CALL(Ssend, buf, n, dt, dest, tag, comm);
    case MPIW_MODE_READY:
        return CALL(Rsend, buf, n, dt, dest, tag, comm);
    default:
        return CALL(Send, buf, n, dt, dest, tag, comm);
    }
}

static int isend_wire(const mpiw_pending *p, int dest, int tag, MPI_Comm comm, int mode,
                      MPI_Request *req)
{
    int64_t n;
    MPI_Datatype dt;
    void *buf = mpiw_pending_wire(p, &n, &dt);

    switch (mode) {
    case MPIW_MODE_SYNC:
        return CALL(Issend, buf, n, dt, dest, tag, comm, req);
    case MPIW_MODE_READY:
        return CALL(Irsend, buf, n, dt, dest, tag, comm, req);
    default:
        return CALL(Isend, buf, n, dt, dest, tag, comm, req);
    }
}

static int send_init_wire(const mpiw_pending *p, int dest, int tag, MPI_Comm comm, int mode,
                          MPI_Request *req)
{
    int64_t n;
    MPI_Datatype dt;
    void *buf = mpiw_pending_wire(p, &n, &dt);

    switch (mode) {
    case MPIW_MODE_SYNC:
        return CALL(Ssend_init, buf, n, dt, dest, tag, comm, req);
    case MPIW_MODE_READY:
        return CALL(Rsend_init, buf, n, dt, dest, tag, comm, req);
    default:
        return CALL(Send_init, buf, n, dt, dest, tag, comm, req);
    }
}

static int recv_wire(const mpiw_pending *p, int source, int tag, MPI_Comm comm, MPI_Status *st)
{
    int64_t n;
    MPI_Datatype dt;
    void *buf = mpiw_pending_wire(p, &n, &dt);

    return CALL(Recv, buf, n, dt, source, tag, comm, st);
}

static int irecv_wire(const mpiw_pending *p, int source, int tag, MPI_Comm comm,
                      MPI_Request *req)
{
    int64_t n;
    MPI_Datatype dt;
    void *buf = mpiw_pending_wire(p, &n, &dt);

    return CALL(Irecv, buf, n, dt, source, tag, comm, req);
}

static int recv_init_wire(const mpiw_pending *p, int source, int tag, MPI_Comm comm,
                          MPI_Request *req)
{
    int64_t n;
    MPI_Datatype dt;
    void *buf = mpiw_pending_wire(p, &n, &dt);

    return CALL(Recv_init, buf, n, dt, source, tag, comm, req);
}

/* A record of a nonblocking or persistent call, filled (NULL when out of memory). */
static mpiw_pending *pending(const mpiw_choice *c, int recv, int persistent, void *buf,
                             int64_t count, MPI_Datatype dt)
{
    mpiw_pending *p = calloc(1, sizeof *p);

    if (p && mpiw_pending_fill(p, c, recv, persistent, buf, count, dt)) {
        free(p);
        return NULL;
    }
    return p;
}

static void drop(mpiw_pending *p)
{
    mpiw_pending_clear(p);
    free(p);
}

/* 3. The calls. */
int mpiw_send_try(const void *buf, int64_t count, MPI_Datatype dt, int dest, int tag,
                  MPI_Comm comm, int mode, int *err)
{
    mpiw_choice c;
    mpiw_pending p;

    switch (choose(buf, count, dt, dest, comm, 1, &c, 0, 1)) {
    case MPIW_METHOD_PIPELINE:
        *err = mpiw_pipe_send(buf, count, dt, dest, tag, comm, c.bytes, mode == MPIW_MODE_SYNC);
        return 1;
    case MPIW_METHOD_PASSTHROUGH:
        return 0;
    }
    memset(&p, 0, sizeof p);        /* not before: a call passed through pays nothing */
    if (mpiw_pending_fill(&p, &c, 0, 0, (void *) buf, count, dt))
        return no_room(&c, comm, err);
    *err = send_wire(&p, dest, tag, comm, mode);
    mpiw_pending_clear(&p);
    return 1;
}

int mpiw_recv_try(void *buf, int64_t count, MPI_Datatype dt, int source, int tag,
                  MPI_Comm comm, MPI_Status *status, int *err)
{
    mpiw_pending p;
    MPI_Status st;
    mpiw_choice c;

    switch (choose(buf, count, dt, source, comm, 1, &c, 1, 1)) {
    case MPIW_METHOD_PIPELINE:
        *err = mpiw_pipe_recv(buf, count, dt, source, tag, comm, c.bytes, status);
        return 1;
    case MPIW_METHOD_PASSTHROUGH:
        return 0;
    }
    memset(&p, 0, sizeof p);
    if (mpiw_pending_fill(&p, &c, 1, 0, buf, count, dt))
        return no_room(&c, comm, err);
    *err = recv_wire(&p, source, tag, comm, &st);
    if (*err == MPI_SUCCESS)
        mpiw_recv_complete(&p, &st);
    if (status != MPI_STATUS_IGNORE)
        *status = st;
    mpiw_pending_clear(&p);
    return 1;
}

/* After the MPI was asked to start it: track the request, or drop the record. */
static int started(int err, MPI_Request *req, mpiw_pending *p)
{
    if (err == MPI_SUCCESS)
        return mpiw_requests_track(req, p);
    drop(p);
    return err;
}

int mpiw_isend_try(const void *buf, int64_t count, MPI_Datatype dt, int dest, int tag,
                   MPI_Comm comm, int mode, MPI_Request *req, int *err)
{
    mpiw_choice c;
    mpiw_pending *p;

    switch (choose(buf, count, dt, dest, comm, 1, &c, 0, 0)) {
    case MPIW_METHOD_PIPELINE:
        *err = mpiw_pipe_isend(buf, count, dt, dest, tag, comm, c.bytes, mode == MPIW_MODE_SYNC,
                               req);
        return 1;
    case MPIW_METHOD_PASSTHROUGH:
        return 0;
    }
    if (!(p = pending(&c, 0, 0, (void *) buf, count, dt)))
        return no_room(&c, comm, err);
    mpiw_requests_poll();
    *err = started(isend_wire(p, dest, tag, comm, mode, req), req, p);
    return 1;
}

int mpiw_irecv_try(void *buf, int64_t count, MPI_Datatype dt, int source, int tag,
                   MPI_Comm comm, MPI_Request *req, int *err)
{
    mpiw_choice c;
    mpiw_pending *p;

    switch (choose(buf, count, dt, source, comm, 1, &c, 1, 0)) {
    case MPIW_METHOD_PIPELINE:
        *err = mpiw_pipe_irecv(buf, count, dt, source, tag, comm, c.bytes, req);
        return 1;
    case MPIW_METHOD_PASSTHROUGH:
        return 0;
    }
    if (!(p = pending(&c, 1, 0, buf, count, dt)))
        return no_room(&c, comm, err);
    mpiw_requests_poll();
    *err = started(irecv_wire(p, source, tag, comm, req), req, p);
    return 1;
}

/* A persistent request on the record's wire (made by the MPI with result err), kept in
 * the table until MPI_Request_free: 1 when kept, or when the MPI refused it (*out is its
 * result either way); 0 when there was no room to keep it, so both are dropped. Persistent
 * requests are never pipelined (one message per start, whatever its size), so a program
 * whose pipelined-size messages are persistent at both ends keeps the pipelined method's
 * contract. */
static int persist(int err, MPI_Request *req, mpiw_pending *p, int *out)
{
    *out = err;
    if (err == MPI_SUCCESS && !mpiw_requests_hold(req, p))
        return 1;
    if (err == MPI_SUCCESS)
        PMPI_Request_free(req);
    drop(p);
    return err != MPI_SUCCESS;
}

int mpiw_send_init_try(const void *buf, int64_t count, MPI_Datatype dt, int dest, int tag,
                       MPI_Comm comm, int mode, MPI_Request *req, int *err)
{
    mpiw_choice c;
    mpiw_pending *p;

    if (choose(buf, count, dt, dest, comm, 0, &c, 0, 0) == MPIW_METHOD_PASSTHROUGH)
        return 0;
    if (!(p = pending(&c, 0, 1, (void *) buf, count, dt)) ||
        !persist(send_init_wire(p, dest, tag, comm, mode, req), req, p, err))
        return no_room(&c, comm, err);
    return 1;
}

int mpiw_recv_init_try(void *buf, int64_t count, MPI_Datatype dt, int source, int tag,
                       MPI_Comm comm, MPI_Request *req, int *err)
{
    mpiw_choice c;
    mpiw_pending *p;

    if (choose(buf, count, dt, source, comm, 0, &c, 1, 0) == MPIW_METHOD_PASSTHROUGH)
        return 0;
    if (!(p = pending(&c, 1, 1, buf, count, dt)) ||
        !persist(recv_init_wire(p, source, tag, comm, req), req, p, err))
        return no_room(&c, comm, err);
    return 1;
}

/* Sendrecv: each side travels as its method says; both in one call to PMPI_Sendrecv so
 * that a rank exchanging with itself cannot deadlock. */
int mpiw_sendrecv_try(const void *sbuf, int64_t scount, MPI_Datatype stype, int dest, int stag,
                      void *rbuf, int64_t rcount, MPI_Datatype rtype, int source, int rtag,
                      MPI_Comm comm, MPI_Status *status, int *err)
{
    mpiw_call scall = { sbuf, scount, stype, dest, comm, 1, 0, 0, 0, 0,
                        mpiw_locality_remote(comm, dest) };
    mpiw_call rcall = { rbuf, rcount, rtype, source, comm, 1, 0, 0, 0, 0,
                        mpiw_locality_remote(comm, source) };
    mpiw_choice sc, rc;
    mpiw_pending s, r;
    int sours, rours;
    int64_t sn = scount, rn = rcount;
    MPI_Datatype sdt = stype, rdt = rtype;
    void *sb = (void *) sbuf, *rb = rbuf;
    MPI_Status st;

    /* 1. Either side pipelined: the pipelined method carries the call (0 bytes: a side it
     * leaves to the MPI). */
    mpiw_choose(&scall, &sc);
    mpiw_choose(&rcall, &rc);
    if (sc.method == MPIW_METHOD_PIPELINE || rc.method == MPIW_METHOD_PIPELINE) {
        *err = mpiw_pipe_sendrecv(sbuf, scount, stype, dest, stag,
                                  sc.method == MPIW_METHOD_PIPELINE ? sc.bytes : 0, rbuf, rcount,
                                  rtype, source, rtag,
                                  rc.method == MPIW_METHOD_PIPELINE ? rc.bytes : 0, comm, status);
        return 1;
    }

    /* 2. Each side of ours gets its wire. */
    counted(&sc, MPIW_STAT_send_fallback, MPIW_STAT_send_fast);
    counted(&rc, MPIW_STAT_recv_fallback, MPIW_STAT_recv_fast);
    sours = sc.method != MPIW_METHOD_PASSTHROUGH;
    rours = rc.method != MPIW_METHOD_PASSTHROUGH;
    if (!sours && !rours)
        return 0;
    memset(&s, 0, sizeof s);
    memset(&r, 0, sizeof r);
    if (sours && mpiw_pending_fill(&s, &sc, 0, 0, sb, scount, stype))
        return no_room(&sc, comm, err);
    if (rours && mpiw_pending_fill(&r, &rc, 1, 0, rb, rcount, rtype)) {
        mpiw_pending_clear(&s);
        return no_room(&rc, comm, err);
    }
    if (sours)
        sb = mpiw_pending_wire(&s, &sn, &sdt);
    if (rours)
        rb = mpiw_pending_wire(&r, &rn, &rdt);

    /* 3. The call, 4. the received side delivered. */
#if MPIW_HAVE_LARGE_COUNT
    *err = PMPI_Sendrecv_c(sb, sn, sdt, dest, stag, rb, rn, rdt, source, rtag, comm, &st);
#else
    *err = PMPI_Sendrecv(sb, (int) sn, sdt, dest, stag, rb, (int) rn, rdt, source, rtag, comm,
                         &st);
#endif
    if (rours && *err == MPI_SUCCESS)
        mpiw_recv_complete(&r, &st);
    if (status != MPI_STATUS_IGNORE)
        *status = st;
    mpiw_pending_clear(&s);
    mpiw_pending_clear(&r);
    return 1;
}

/* Sendrecv_replace: the bytes go out of one wire and come back into another, delivered
 * into the program's buffer once the call returns (a shorter message delivers only its
 * bytes). Chosen once for the type (the source's side, or the destination's when the
 * source is MPI_PROC_NULL). */
int mpiw_sendrecv_replace_try(void *buf, int64_t count, MPI_Datatype dt, int dest, int stag,
                              int source, int rtag, MPI_Comm comm, MPI_Status *status,
                              int *err)
{
    mpiw_pending s, r;
    mpiw_choice c;
    int64_t sn, rn;
    MPI_Datatype sdt, rdt;
    void *sb, *rb;
    MPI_Status st;

    if (choose(buf, count, dt, source != MPI_PROC_NULL ? source : dest, comm, 0, &c, 1, 0) ==
        MPIW_METHOD_PASSTHROUGH)
        return 0;
    counted(&c, MPIW_STAT_send_fallback, MPIW_STAT_send_fast);
    memset(&s, 0, sizeof s);
    memset(&r, 0, sizeof r);
    if (mpiw_pending_fill(&s, &c, 0, 0, buf, count, dt))
        return no_room(&c, comm, err);
    if (mpiw_pending_fill(&r, &c, 1, 0, buf, count, dt)) {
        mpiw_pending_clear(&s);
        return no_room(&c, comm, err);
    }
    sb = mpiw_pending_wire(&s, &sn, &sdt);
    rb = mpiw_pending_wire(&r, &rn, &rdt);
#if MPIW_HAVE_LARGE_COUNT
    *err = PMPI_Sendrecv_c(sb, sn, sdt, dest, stag, rb, rn, rdt, source, rtag, comm, &st);
#else
    *err = PMPI_Sendrecv(sb, (int) sn, sdt, dest, stag, rb, (int) rn, rdt, source, rtag, comm,
                         &st);
#endif
    if (*err == MPI_SUCCESS)
        mpiw_recv_complete(&r, &st);
    if (status != MPI_STATUS_IGNORE)
        *status = st;
    mpiw_pending_clear(&s);
    mpiw_pending_clear(&r);
    return 1;
}
