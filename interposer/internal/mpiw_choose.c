/*
 * The chooser: how one buffer of a call travels. Senders, collectives and the
 * persistent requests ask here and dispatch on the answer; nothing else decides.
 *
 *   passthrough  the MPI moves the program's datatype itself: anything the interposer
 *                does not fully understand (not canonical, contiguous, empty, a peer of
 *                MPI_PROC_NULL, too large for the call), and whatever MPICOMM_METHOD or
 *                the model leaves to the MPI
 *   pipeline     a point-to-point message of at least two chunks on a communicator that
 *                keeps the pipelined method's contract (mpiw_pipeline.c), where
 *                MPICOMM_METHOD=pipeline forces it or the model measured it faster
 *   pack         a canonical non-contiguous type, or one of the table form (point-to-point),
 *                packed by the generated kernels, where MPICOMM_METHOD=pack forces it or
 *                the model measured it faster
 *
 * A buffer in device memory never reaches those three, which would hand the MPI a
 * pointer it may not take. Its methods:
 *   device       packed on the device, the packed device buffer given to the MPI: only
 *                where the MPI says it is CUDA-aware (MPIX_Query_cuda_support)
 *   staged       packed on the device, copied to pinned host memory, sent as MPI_PACKED;
 *                a receive mirrors it
 *   oneshot      the kernel writes the packed bytes straight into mapped pinned host
 *                memory (and a receive's kernel reads them from there)
 *   mirror       a type the kernels do not pack, or a contiguous one, over an MPI that is
 *                not CUDA-aware: the bytes it spans through pinned host memory, with the
 *                program's own count and type
 * Over a CUDA-aware MPI what the kernels do not pack goes to the MPI as it is. With a
 * model measured on the active device backend: the method it measured fastest there.
 * Without: device over a CUDA-aware MPI, staged otherwise. MPICOMM_METHOD=device, staged
 * or oneshot forces one (device only where the MPI can take it).
 *
 * The model (mpiw_model.c) only answers "is this faster here"; the order of the
 * questions and what each method may carry are decided in this file.
 */
#include <limits.h>
#include <string.h>
#include "mpiw.h"

/* The pipelined method: the communicator keeps the contract, the message is at least
 * two chunks, and the method or the model wants it. */
static int pipelined(const mpiw_call *c, int64_t *bytes)
{
    MPI_Count size = 0;

    if (c->pipe_comm == MPI_COMM_NULL || c->dt == MPI_DATATYPE_NULL ||
        !mpiw_pipe_contract(c->pipe_comm) ||
        PMPI_Type_size_x(c->dt, &size) != MPI_SUCCESS || size <= 0 ||
        c->count > INT64_MAX / size)
        return 0;
    *bytes = c->count * size;
    if (*bytes < 2 * mpiw_g.pipe_chunk || !mpiw_pipe_fits(*bytes))
        return 0;
    return mpiw_g.method == MPIW_METHOD_PIPELINE || mpiw_model_pipeline(*bytes);
}

/* A type the generated kernels pack: canonical and not contiguous, or the table form
 * where the caller takes it (tables: host buffers only), and its bytes within what the
 * call can send (an int's worth without the MPI-4 large-count calls). */
static int packable(const mpiw_call *c, mpic_desc *d, int tables)
{
    int ok = (tables ? mpiw_types_lookup_any(c->dt, d) : mpiw_types_lookup(c->dt, d)) &&
             !mpic_contiguous(d, c->count) && c->count <= INT64_MAX / d->info.size;

#if !MPIW_HAVE_LARGE_COUNT
    ok = ok && c->count * d->info.size <= INT_MAX;
#endif
    if (!ok)
        d->table = NULL;
    return ok;
}

/* A device buffer (1. of mpiw_choose passed). */
static int on_device(const mpiw_call *c, mpiw_choice *out)
{
    int aware = mpiw_g.cuda_aware && mpid_backend_real();
    int forced = mpiw_g.method, measured;

    if (!packable(c, &out->desc, c->tables))
        return out->method = aware ? MPIW_METHOD_PASSTHROUGH : MPIW_METHOD_MIRROR;
    out->bytes = c->count * out->desc.info.size;
    if (forced == MPIW_METHOD_STAGED || forced == MPIW_METHOD_ONESHOT)
        return out->method = forced;
    if (forced != MPIW_METHOD_DEVICE &&
        (measured = mpiw_model_device(&out->desc, c->count, aware)) != MPIW_METHOD_AUTO)
        return out->method = measured;
    return out->method = aware ? MPIW_METHOD_DEVICE : MPIW_METHOD_STAGED;
}

