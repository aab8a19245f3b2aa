/*
 * Completion of batches that hold requests the interposer created. Each call
 * saves the handles (the MPI overwrites completed ones with MPI_REQUEST_NULL),
 * makes sure it can read statuses (the program may pass MPI_STATUSES_IGNORE),
 * calls the MPI, then finishes each completed tracked request with its status.
 */
#include <stdlib.h>
#include <string.h>
#include "mpiw.h"

typedef struct batch {
    MPI_Request *keys;
    MPI_Status *st;
    int own_st;
} batch;

static int batch_open(batch *b, const MPI_Request *reqs, int n, MPI_Status *user)
{
    b->keys = malloc(sizeof *b->keys * (size_t) (n > 0 ? n : 1));
    b->own_st = user == MPI_STATUSES_IGNORE;
    b->st = b->own_st ? malloc(sizeof *b->st * (size_t) (n > 0 ? n : 1)) : user;
    if (!b->keys || !b->st) {
        free(b->keys);
        if (b->own_st)
            free(b->st);
        return 1;
    }
    memcpy(b->keys, reqs, sizeof *reqs * (size_t) n);
    return 0;
}

static void batch_close(batch *b)
{
    free(b->keys);
    if (b->own_st)
        free(b->st);
}

/* After a call on a batch returned err: finish request i (status s) if it completed.
 * With MPI_ERR_IN_STATUS each status tells; any other error leaves the state unknown,
 * so the request stays tracked rather than risk freeing a buffer the MPI still uses. */
static void finish_one(MPI_Request key, const MPI_Status *s, int err)
{
    if (err == MPI_SUCCESS)
        mpiw_requests_finish(key, s, 1);
    else if (err == MPI_ERR_IN_STATUS && s->MPI_ERROR != MPI_ERR_PENDING)
        mpiw_requests_finish(key, s, s->MPI_ERROR == MPI_SUCCESS);
}

int mpiw_wait(MPI_Request *req, MPI_Status *status)
{
    MPI_Request key = *req;
    MPI_Status st;
    int err = PMPI_Wait(req, &st);

    if (err == MPI_SUCCESS || *req == MPI_REQUEST_NULL)
        mpiw_requests_finish(key, &st, err == MPI_SUCCESS);
    if (status != MPI_STATUS_IGNORE)
        *status = st;
    return err;
}

int mpiw_test(MPI_Request *req, int *flag, MPI_Status *status)
{
    MPI_Request key = *req;
    MPI_Status st;
    int err = PMPI_Test(req, flag, &st);

    if (err == MPI_SUCCESS ? *flag : *req == MPI_REQUEST_NULL)
        mpiw_requests_finish(key, &st, err == MPI_SUCCESS);
    if (status != MPI_STATUS_IGNORE)
        *status = st;
    return err;
}

int mpiw_waitall(int n, MPI_Request reqs[], MPI_Status statuses[])
{
    batch b;
    int err;

    if (batch_open(&b, reqs, n, statuses))
        return PMPI_Waitall(n, reqs, statuses);
    err = PMPI_Waitall(n, reqs, b.st);
    for (int i = 0; i < n; i++)
        finish_one(b.keys[i], &b.st[i], err);
    batch_close(&b);
    return err;
}

int mpiw_testall(int n, MPI_Request reqs[], int *flag, MPI_Status statuses[])
{
    batch b;
    int err;

    if (batch_open(&b, reqs, n, statuses))
        return PMPI_Testall(n, reqs, flag, statuses);
    err = PMPI_Testall(n, reqs, flag, b.st);
    if (*flag || err == MPI_ERR_IN_STATUS)
        for (int i = 0; i < n; i++)
            finish_one(b.keys[i], &b.st[i], err);
    batch_close(&b);
    return err;
}

static void any_done(batch *b, MPI_Request reqs[], int err, int index, const MPI_Status *st)
{
    if (index != MPI_UNDEFINED && (err == MPI_SUCCESS || reqs[index] == MPI_REQUEST_NULL))
        mpiw_requests_finish(b->keys[index], st, err == MPI_SUCCESS);
}

int mpiw_waitany(int n, MPI_Request reqs[], int *index, MPI_Status *status)
{
    batch b;
    MPI_Status st;
    int err;

    if (batch_open(&b, reqs, n, MPI_STATUSES_IGNORE))
        return PMPI_Waitany(n, reqs, index, status);
    err = PMPI_Waitany(n, reqs, index, &st);
    any_done(&b, reqs, err, *index, &st);
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
    err = PMPI_Testany(n, reqs, index, flag, &st);
    if (*flag)
        any_done(&b, reqs, err, *index, &st);
    if (status != MPI_STATUS_IGNORE)
        *status = st;
    batch_close(&b);
    return err;
}

static void some_done(batch *b, int err, int outcount, const int indices[])
{
    if (outcount == MPI_UNDEFINED)
        return;
    for (int j = 0; j < outcount; j++)
        finish_one(b->keys[indices[j]], &b->st[j], err);
}

int mpiw_waitsome(int n, MPI_Request reqs[], int *outcount, int indices[],
                  MPI_Status statuses[])
{
    batch b;
    int err;

    if (batch_open(&b, reqs, n, statuses))
        return PMPI_Waitsome(n, reqs, outcount, indices, statuses);
    err = PMPI_Waitsome(n, reqs, outcount, indices, b.st);
    some_done(&b, err, *outcount, indices);
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
    err = PMPI_Testsome(n, reqs, outcount, indices, b.st);
    some_done(&b, err, *outcount, indices);
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
