/*
 * The pipelined method (MPICOMM_METHOD=pipeline).
 *
 * A message of at least two chunks (MPICOMM_PIPELINE_CHUNK bytes) travels as one
 * MPI message per chunk (see chunk_for and first_len) on the program's own
 * communicator, peer and tag: the sender packs chunk k + 1 while chunk k is in
 * flight, and the receiver unpacks each chunk as it arrives. Chunk 0 starts with a
 * header (magic, message bytes, chunk bytes).
 *
 * The receiver posts a receive for every chunk when the program posts its receive,
 * so no chunk waits for a call the interposer does not see. It can because the
 * method is a contract (docs/interposer.md): every rank uses it, a nonblocking receive of a
 * pipelined size names its source and tag, and every such receive posts exactly
 * the size that is sent. Chunk 0's header and every chunk's length are checked; a
 * broken contract ends the job with a message saying so rather than deliver wrong
 * data. MPI's non-overtaking rule keeps the chunks of one message in order; with
 * several threads a lock keeps one message's chunks together.
 *
 * Nonblocking calls hand the program a generalized request: the completion calls
 * (mpiw_complete.c) drive the chunks and complete it when the last is in place.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "mpiw.h"

#define MAGIC 0x31506d6d6f63706dULL     /* "mpcommP1" */
#define HDR 32

enum { CONTIG, CANON, OTHER };           /* bytes in place, our kernels, MPI_Pack */

typedef struct mpiw_pipe {
    int recv, sync, kind, n, posted, left, cancelled, err, completed;
    int64_t total, chunk, count;
    MPI_Request *reqs;                   /* one per chunk */
    int *idx;                            /* room for Testsome/Waitsome */
    MPI_Status *sts;
    char *first;                         /* chunk 0: header, then its bytes */
    char *tmp;                           /* the packed stream (CANON, OTHER) */
    char *data;                          /* CONTIG: the message's first byte */
    void *buf;
    mpic_desc desc;
    MPI_Datatype dt;
    MPI_Comm comm;
    int peer, tag, source, got_tag;      /* got_*: the envelope chunk 0 came with */
    MPI_Request greq;                    /* the program's handle, or MPI_REQUEST_NULL */
} mpiw_pipe;

static pthread_mutex_t order = PTHREAD_MUTEX_INITIALIZER;

/* The chunk of a message of this many bytes: MPICOMM_PIPELINE_CHUNK, or more for a
 * message of more than MPIW_PIPE_CHUNKS of them (each chunk costs a handshake; on the
 * machines measured, 16 chunks caught most of the overlap). Both ends derive it from
 * the size alone. */
static int64_t chunk_for(int64_t bytes)
{
    int64_t c = (bytes / MPIW_PIPE_CHUNKS + 4095) / 4096 * 4096;

    return c > mpiw_g.pipe_chunk ? c : mpiw_g.pipe_chunk;
}

/* Chunk 0 is a message of two chunks' bytes (header included), longer than any
 * message the method leaves alone, so that a receive which did not expect a pipelined
 * message gets the MPI's own truncation error; the other chunks are a chunk each,
 * the last one takes the rest. */
static int64_t first_len(int64_t chunk)
{
    return 2 * chunk - HDR;
}

static int64_t off_of(const mpiw_pipe *pp, int k)
{
    return k == 0 ? 0 : first_len(pp->chunk) + (int64_t) (k - 1) * pp->chunk;
}

static int64_t len_of(const mpiw_pipe *pp, int k)
{
    if (k == 0)
        return first_len(pp->chunk);
    return k == pp->n - 1 ? pp->total - off_of(pp, k) : pp->chunk;
}

/* Where chunk k's bytes are packed or unpacked (chunk 0: after the header). */
static char *at(const mpiw_pipe *pp, int k)
{
    if (k == 0)
        return pp->first + HDR;
    return (pp->kind == CONTIG ? pp->data : pp->tmp) + off_of(pp, k);
}

/* The message chunk k travels as. */
static char *wire(const mpiw_pipe *pp, int k, int *len)
{
    *len = (int) (len_of(pp, k) + (k ? 0 : HDR));
    return k ? at(pp, k) : pp->first;
}

/* A broken contract: say what happened and end the job (chunks of a message may
 * already sit in receives posted for another, so nothing can be handed back). */
