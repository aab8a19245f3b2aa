/*
 * The senders: how a point-to-point call with a derived datatype is carried out.
 *
 * Methods for a canonical, non-contiguous type:
 *   passthrough  the MPI sends the derived type itself
 *   pack         pack with the generated kernels and send the bytes as MPI_PACKED;
 *                receive MPI_PACKED into a buffer and unpack
 *   pipeline     MPICOMM_METHOD=pipeline only: a message of at least two chunks goes
 *                as one message per chunk, packed and unpacked as they travel
 *                (mpiw_pipeline.c; a contract every rank keeps, see there)
 * Passthrough and pack put the same bytes on the wire: MPI_PACKED matches any type signature on
 * the other side (MPI 4.1, 3.3.1) and our packed bytes are the MPI's own
 * (tests/mpi), so a sender and a receiver may choose differently and need not
 * agree. MPICOMM_METHOD forces a method; auto asks the model (mpiw_model.c).
 * Standard, synchronous and ready sends keep their mode on the packed bytes, and so do
 * their nonblocking and persistent forms; buffered sends stay the MPI's (the program
 * sized its attached buffer for them).
 */
#include <limits.h>
#include <stdlib.h>
#include "mpiw.h"

/* 1. Ask the chooser (mpiw_choose.c) about count elements of dt to or from peer; a
 * message that may be pipelined names its communicator. Calls the interposer leaves to
 * the MPI count as fallbacks, and those where the method or the model declined a type
 * of ours also as method_passthrough. */
static int counted(const mpiw_choice *c, int fallback)
{
    if (c->method == MPIW_METHOD_PASSTHROUGH) {
        mpiw_count(fallback, 1);
        mpiw_count(MPIW_STAT_method_passthrough, c->declined);
    }
    return c->method == MPIW_METHOD_PACK;
}

static int choose(int64_t count, MPI_Datatype dt, int peer, MPI_Comm pipe_comm,
                  mpiw_choice *c, int fallback)
{
    mpiw_call call = { count, dt, peer, pipe_comm };

    mpiw_choose(&call, c);
    counted(c, fallback);
    return c->method;
}

static int out_of_memory(int fallback, int n)
{
    mpiw_count(fallback, n);
    mpiw_log(MPIW_LOG_WARN, "no memory for a packed message; the MPI carries it");
    return 0;
}

/* 2. The bytes on the wire, as MPI_PACKED (the large-count calls where the MPI has them). */
#if MPIW_HAVE_LARGE_COUNT
#define PACKED(fn, tmp, n, ...) PMPI_##fn##_c(tmp, (MPI_Count) (n), MPI_PACKED, __VA_ARGS__)
#else
#define PACKED(fn, tmp, n, ...) PMPI_##fn(tmp, (int) (n), MPI_PACKED, __VA_ARGS__)
#endif

static int send_bytes(const void *tmp, int64_t n, int dest, int tag, MPI_Comm comm, int mode)
{
    switch (mode) {
    case MPIW_MODE_SYNC:
        return PACKED(Ssend, tmp, n, dest, tag, comm);
    case MPIW_MODE_READY:
        return PACKED(Rsend, tmp, n, dest, tag, comm);
    default:
        return PACKED(Send, tmp, n, dest, tag, comm);
    }
}

static int isend_bytes(const void *tmp, int64_t n, int dest, int tag, MPI_Comm comm, int mode,
                       MPI_Request *req)
{
    switch (mode) {
    case MPIW_MODE_SYNC:
        return PACKED(Issend, tmp, n, dest, tag, comm, req);
    case MPIW_MODE_READY:
        return PACKED(Irsend, tmp, n, dest, tag, comm, req);
    default:
        return PACKED(Isend, tmp, n, dest, tag, comm, req);
    }
}

static int send_init_bytes(const void *tmp, int64_t n, int dest, int tag, MPI_Comm comm,
                           int mode, MPI_Request *req)
{
    switch (mode) {
    case MPIW_MODE_SYNC:
        return PACKED(Ssend_init, tmp, n, dest, tag, comm, req);
    case MPIW_MODE_READY:
        return PACKED(Rsend_init, tmp, n, dest, tag, comm, req);
    default:
        return PACKED(Send_init, tmp, n, dest, tag, comm, req);
    }
}

