/*
 * Completion of batches that hold requests the interposer created. Each call
 * 1. claims the tracked entries (out of the table, see mpiw_requests_claim) and
 *    keeps the handles, which the MPI overwrites with MPI_REQUEST_NULL,
 * 2. makes sure it can read statuses (the program may pass MPI_STATUSES_IGNORE),
 * 3. drives the pipelined messages among them (their handles are generalized
 *    requests the MPI cannot complete by itself): Wait and Waitall block on them,
 *    Waitany and Waitsome poll with the matching Test call, Test calls look once,
 * 4. calls the MPI,
 * 5. finishes each completed request with its status (unpack, free) and puts
 *    the others back.
 */
#include <stdlib.h>
#include <string.h>
#include "mpiw.h"

typedef struct batch {
    int n;
    MPI_Request *reqs;         /* the program's array */
    MPI_Request *keys;
    mpiw_pending **claimed;
    MPI_Status *st;
    int own_st;
} batch;

static int batch_open(batch *b, MPI_Request *reqs, int n, MPI_Status *user)
{
    size_t m = (size_t) (n > 0 ? n : 1);

    b->n = n;
    b->reqs = reqs;
    b->keys = malloc(sizeof *b->keys * m);
    b->claimed = malloc(sizeof *b->claimed * m);
    b->own_st = user == MPI_STATUSES_IGNORE;
    b->st = b->own_st ? malloc(sizeof *b->st * m) : user;
    if (!b->keys || !b->claimed || !b->st) {
        free(b->keys);
        free(b->claimed);
        if (b->own_st)
            free(b->st);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        b->keys[i] = reqs[i];
        b->claimed[i] = mpiw_requests_claim(reqs[i]);
    }
    return 0;
}

/* Move the driven requests (pipelined messages) of the batch on; how many are still
 * under way. With block, to their end: several are polled in turn, so that each chunk
 * is unpacked as it arrives whichever message it belongs to. */
static int drive(batch *b, int block)
{
    int busy;

    do {
        busy = 0;
        for (int i = 0; i < b->n; i++)
            if (b->claimed[i] && b->claimed[i]->driver)
                busy += !b->claimed[i]->driver->progress(b->claimed[i]->work, 0);
    } while (block && busy > 1);
    if (block && busy)
        for (int i = 0; i < b->n; i++)
            if (b->claimed[i] && b->claimed[i]->driver)
                b->claimed[i]->driver->progress(b->claimed[i]->work, 1);
    return block ? 0 : busy;
}

/* Request i is done (ok: without error), or still active. */
static void settle(batch *b, int i, const MPI_Status *st, int done, int ok)
{
    mpiw_pending *p = b->claimed[i];

    b->claimed[i] = NULL;
    if (!p)
        return;
    if (done)
        mpiw_requests_settle(p, st, ok);
    else
        mpiw_requests_unclaim(&b->reqs[i], p);
}

/* A batch of one request that is under way: Wait and Test give its index (0) when it
 * completes. An inactive persistent request goes through Waitany/Testany, which give
 * MPI_UNDEFINED for it as for a null one. */
static int one_active(const batch *b)
{
    return b->n == 1 && b->claimed[0] && b->claimed[0]->active;
}

/* After a call returned err, settle request i (status s). With MPI_ERR_IN_STATUS each
 * status tells; after any other error the state is unknown, so the entry goes back
 * rather than risk freeing a buffer the MPI still uses. */
static void settle_by_status(batch *b, int i, const MPI_Status *s, int err)
{
    if (err == MPI_SUCCESS)
        settle(b, i, s, 1, 1);
    else if (err == MPI_ERR_IN_STATUS && s->MPI_ERROR != MPI_ERR_PENDING)
        settle(b, i, s, 1, s->MPI_ERROR == MPI_SUCCESS);
}

/* Put back whatever was not settled, free the batch. */
static void batch_close(batch *b)
{
    for (int i = 0; i < b->n; i++)
        settle(b, i, NULL, 0, 0);
    free(b->keys);
    free(b->claimed);
    if (b->own_st)
        free(b->st);
}

int mpiw_wait(MPI_Request *req, MPI_Status *status)
{
    return mpiw_waitany(1, req, &(int) { 0 }, status);
}

int mpiw_test(MPI_Request *req, int *flag, MPI_Status *status)
{
    return mpiw_testany(1, req, &(int) { 0 }, flag, status);
}

int mpiw_waitall(int n, MPI_Request reqs[], MPI_Status statuses[])
{
    batch b;
    int err;

    if (batch_open(&b, reqs, n, statuses))
        return PMPI_Waitall(n, reqs, statuses);
    drive(&b, 1);
    err = PMPI_Waitall(n, reqs, b.st);
    for (int i = 0; i < n; i++)
        settle_by_status(&b, i, &b.st[i], err);
    batch_close(&b);
    return err;
}