static void broken(const mpiw_pipe *pp, const char *what, long long a, long long b)
{
    char why[256];

    snprintf(why, sizeof why, what, a, b);
    mpiw_log(MPIW_LOG_ERROR, "%s: %s. The pipelined method needs every rank to use it, "
             "receives of at least %lld bytes to post exactly the size sent and nonblocking "
             "ones to name their source and tag (docs/interposer.md, \"The pipelined "
             "method\"); ending the job",
             mpiw_g.method == MPIW_METHOD_PIPELINE ? "MPICOMM_METHOD=pipeline"
             : "pipelined method (the communicator asserts exact lengths, no wildcards)",
             why, (long long) (2 * mpiw_g.pipe_chunk));
    /* A launcher tears the job down at the abort and may drop what is still in its
     * pipes (MPICH's hydra once lost this message and its own): let it forward. */
    usleep(250 * 1000);
    PMPI_Abort(pp ? pp->comm : MPI_COMM_WORLD, MPI_ERR_OTHER);
}

/* Does this communicator keep the contract: everywhere under MPICOMM_METHOD=pipeline,
 * under auto where the program asserted it (mpiw_comms.c)? */
int mpiw_pipe_contract(MPI_Comm comm)
{
    return mpiw_g.method == MPIW_METHOD_PIPELINE ||
           (mpiw_g.method == MPIW_METHOD_AUTO && mpiw_comms_pipelined(comm));
}

/* Chunk offsets and lengths are ints: a message of more than 16 chunks grows its
 * chunks (chunk_for), which must stay well inside an int. */
int mpiw_pipe_fits(int64_t bytes)
{
    return bytes / MPIW_PIPE_CHUNKS <= INT_MAX / 4;
}

/* How count elements of dt are moved: in place, by our kernels, or by the MPI. */
static int kind_of(mpiw_pipe *pp)
{
    int ni, na, nd, combiner;
    MPI_Count lb, extent, tlb, textent, size;

    if (mpiw_types_lookup_packable(pp->dt, &pp->desc)) {     /* released with pp */
        if (!mpic_contiguous(&pp->desc, pp->count))
            return CANON;
        pp->data = (char *) pp->buf + pp->desc.start;
        return CONTIG;
    }
    PMPI_Type_get_envelope(pp->dt, &ni, &na, &nd, &combiner);
    PMPI_Type_get_extent_x(pp->dt, &lb, &extent);
    PMPI_Type_get_true_extent_x(pp->dt, &tlb, &textent);
    PMPI_Type_size_x(pp->dt, &size);
    if (combiner == MPI_COMBINER_NAMED && size == textent && (pp->count == 1 || extent == size)) {
        pp->data = (char *) pp->buf + tlb;
        return CONTIG;
    }
    return OTHER;
}

static void release(mpiw_pipe *pp)
{
    mpic_desc_release(&pp->desc);
    free(pp->reqs);
    free(pp->idx);
    free(pp->sts);
    free(pp->first);
    free(pp->tmp);
    free(pp);
}

static mpiw_pipe *setup(int recv, const void *buf, int64_t count, MPI_Datatype dt, int peer,
                        int tag, MPI_Comm comm, int64_t bytes)
{
    mpiw_pipe *pp = calloc(1, sizeof *pp);
    int64_t more;

    if (!pp)
        return NULL;
    pp->recv = recv;
    pp->buf = (void *) (uintptr_t) buf;
    pp->count = count;
    pp->dt = dt;
    pp->comm = comm;
    pp->peer = peer;
    pp->tag = tag;
    pp->total = bytes;
    pp->chunk = chunk_for(bytes);
    more = (bytes - first_len(pp->chunk)) / pp->chunk;
    pp->n = pp->left = 1 + (int) (more > 1 ? more : 1);
    pp->greq = MPI_REQUEST_NULL;
    pp->kind = kind_of(pp);
    pp->reqs = malloc(sizeof *pp->reqs * (size_t) pp->n);
    pp->idx = malloc(sizeof *pp->idx * (size_t) pp->n);
    pp->sts = malloc(sizeof *pp->sts * (size_t) pp->n);
    pp->first = malloc((size_t) (2 * pp->chunk));
    if (pp->kind != CONTIG)
        pp->tmp = malloc((size_t) bytes);
    if (!pp->reqs || !pp->idx || !pp->sts || !pp->first || (pp->kind != CONTIG && !pp->tmp)) {
        release(pp);
        return NULL;
    }
    for (int k = 0; k < pp->n; k++)
        pp->reqs[k] = MPI_REQUEST_NULL;
    return pp;
}