/* A packed copy of count elements, or NULL. */
static void *packed(const void *buf, int64_t count, const mpic_desc *d)
{
    void *tmp = malloc((size_t) (count * d->info.size));

    if (tmp) {
        mpic_pack(d, count, buf, tmp);
        mpiw_count(MPIW_STAT_bytes_packed, count * d->info.size);
    }
    return tmp;
}

/* 3. The calls. */
int mpiw_send_try(const void *buf, int64_t count, MPI_Datatype dt, int dest, int tag,
                  MPI_Comm comm, int mode, int *err)
{
    mpiw_choice c;
    void *tmp;

    switch (choose(count, dt, dest, comm, &c, MPIW_STAT_send_fallback)) {
    case MPIW_METHOD_PIPELINE:
        *err = mpiw_pipe_send(buf, count, dt, dest, tag, comm, c.bytes, mode == MPIW_MODE_SYNC);
        return 1;
    case MPIW_METHOD_PASSTHROUGH:
        return 0;
    }
    if (!(tmp = packed(buf, count, &c.desc)))
        return out_of_memory(MPIW_STAT_send_fallback, 1);
    *err = send_bytes(tmp, c.bytes, dest, tag, comm, mode);
    free(tmp);
    mpiw_count(MPIW_STAT_send_fast, 1);
    mpiw_count(MPIW_STAT_method_pack, 1);
    return 1;
}

int mpiw_recv_try(void *buf, int64_t count, MPI_Datatype dt, int source, int tag,
                  MPI_Comm comm, MPI_Status *status, int *err)
{
    mpiw_pending p = { .recv = 1, .buf = buf };
    MPI_Status st;
    mpiw_choice c;

    switch (choose(count, dt, source, comm, &c, MPIW_STAT_recv_fallback)) {
    case MPIW_METHOD_PIPELINE:
        *err = mpiw_pipe_recv(buf, count, dt, source, tag, comm, c.bytes, status);
        return 1;
    case MPIW_METHOD_PASSTHROUGH:
        return 0;
    }
    p.desc = c.desc;
    if (!(p.tmp = malloc((size_t) (count * p.desc.info.size))))
        return out_of_memory(MPIW_STAT_recv_fallback, 1);
    *err = PACKED(Recv, p.tmp, count * p.desc.info.size, source, tag, comm, &st);
    if (*err == MPI_SUCCESS)
        mpiw_recv_complete(&p, &st);
    if (status != MPI_STATUS_IGNORE)
        *status = st;
    free(p.tmp);
    mpiw_count(MPIW_STAT_recv_fast, 1);
    mpiw_count(MPIW_STAT_method_pack, 1);
    return 1;
}

/* The record of a nonblocking packed request, with its bytes: packed from buf to send,
 * or room for count elements to receive into buf (a persistent send packs at each
 * start instead). NULL when out of memory. */
static mpiw_pending *pending(int recv, int persistent, void *buf, int64_t count,
                             const mpic_desc *d)
{
    mpiw_pending *p = calloc(1, sizeof *p);

    if (!p)
        return NULL;
    p->recv = recv;
    p->persistent = persistent;
    p->active = !persistent;
    p->count = count;
    p->buf = buf;
    p->desc = *d;
    p->tmp = recv || persistent ? malloc((size_t) (count * d->info.size))
                                : packed(buf, count, d);
    if (!p->tmp) {
        free(p);
        return NULL;
    }
    return p;
}

/* After the MPI was asked to start it: track the request, or drop the record. */
static int started(int err, MPI_Request *req, mpiw_pending *p)
{
    if (err == MPI_SUCCESS)
        return mpiw_requests_track(req, p);
    free(p->tmp);
    free(p);
    return err;
}

