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
 *   pack         a canonical non-contiguous type packed by the generated kernels, where
 *                MPICOMM_METHOD=pack forces it or the model measured it faster
 *
 * The model (mpiw_model.c) only answers "is this faster here"; the order of the
 * questions and what each method may carry are decided in this file.
 */
#include <limits.h>
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

/* A type the generated kernels pack: canonical, not contiguous, and its bytes within
 * what the call can send (an int's worth without the MPI-4 large-count calls). */
static int packable(const mpiw_call *c, mpic_desc *d)
{
    if (!mpiw_types_lookup(c->dt, d) || mpic_contiguous(d, c->count) ||
        c->count > INT64_MAX / d->info.size)
        return 0;
#if !MPIW_HAVE_LARGE_COUNT
    if (c->count * d->info.size > INT_MAX)
        return 0;
#endif
    return 1;
}

int mpiw_choose(const mpiw_call *c, mpiw_choice *out)
{
    out->method = MPIW_METHOD_PASSTHROUGH;
    out->declined = 0;
    out->bytes = 0;

    /* 1. Nothing to move. */
    if (c->count <= 0 || c->peer == MPI_PROC_NULL)
        return out->method;

    /* 2. Pipelined, whatever the type: the contract covers every message of its sizes. */
    if (pipelined(c, &out->bytes))
        return out->method = MPIW_METHOD_PIPELINE;
    out->bytes = 0;

    /* 3. Forced through: the type is only looked at for the counters. */
    if (mpiw_g.method == MPIW_METHOD_PASSTHROUGH) {
        out->declined = mpiw_g.stats && packable(c, &out->desc);
        return out->method;
    }

    /* 4. Ours to pack, where the method forces it or the model measured it faster. */
    if (!packable(c, &out->desc))
        return out->method;
    out->bytes = c->count * out->desc.info.size;
    if (mpiw_g.method == MPIW_METHOD_PACK || mpiw_model_pack(&out->desc, c->count))
        return out->method = MPIW_METHOD_PACK;
    out->declined = 1;
    return out->method;
}