/* 1. Sending: pack chunk k, send it, pack chunk k + 1 while it travels. */
static void fill(mpiw_pipe *pp, int k)
{
    if (pp->kind == CANON)
        mpic_pack_range(&pp->desc, pp->count, pp->buf, off_of(pp, k), len_of(pp, k), at(pp, k));
    else if (k == 0)
        memcpy(at(pp, 0), pp->kind == CONTIG ? pp->data : pp->tmp, (size_t) len_of(pp, 0));
}

static int post_sends(mpiw_pipe *pp)
{
    int len, flag;

    for (int k = 0; k < pp->n; k++) {
        char *w;
        fill(pp, k);
        w = wire(pp, k, &len);
        /* A synchronous send's first chunk completes only once it is matched. */
        if ((pp->err = (k == 0 && pp->sync ? PMPI_Issend : PMPI_Isend)(
                 w, len, MPI_PACKED, pp->peer, pp->tag, pp->comm, &pp->reqs[k])) != MPI_SUCCESS) {
            pp->n = pp->left = k;
            return pp->err;
        }
        pp->posted = k + 1;
        if (k)
            PMPI_Test(&pp->reqs[k - 1], &flag, MPI_STATUS_IGNORE);
    }
    return MPI_SUCCESS;
}

static int send_start(mpiw_pipe *pp)
{
    uint64_t h[4] = { MAGIC, (uint64_t) pp->total, (uint64_t) pp->chunk, 0 };
    int err = MPI_SUCCESS;

    memcpy(pp->first, h, HDR);
    if (pp->kind == OTHER) {
#if MPIW_HAVE_LARGE_COUNT
        MPI_Count pos = 0;
        err = PMPI_Pack_c(pp->buf, pp->count, pp->dt, pp->tmp, pp->total, &pos, pp->comm);
#else
        int pos = 0;
        err = PMPI_Pack(pp->buf, (int) pp->count, pp->dt, pp->tmp, (int) pp->total, &pos,
                        pp->comm);
#endif
        if (err != MPI_SUCCESS)
            return err;
    }
    MPIW_LOCKED(&order, err = post_sends(pp));
    if (pp->kind == CANON)
        mpiw_count(MPIW_STAT_bytes_packed, pp->total);
    return err;
}

/* 2. Receiving: a receive for every chunk, each unpacked as it arrives. */
static int post_recvs(mpiw_pipe *pp, int from, int to, int source, int tag)
{
    int len;

    for (int k = from; k < to; k++) {
        char *w = wire(pp, k, &len);
        int err = PMPI_Irecv(w, len, MPI_PACKED, source, tag, pp->comm, &pp->reqs[k]);
        if (err != MPI_SUCCESS)
            return err;
        pp->posted = k + 1;
    }
    return MPI_SUCCESS;
}

/* Chunk 0 first; the others at once when source and tag are named, else when chunk 0
 * has told them (only blocking calls do that, see mpiw_pipe_irecv). */
static int recv_start(mpiw_pipe *pp)
{
    int err, to = pp->peer == MPI_ANY_SOURCE || pp->tag == MPI_ANY_TAG ? 1 : pp->n;

    MPIW_LOCKED(&order, err = post_recvs(pp, 0, to, pp->peer, pp->tag));
    return err;
}