int mpiw_isend_try(const void *buf, int64_t count, MPI_Datatype dt, int dest, int tag,
                   MPI_Comm comm, int mode, MPI_Request *req, int *err)
{
    mpiw_choice c;
    mpiw_pending *p;

    switch (choose(count, dt, dest, comm, &c, MPIW_STAT_send_fallback)) {
    case MPIW_METHOD_PIPELINE:
        *err = mpiw_pipe_isend(buf, count, dt, dest, tag, comm, c.bytes, mode == MPIW_MODE_SYNC,
                               req);
        return 1;
    case MPIW_METHOD_PASSTHROUGH:
        return 0;
    }
    if (!(p = pending(0, 0, (void *) buf, count, &c.desc)))
        return out_of_memory(MPIW_STAT_send_fallback, 1);
    mpiw_requests_poll();
    *err = started(isend_bytes(p->tmp, c.bytes, dest, tag, comm, mode, req), req, p);
    mpiw_count(MPIW_STAT_send_fast, 1);
    mpiw_count(MPIW_STAT_method_pack, 1);
    return 1;
}

int mpiw_irecv_try(void *buf, int64_t count, MPI_Datatype dt, int source, int tag,
                   MPI_Comm comm, MPI_Request *req, int *err)
{
    mpiw_choice c;
    mpiw_pending *p;

    switch (choose(count, dt, source, comm, &c, MPIW_STAT_recv_fallback)) {
    case MPIW_METHOD_PIPELINE:
        *err = mpiw_pipe_irecv(buf, count, dt, source, tag, comm, c.bytes, req);
        return 1;
    case MPIW_METHOD_PASSTHROUGH:
        return 0;
    }
    if (!(p = pending(1, 0, buf, count, &c.desc)))
        return out_of_memory(MPIW_STAT_recv_fallback, 1);
    mpiw_requests_poll();
    *err = started(PACKED(Irecv, p->tmp, c.bytes, source, tag, comm, req), req, p);
    mpiw_count(MPIW_STAT_recv_fast, 1);
    mpiw_count(MPIW_STAT_method_pack, 1);
    return 1;
}

/* A persistent request on the packed bytes (made by the MPI with result err), kept in
 * the table until MPI_Request_free: 1 when kept, or when the MPI refused it (*out is its
 * result either way); 0 when there was no room to keep it, so both are dropped and the
 * MPI makes the program's request. Persistent requests are never pipelined (one message
 * per start, whatever its size), so a program whose pipelined-size messages are
 * persistent at both ends keeps the pipelined method's contract. */
static int persist(int err, MPI_Request *req, mpiw_pending *p, int *out)
{
    *out = err;
    if (err == MPI_SUCCESS && !mpiw_requests_hold(req, p))
        return 1;
    if (err == MPI_SUCCESS)
        PMPI_Request_free(req);
    free(p->tmp);
    free(p);
    return err != MPI_SUCCESS;
}

int mpiw_send_init_try(const void *buf, int64_t count, MPI_Datatype dt, int dest, int tag,
                       MPI_Comm comm, int mode, MPI_Request *req, int *err)
{
    mpiw_choice c;
    mpiw_pending *p;

    if (choose(count, dt, dest, MPI_COMM_NULL, &c, MPIW_STAT_send_fallback) != MPIW_METHOD_PACK)
        return 0;
    if (!(p = pending(0, 1, (void *) buf, count, &c.desc)) ||
        !persist(send_init_bytes(p->tmp, c.bytes, dest, tag, comm, mode, req), req,
                 p, err))
        return out_of_memory(MPIW_STAT_send_fallback, 1);
    mpiw_count(MPIW_STAT_send_fast, 1);
    mpiw_count(MPIW_STAT_method_pack, 1);
    return 1;
}

int mpiw_recv_init_try(void *buf, int64_t count, MPI_Datatype dt, int source, int tag,
                       MPI_Comm comm, MPI_Request *req, int *err)
{
    mpiw_choice c;
    mpiw_pending *p;

    if (choose(count, dt, source, MPI_COMM_NULL, &c, MPIW_STAT_recv_fallback) != MPIW_METHOD_PACK)
        return 0;
    if (!(p = pending(1, 1, buf, count, &c.desc)) ||
        !persist(PACKED(Recv_init, p->tmp, c.bytes, source, tag, comm, req), req,
                 p, err))
        return out_of_memory(MPIW_STAT_recv_fallback, 1);
    mpiw_count(MPIW_STAT_recv_fast, 1);
    mpiw_count(MPIW_STAT_method_pack, 1);
    return 1;
}

/* Sendrecv: whichever side packs goes through the packed path; both ends in one call
 * to PMPI_Sendrecv so that a rank exchanging with itself cannot deadlock. */