int mpiw_testall(int n, MPI_Request reqs[], int *flag, MPI_Status statuses[])
{
    batch b;
    int err;

    if (batch_open(&b, reqs, n, statuses))
        return PMPI_Testall(n, reqs, flag, statuses);
    drive(&b, 0);
    err = PMPI_Testall(n, reqs, flag, b.st);
    if (*flag || err == MPI_ERR_IN_STATUS)
        for (int i = 0; i < n; i++)
            settle_by_status(&b, i, &b.st[i], err);
    batch_close(&b);
    return err;
}

/* Waitany/Testany (and so Wait/Test): request index finished, in error or not. */
static void settle_any(batch *b, MPI_Request reqs[], int err, int index, const MPI_Status *st)
{
    if (index != MPI_UNDEFINED && (err == MPI_SUCCESS || reqs[index] == MPI_REQUEST_NULL))
        settle(b, index, st, 1, err == MPI_SUCCESS);
}

int mpiw_waitany(int n, MPI_Request reqs[], int *index, MPI_Status *status)
{
    batch b;
    MPI_Status st;
    int err;

    if (batch_open(&b, reqs, n, MPI_STATUSES_IGNORE))
        return PMPI_Waitany(n, reqs, index, status);
    if (!drive(&b, n == 1))
        err = one_active(&b) ? (*index = 0, PMPI_Wait(reqs, &st))
                             : PMPI_Waitany(n, reqs, index, &st);
    else
        for (int flag = 0; (err = PMPI_Testany(n, reqs, index, &flag, &st)) == MPI_SUCCESS &&
                           !flag;)
            drive(&b, 0);
    settle_any(&b, reqs, err, *index, &st);
    if (status != MPI_STATUS_IGNORE)
        *status = st;
    batch_close(&b);
    return err;
}

int mpiw_testany(int n, MPI_Request reqs[], int *index, int *flag, MPI_Status *status)
{
    batch b;
    MPI_Status st;
    int err;

    if (batch_open(&b, reqs, n, MPI_STATUSES_IGNORE))
        return PMPI_Testany(n, reqs, index, flag, status);
    drive(&b, 0);
    if (one_active(&b)) {          /* one request under way: index 0 or none */
        err = PMPI_Test(reqs, flag, &st);
        *index = *flag ? 0 : MPI_UNDEFINED;
    } else {
        err = PMPI_Testany(n, reqs, index, flag, &st);
    }
    if (*flag || err != MPI_SUCCESS)
        settle_any(&b, reqs, err, *index, &st);
    if (status != MPI_STATUS_IGNORE)
        *status = st;
    batch_close(&b);
    return err;
}

static void settle_some(batch *b, int err, int outcount, const int indices[])
{
    if (outcount == MPI_UNDEFINED)
        return;
    for (int j = 0; j < outcount; j++)
        settle_by_status(b, indices[j], &b->st[j], err);
}

int mpiw_waitsome(int n, MPI_Request reqs[], int *outcount, int indices[],
                  MPI_Status statuses[])
{
    batch b;
    int err;

    if (batch_open(&b, reqs, n, statuses))
        return PMPI_Waitsome(n, reqs, outcount, indices, statuses);
    if (!drive(&b, 0))
        err = PMPI_Waitsome(n, reqs, outcount, indices, b.st);
    else
        while ((err = PMPI_Testsome(n, reqs, outcount, indices, b.st)) == MPI_SUCCESS &&
               *outcount == 0)
            drive(&b, 0);
    settle_some(&b, err, *outcount, indices);
    batch_close(&b);
    return err;
}

int mpiw_testsome(int n, MPI_Request reqs[], int *outcount, int indices[],
                  MPI_Status statuses[])
{
    batch b;
    int err;

    if (batch_open(&b, reqs, n, statuses))
        return PMPI_Testsome(n, reqs, outcount, indices, statuses);
    drive(&b, 0);
    err = PMPI_Testsome(n, reqs, outcount, indices, b.st);
    settle_some(&b, err, *outcount, indices);
    batch_close(&b);
    return err;
}

int mpiw_request_get_status(MPI_Request req, int *flag, MPI_Status *status)
{
    MPI_Status st;
    int err = PMPI_Request_get_status(req, flag, &st);

    if (err == MPI_SUCCESS && *flag)
        mpiw_requests_peek(req, &st);
    if (status != MPI_STATUS_IGNORE)
        *status = st;
    return err;
}