/* Chunk k arrived (err: its error): check it and put its bytes in place. */
static void arrived(mpiw_pipe *pp, int k, const MPI_Status *st, int err)
{
    int64_t want = len_of(pp, k) + (k ? 0 : HDR), got;

    pp->left--;
    if (err == MPI_ERR_TRUNCATE)
        broken(pp, "a message longer than the chunk expected arrived (chunk %lld of %lld; "
               "was it sent without the pipelined method, by MPI_Bsend or a persistent "
               "send?)", k, pp->n);
    if (err != MPI_SUCCESS) {
        pp->err = pp->err ? pp->err : err;
        return;
    }
    got = mpiw_status_bytes(st);
    if (k == 0) {
        uint64_t h[4];
        memcpy(h, pp->first, HDR);
        if (got < HDR || h[0] != MAGIC)
            broken(pp, "a message of %lld bytes without a pipeline header arrived where a "
                   "pipelined message's first chunk (%lld bytes) was expected", got, want);
        if (h[1] != (uint64_t) pp->total)
            broken(pp, "a pipelined message of %lld bytes arrived at a receive of %lld",
                   (long long) h[1], pp->total);
        if (h[2] != (uint64_t) pp->chunk)
            broken(pp, "the first chunk was cut with another chunk size, %lld bytes "
                   "(MPICOMM_PIPELINE_CHUNK must be the same on every rank: %lld here)",
                   (long long) h[2], mpiw_g.pipe_chunk);
    }
    if (got != want)
        broken(pp, "a message of %lld bytes arrived where a chunk of %lld was expected",
               got, want);
    if (k == 0) {
        pp->source = st->MPI_SOURCE;
        pp->got_tag = st->MPI_TAG;
        if (pp->posted < pp->n) {
            MPIW_LOCKED(&order, err = post_recvs(pp, 1, pp->n, pp->source, pp->got_tag));
            if (err != MPI_SUCCESS) {
                pp->err = err;
                pp->left = 0;
                return;
            }
        }
    }
    if (pp->kind == CANON) {
        mpic_unpack_range(&pp->desc, pp->count, at(pp, k), off_of(pp, k), len_of(pp, k),
                          pp->buf);
        mpiw_count(MPIW_STAT_bytes_unpacked, len_of(pp, k));
    } else if (k == 0) {
        memcpy(pp->kind == CONTIG ? pp->data : pp->tmp, at(pp, 0), (size_t) len_of(pp, 0));
    }
}

/* The status a receive reports: the whole message, from chunk 0's envelope. */
static void status_of(const mpiw_pipe *pp, MPI_Status *st)
{
    st->MPI_SOURCE = pp->recv ? pp->source : MPI_ANY_SOURCE;
    st->MPI_TAG = pp->recv ? pp->got_tag : MPI_ANY_TAG;
    st->MPI_ERROR = pp->err;
    PMPI_Status_set_elements_x(st, MPI_BYTE, pp->recv && !pp->cancelled ? pp->total : 0);
    PMPI_Status_set_cancelled(st, pp->cancelled);
}

/* 3. The end: the MPI unpacks what it packed; the program's request completes. */
static void finish(mpiw_pipe *pp)
{
    if (pp->completed)
        return;
    pp->completed = 1;
    if (pp->recv && pp->kind == OTHER && !pp->err && !pp->cancelled) {
#if MPIW_HAVE_LARGE_COUNT
        MPI_Count pos = 0;
        pp->err = PMPI_Unpack_c(pp->tmp, pp->total, &pos, pp->buf, pp->count, pp->dt, pp->comm);
#else
        int pos = 0;
        pp->err = PMPI_Unpack(pp->tmp, (int) pp->total, &pos, pp->buf, (int) pp->count, pp->dt,
                              pp->comm);
#endif
    }
    if (pp->greq != MPI_REQUEST_NULL)
        PMPI_Grequest_complete(pp->greq);
}

/* Move it on without blocking (or, block = 1, to its end); 1 when it has completed. */
static int progress(mpiw_pipe *pp, int block)
{
    int err, flag = 1, out;

    while (pp->left > 0) {
        if (!pp->recv) {
            err = block ? PMPI_Waitall(pp->n, pp->reqs, pp->sts)
                        : PMPI_Testall(pp->n, pp->reqs, &flag, pp->sts);
            if (!flag && err == MPI_SUCCESS)
                return 0;
            for (int k = 0; err == MPI_ERR_IN_STATUS && k < pp->n && !pp->err; k++)
                if (pp->sts[k].MPI_ERROR != MPI_SUCCESS && pp->sts[k].MPI_ERROR != MPI_ERR_PENDING)
                    pp->err = pp->sts[k].MPI_ERROR;
            if (err != MPI_SUCCESS && !pp->err)
                pp->err = err;
            pp->left = 0;
            break;
        }
        err = block ? PMPI_Waitsome(pp->posted, pp->reqs, &out, pp->idx, pp->sts)
                    : PMPI_Testsome(pp->posted, pp->reqs, &out, pp->idx, pp->sts);
        if (err != MPI_SUCCESS && err != MPI_ERR_IN_STATUS) {
            pp->err = err;
            pp->left = 0;
            break;
        }
        if (out == MPI_UNDEFINED)
            break;
        for (int j = 0; j < out; j++)
            arrived(pp, pp->idx[j], &pp->sts[j],
                    err == MPI_ERR_IN_STATUS ? pp->sts[j].MPI_ERROR : MPI_SUCCESS);
        if (!block)
            break;
    }
    if (pp->left > 0)
        return 0;
    finish(pp);
    return 1;
}