int mpiw_sendrecv_try(const void *sbuf, int64_t scount, MPI_Datatype stype, int dest, int stag,
                      void *rbuf, int64_t rcount, MPI_Datatype rtype, int source, int rtag,
                      MPI_Comm comm, MPI_Status *status, int *err)
{
    mpiw_call scall = { scount, stype, dest, comm }, rcall = { rcount, rtype, source, comm };
    mpiw_choice sc, rc;
    int spack, rpack;
    mpiw_pending p = { .recv = 1, .buf = rbuf };
    void *stmp = NULL;
    MPI_Status st;

    /* Either side pipelined: the pipelined method carries the call (0 bytes: a side it
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
    spack = counted(&sc, MPIW_STAT_send_fallback);
    rpack = counted(&rc, MPIW_STAT_recv_fallback);
    p.desc = rc.desc;
    if (!spack && !rpack)
        return 0;
    if ((spack && !(stmp = packed(sbuf, scount, &sc.desc))) ||
        (rpack && !(p.tmp = malloc((size_t) rc.bytes)))) {
        free(stmp);
        mpiw_count(MPIW_STAT_send_fallback, spack);
        return out_of_memory(MPIW_STAT_recv_fallback, rpack);
    }
#if MPIW_HAVE_LARGE_COUNT
    *err = PMPI_Sendrecv_c(spack ? stmp : sbuf, spack ? sc.bytes : scount,
                           spack ? MPI_PACKED : stype, dest, stag,
                           rpack ? p.tmp : rbuf, rpack ? rc.bytes : rcount,
                           rpack ? MPI_PACKED : rtype, source, rtag, comm, &st);
#else
    *err = PMPI_Sendrecv(spack ? stmp : sbuf, (int) (spack ? sc.bytes : scount),
                         spack ? MPI_PACKED : stype, dest, stag,
                         rpack ? p.tmp : rbuf, (int) (rpack ? rc.bytes : rcount),
                         rpack ? MPI_PACKED : rtype, source, rtag, comm, &st);
#endif
    if (rpack && *err == MPI_SUCCESS)
        mpiw_recv_complete(&p, &st);
    if (status != MPI_STATUS_IGNORE)
        *status = st;
    free(stmp);
    free(p.tmp);
    mpiw_count(MPIW_STAT_send_fast, spack);
    mpiw_count(MPIW_STAT_recv_fast, rpack);
    mpiw_count(MPIW_STAT_method_pack, spack + rpack);
    return 1;
}

/* Sendrecv_replace: the packed bytes go out of one buffer and come back into another,
 * unpacked into the program's buffer once the call returns (a shorter message unpacks
 * only its bytes). Chosen once for the type (the source's side, or the destination's
 * when the source is MPI_PROC_NULL). */
int mpiw_sendrecv_replace_try(void *buf, int64_t count, MPI_Datatype dt, int dest, int stag,
                              int source, int rtag, MPI_Comm comm, MPI_Status *status,
                              int *err)
{
    mpiw_pending p = { .recv = 1, .buf = buf };
    void *stmp = NULL;
    int64_t n;
    MPI_Status st;
    mpiw_choice c;

    if (choose(count, dt, source != MPI_PROC_NULL ? source : dest, MPI_COMM_NULL, &c,
               MPIW_STAT_recv_fallback) != MPIW_METHOD_PACK)
        return 0;
    p.desc = c.desc;
    n = count * p.desc.info.size;
    if (!(stmp = packed(buf, count, &p.desc)) || !(p.tmp = malloc((size_t) n))) {
        free(stmp);
        return out_of_memory(MPIW_STAT_recv_fallback, 1);
    }
    *err = PACKED(Sendrecv, stmp, n, dest, stag, p.tmp, n, MPI_PACKED, source, rtag, comm, &st);
    if (*err == MPI_SUCCESS)
        mpiw_recv_complete(&p, &st);
    if (status != MPI_STATUS_IGNORE)
        *status = st;
    free(stmp);
    free(p.tmp);
    mpiw_count(MPIW_STAT_send_fast, 1);
    mpiw_count(MPIW_STAT_recv_fast, 1);
    mpiw_count(MPIW_STAT_method_pack, 2);
    return 1;
}