/* A program sends the same types again and again (a 26-neighbour halo: 52 of them): the
 * answers for a host buffer of a point-to-point call are kept per thread in a table by
 * handle and count, each in one of two neighbouring slots (52 types in one slot each of
 * 128 collided about ten times, evicting each other every exchange), and found again
 * without asking the model (or, left to the MPI, decoding the type). The types'
 * generation (any commit or free) and the method (it can be set at run time) are part
 * of the key. The table is the thread's block MPIW_TLS_KEPT (mpiw_thread.c). */
#define KEPT 512
typedef struct kept {
    MPI_Datatype dt;
    int64_t count;
    unsigned generation;
    int alone, tables, remote, method, declined, pack;
} kept;

/* The first of the call's two slots (the second follows it) in table t. */
static kept *kept_slot(kept *t, const mpiw_call *c)
{
    uint64_t h = 0;

    memcpy(&h, &c->dt, sizeof c->dt < sizeof h ? sizeof c->dt : sizeof h);
    h = (h ^ (h >> 7) ^ (h >> 17) ^ (uint64_t) c->count) * 0x9e3779b97f4a7c15ull;
    return &t[(h >> 40) % (KEPT - 1)];
}

static int kept_same(const kept *k, const mpiw_call *c, unsigned generation)
{
    return k->dt == c->dt && k->count == c->count && k->generation == generation &&
           k->alone == c->alone && k->tables == c->tables && k->remote == c->remote &&
           k->method == mpiw_g.method;
}

static kept *kept_find(const mpiw_call *c, unsigned generation)
{
    kept *t = mpiw_tls_peek(MPIW_TLS_KEPT), *k;

    if (!t)
        return NULL;
    k = kept_slot(t, c);
    return kept_same(k, c, generation) ? k : kept_same(k + 1, c, generation) ? k + 1 : NULL;
}

/* Keep a new answer for a point-to-point call (the first slot unless it holds a live
 * answer for another call). */
static void kept_store(const mpiw_call *c, unsigned generation, int declined, int pack)
{
    kept *t, *k;

    if (c->coll || generation == 0 || !(t = mpiw_tls_get(MPIW_TLS_KEPT, KEPT * sizeof *t)))
        return;
    k = kept_slot(t, c);
    if (k->generation == generation && !kept_same(k, c, generation))
        k++;
    *k = (kept) { c->dt, c->count, generation, c->alone, c->tables, c->remote, mpiw_g.method,
                  declined, pack };
}

static int passthrough(mpiw_choice *out, int declined)
{
    out->declined = declined;
    out->desc.table = NULL;
    return out->method = MPIW_METHOD_PASSTHROUGH;
}

int mpiw_choose(const mpiw_call *c, mpiw_choice *out)
{
    unsigned generation;
    const kept *k;

    out->method = MPIW_METHOD_PASSTHROUGH;
    out->declined = 0;
    out->bytes = 0;
    out->desc.canonical = 0;
    out->desc.table = NULL;

    /* 1. Nothing to move, or a buffer in device memory. */
    if (c->count <= 0 || c->peer == MPI_PROC_NULL)
        return out->method;
    mpiw_count(MPIW_STAT_remote_calls, c->remote);
    if (mpid_on_device(c->buf))
        return on_device(c, out);

    /* 2. Pipelined, whatever the type: the contract covers every message of its sizes. */
    if (pipelined(c, &out->bytes))
        return out->method = MPIW_METHOD_PIPELINE;
    out->bytes = 0;

    /* 3. Forced through: the type is only looked at for the counters. */
    if (mpiw_g.method == MPIW_METHOD_PASSTHROUGH) {
        out->declined = mpiw_g.stats && packable(c, &out->desc, c->tables);
        out->desc.table = NULL;
        return out->method;
    }

    /* 4. Ours to pack, where the method forces it or the model measured it faster (a
     * device method leaves host buffers to the model, as auto does); a point-to-point
     * answer is kept. */
    generation = mpiw_types_generation();
    k = c->coll ? NULL : kept_find(c, generation);
    if (k && !k->pack)
        return passthrough(out, k->declined);
    if (!packable(c, &out->desc, c->tables)) {
        kept_store(c, generation, 0, 0);
        return passthrough(out, 0);
    }
    out->bytes = c->count * out->desc.info.size;
    if (k || mpiw_g.method == MPIW_METHOD_PACK || mpiw_model_pack(&out->desc, c->count, c)) {
        if (!k)
            kept_store(c, generation, 0, 1);
        return out->method = MPIW_METHOD_PACK;
    }
    out->bytes = 0;
    kept_store(c, generation, 1, 0);
    return passthrough(out, 1);
}