/* 4. The calls. */
static int no_memory(MPI_Comm comm)
{
    mpiw_log(MPIW_LOG_ERROR, "no memory for a pipelined message");
    PMPI_Comm_call_errhandler(comm, MPI_ERR_NO_MEM);
    return MPI_ERR_NO_MEM;
}

static void counted(int recv)
{
    mpiw_count(recv ? MPIW_STAT_recv_fast : MPIW_STAT_send_fast, 1);
    mpiw_count(MPIW_STAT_method_pipeline, 1);
}

int mpiw_pipe_send(const void *buf, int64_t count, MPI_Datatype dt, int dest, int tag,
                   MPI_Comm comm, int64_t bytes, int sync)
{
    mpiw_pipe *pp = setup(0, buf, count, dt, dest, tag, comm, bytes);
    int err;

    if (!pp)
        return no_memory(comm);
    pp->sync = sync;
    counted(0);
    if ((err = send_start(pp)) == MPI_SUCCESS || pp->posted) {
        progress(pp, 1);
        err = err ? err : pp->err;
    }
    release(pp);
    return err;
}

int mpiw_pipe_recv(void *buf, int64_t count, MPI_Datatype dt, int source, int tag,
                   MPI_Comm comm, int64_t bytes, MPI_Status *status)
{
    mpiw_pipe *pp = setup(1, buf, count, dt, source, tag, comm, bytes);
    int err;

    if (!pp)
        return no_memory(comm);
    counted(1);
    if ((err = recv_start(pp)) == MPI_SUCCESS) {
        progress(pp, 1);
        err = pp->err;
    }
    if (status != MPI_STATUS_IGNORE)
        status_of(pp, status);
    release(pp);
    return err;
}

static int query_fn(void *extra, MPI_Status *st)
{
    mpiw_pipe *pp = extra;

    status_of(pp, st);
    return pp->err;
}

static int free_fn(void *extra)
{
    release(extra);
    return MPI_SUCCESS;
}

/* MPI_Cancel on the generalized request: see cancel. */
static int cancel_fn(void *extra, int complete)
{
    (void) extra;
    (void) complete;
    return MPI_SUCCESS;
}

/* The completion calls drive the chunks of a nonblocking message (mpiw_complete.c). */
static void cancel(mpiw_pipe *pp);

static int drive(void *work, int block)
{
    return progress(work, block);
}

static void withdraw(void *work)
{
    cancel(work);
}

static const mpiw_driver driver = { drive, withdraw };

/* The program's handle for a started message; the completion calls find it tracked. */
static int handle(mpiw_pipe *pp, int err, MPI_Request *req)
{
    mpiw_pending *p;

    if (err == MPI_SUCCESS)
        err = PMPI_Grequest_start(query_fn, free_fn, cancel_fn, pp, req);
    if (err != MPI_SUCCESS) {
        if (pp->posted)
            progress(pp, 1);
        release(pp);
        return err;
    }
    pp->greq = *req;
    if (!(p = calloc(1, sizeof *p))) {
        progress(pp, 1);
        return MPI_SUCCESS;
    }
    p->driver = &driver;
    p->work = pp;
    p->active = 1;
    mpiw_requests_poll();
    return mpiw_requests_track(req, p);
}

int mpiw_pipe_isend(const void *buf, int64_t count, MPI_Datatype dt, int dest, int tag,
                    MPI_Comm comm, int64_t bytes, int sync, MPI_Request *req)
{
    mpiw_pipe *pp = setup(0, buf, count, dt, dest, tag, comm, bytes);

    if (!pp)
        return no_memory(comm);
    pp->sync = sync;
    counted(0);
    return handle(pp, send_start(pp), req);
}

int mpiw_pipe_irecv(void *buf, int64_t count, MPI_Datatype dt, int source, int tag,
                    MPI_Comm comm, int64_t bytes, MPI_Request *req)
{
    mpiw_pipe *pp;

    if (source == MPI_ANY_SOURCE || tag == MPI_ANY_TAG)
        broken(NULL, "a nonblocking receive of %lld bytes uses MPI_ANY_SOURCE or MPI_ANY_TAG "
               "(its later chunks could only be posted once the first arrived)", bytes, 0);
    if (!(pp = setup(1, buf, count, dt, source, tag, comm, bytes)))
        return no_memory(comm);
    counted(1);
    return handle(pp, recv_start(pp), req);
}

/* MPI_Cancel of a pipelined receive nothing has arrived for: cancel chunk 0; if that
 * worked, the others (posted after it, same envelope) cannot have matched either. */
static void cancel(mpiw_pipe *pp)
{
    MPI_Status st;
    int yes = 0;

    if (!pp->recv || pp->completed || pp->left < pp->n || pp->reqs[0] == MPI_REQUEST_NULL)
        return;
    PMPI_Cancel(&pp->reqs[0]);
    PMPI_Wait(&pp->reqs[0], &st);
    PMPI_Test_cancelled(&st, &yes);
    if (!yes) {
        arrived(pp, 0, &st, MPI_SUCCESS);
        return;
    }
    for (int k = 1; k < pp->posted; k++) {
        PMPI_Cancel(&pp->reqs[k]);
        PMPI_Wait(&pp->reqs[k], &st);
        PMPI_Test_cancelled(&st, &yes);
        if (!yes)
            broken(pp, "a message arrived while a pipelined receive was being cancelled "
                   "(chunk %lld of %lld)", k, pp->n);
    }
    pp->cancelled = 1;
    pp->left = 0;
    finish(pp);
}

/* A probe found a message: one of two chunks or more can only be a pipelined
 * message's first chunk, whose size the probe cannot report. */
void mpiw_pipe_probed(const MPI_Status *st, MPI_Comm comm, const char *call)
{
    int64_t n;
    char what[160];

    if (st->MPI_SOURCE == MPI_PROC_NULL || !mpiw_pipe_contract(comm) ||
        (n = mpiw_status_bytes(st)) < 2 * mpiw_g.pipe_chunk)
        return;
    snprintf(what, sizeof what, "%s found the first chunk (%%lld bytes) of a pipelined "
             "message, whose whole size it cannot report", call);
    broken(NULL, what, n, 0);
}

/* Sendrecv with a pipelined side: the receive is posted first, then the send, and both
 * are completed here, so that a rank exchanging with itself cannot deadlock. */
int mpiw_pipe_sendrecv(const void *sbuf, int64_t scount, MPI_Datatype stype, int dest, int stag,
                       int64_t sbytes, void *rbuf, int64_t rcount, MPI_Datatype rtype,
                       int source, int rtag, int64_t rbytes, MPI_Comm comm, MPI_Status *status)
{
    mpiw_pipe *rp = NULL, *sp = NULL;
    MPI_Request plain[2] = { MPI_REQUEST_NULL, MPI_REQUEST_NULL };
    MPI_Status st[2];
    int err = MPI_SUCCESS, err2;

    if ((rbytes && !(rp = setup(1, rbuf, rcount, rtype, source, rtag, comm, rbytes))) ||
        (sbytes && !(sp = setup(0, sbuf, scount, stype, dest, stag, comm, sbytes)))) {
        if (rp)
            release(rp);
        return no_memory(comm);
    }
    /* 1. Post the receive, 2. start the send, 3. complete both. */
    if (rp)
        err = recv_start(rp);
    else
#if MPIW_HAVE_LARGE_COUNT
        err = PMPI_Irecv_c(rbuf, rcount, rtype, source, rtag, comm, &plain[0]);
#else
        err = PMPI_Irecv(rbuf, (int) rcount, rtype, source, rtag, comm, &plain[0]);
#endif
    if (err == MPI_SUCCESS)
        err = sp ? send_start(sp)
#if MPIW_HAVE_LARGE_COUNT
                 : PMPI_Isend_c(sbuf, scount, stype, dest, stag, comm, &plain[1]);
#else
                 : PMPI_Isend(sbuf, (int) scount, stype, dest, stag, comm, &plain[1]);
#endif
    if (rp && rp->posted)
        progress(rp, 1);
    err2 = PMPI_Waitall(2, plain, st);
    if (sp && sp->posted)
        progress(sp, 1);
    if (err == MPI_SUCCESS)
        err = err2 == MPI_ERR_IN_STATUS ? (st[0].MPI_ERROR ? st[0].MPI_ERROR : st[1].MPI_ERROR)
                                        : err2;
    if (err == MPI_SUCCESS)
        err = rp && rp->err ? rp->err : sp && sp->err ? sp->err : MPI_SUCCESS;
    if (status != MPI_STATUS_IGNORE) {
        if (rp)
            status_of(rp, status);
        else
            *status = st[0];
    }
    if (rp) {
        counted(1);
        release(rp);
    }
    if (sp) {
        counted(0);
        release(sp);
    }
    return err;
}
