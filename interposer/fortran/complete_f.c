/* The completion calls from Fortran: MPI_WAIT, MPI_WAITALL, MPI_WAITANY, MPI_WAITSOME
 * and the MPI_TEST family. Requests the interposer created must be finished by the
 * interposer whichever binding the program completes them through. Indices are
 * 1-based in Fortran. */
#include "mpiwf.h"

#if MPIWF_ENABLED

static MPI_Fint f_index(int c_index)
{
    return c_index == MPI_UNDEFINED ? MPI_UNDEFINED : (MPI_Fint) (c_index + 1);
}

static void wait_one(int binding, MPI_Fint *request, void *status, MPI_Fint *ierr)
{
    MPI_Request c_req = PMPI_Request_f2c(*request);
    MPI_Status c_status;
    int err = MPI_Wait(&c_req, mpiwf_status_in(binding, status, &c_status));

    if (err == MPI_SUCCESS) {
        *request = PMPI_Request_c2f(c_req);
        mpiwf_status_out(binding, status, &c_status);
    }
    mpiwf_ierr(ierr, err);
}

static void test_one(int binding, MPI_Fint *request, MPI_Fint *flag, void *status,
                     MPI_Fint *ierr)
{
    MPI_Request c_req = PMPI_Request_f2c(*request);
    MPI_Status c_status;
    int c_flag = 0;
    int err = MPI_Test(&c_req, &c_flag, mpiwf_status_in(binding, status, &c_status));

    if (err == MPI_SUCCESS) {
        *flag = mpiwf_logical(c_flag);
        *request = PMPI_Request_c2f(c_req);
        if (c_flag)
            mpiwf_status_out(binding, status, &c_status);
    }
    mpiwf_ierr(ierr, err);
}

/* Waitall and Testall: every status lines up with its request. */
static void all_out(mpiwf_batch *b, MPI_Fint *requests, void *statuses, int err, int done)
{
    if (mpiwf_reports(err) && done) {
        mpiwf_batch_requests_out(b, requests);
        for (int i = 0; i < b->n; i++)
            mpiwf_batch_status_out(b, i, statuses);
    }
    mpiwf_batch_free(b);
}

static void wait_all(int binding, MPI_Fint *count, MPI_Fint *requests, void *statuses,
                     MPI_Fint *ierr)
{
    mpiwf_batch b;
    int err = mpiwf_batch_in(&b, binding, (int) *count, requests, statuses);

    if (err == MPI_SUCCESS) {
        err = MPI_Waitall(b.n, b.reqs, b.statuses);
        all_out(&b, requests, statuses, err, 1);
    }
    mpiwf_ierr(ierr, err);
}

static void test_all(int binding, MPI_Fint *count, MPI_Fint *requests, MPI_Fint *flag,
                     void *statuses, MPI_Fint *ierr)
{
    mpiwf_batch b;
    int c_flag = 0, err = mpiwf_batch_in(&b, binding, (int) *count, requests, statuses);

    if (err == MPI_SUCCESS) {
        err = MPI_Testall(b.n, b.reqs, &c_flag, b.statuses);
        if (mpiwf_reports(err))
            *flag = mpiwf_logical(c_flag);
        all_out(&b, requests, statuses, err, c_flag);
    }
    mpiwf_ierr(ierr, err);
}

/* Waitany and Testany: one request may have finished, at *index. */
static void any_out(mpiwf_batch *b, MPI_Fint *requests, int c_index, MPI_Fint *index,
                    void *status, const MPI_Status *c_status)
{
    *index = f_index(c_index);
    if (c_index != MPI_UNDEFINED) {
        requests[c_index] = PMPI_Request_c2f(b->reqs[c_index]);
        mpiwf_status_out(b->binding, status, c_status);
    }
}

static void wait_any(int binding, MPI_Fint *count, MPI_Fint *requests, MPI_Fint *index,
                     void *status, MPI_Fint *ierr)
{
    mpiwf_batch b;
    MPI_Status c_status;
    int c_index = MPI_UNDEFINED, err = mpiwf_batch_in(&b, binding, (int) *count, requests, NULL);

    if (err == MPI_SUCCESS) {
        err = MPI_Waitany(b.n, b.reqs, &c_index, mpiwf_status_in(binding, status, &c_status));
        if (err == MPI_SUCCESS)
            any_out(&b, requests, c_index, index, status, &c_status);
        mpiwf_batch_free(&b);
    }
    mpiwf_ierr(ierr, err);
}

static void test_any(int binding, MPI_Fint *count, MPI_Fint *requests, MPI_Fint *index,
                     MPI_Fint *flag, void *status, MPI_Fint *ierr)
{
    mpiwf_batch b;
    MPI_Status c_status;
    int c_index = MPI_UNDEFINED, c_flag = 0;
    int err = mpiwf_batch_in(&b, binding, (int) *count, requests, NULL);

    if (err == MPI_SUCCESS) {
        err = MPI_Testany(b.n, b.reqs, &c_index, &c_flag,
                          mpiwf_status_in(binding, status, &c_status));
        if (err == MPI_SUCCESS) {
            *flag = mpiwf_logical(c_flag);
            any_out(&b, requests, c_index, index, status, &c_status);
        }
        mpiwf_batch_free(&b);
    }
    mpiwf_ierr(ierr, err);
}

/* Waitsome and Testsome: *outcount requests finished, listed in indices. */
static void some(int binding, int test, MPI_Fint *incount, MPI_Fint *requests,
                 MPI_Fint *outcount, MPI_Fint *indices, void *statuses, MPI_Fint *ierr)
{
    mpiwf_batch b;
    int c_outcount = 0, err = mpiwf_batch_in(&b, binding, (int) *incount, requests, statuses);

    if (err != MPI_SUCCESS) {
        mpiwf_ierr(ierr, err);
        return;
    }
    err = test ? MPI_Testsome(b.n, b.reqs, &c_outcount, (int *) indices, b.statuses)
               : MPI_Waitsome(b.n, b.reqs, &c_outcount, (int *) indices, b.statuses);
    if (mpiwf_reports(err)) {
        *outcount = (MPI_Fint) c_outcount;
        for (int i = 0; c_outcount != MPI_UNDEFINED && i < c_outcount; i++) {
            int k = (int) indices[i];

            requests[k] = PMPI_Request_c2f(b.reqs[k]);
            indices[i] = (MPI_Fint) (k + 1);
            mpiwf_batch_status_out(&b, i, statuses);
        }
    }
    mpiwf_batch_free(&b);
    mpiwf_ierr(ierr, err);
}

/* The entry points of each binding. */
#define MPIWF_COMPLETE(suffix, binding)                                                     \
    void mpi_wait_##suffix(MPI_Fint *request, void *status, MPI_Fint *ierr)                 \
    {                                                                                       \
        MPIWF_PASS(mpi_wait_##suffix, request, status, ierr);                               \
        wait_one(binding, request, status, ierr);                                           \
    }                                                                                       \
    void mpi_test_##suffix(MPI_Fint *request, MPI_Fint *flag, void *status, MPI_Fint *ierr) \
    {                                                                                       \
        MPIWF_PASS(mpi_test_##suffix, request, flag, status, ierr);                         \
        test_one(binding, request, flag, status, ierr);                                     \
    }                                                                                       \
    void mpi_waitall_##suffix(MPI_Fint *count, MPI_Fint *requests, void *statuses,          \
                              MPI_Fint *ierr)                                               \
    {                                                                                       \
        MPIWF_PASS(mpi_waitall_##suffix, count, requests, statuses, ierr);                  \
        wait_all(binding, count, requests, statuses, ierr);                                 \
    }                                                                                       \
    void mpi_testall_##suffix(MPI_Fint *count, MPI_Fint *requests, MPI_Fint *flag,          \
                              void *statuses, MPI_Fint *ierr)                               \
    {                                                                                       \
        MPIWF_PASS(mpi_testall_##suffix, count, requests, flag, statuses, ierr);            \
        test_all(binding, count, requests, flag, statuses, ierr);                           \
    }                                                                                       \
    void mpi_waitany_##suffix(MPI_Fint *count, MPI_Fint *requests, MPI_Fint *index,         \
                              void *status, MPI_Fint *ierr)                                 \
    {                                                                                       \
        MPIWF_PASS(mpi_waitany_##suffix, count, requests, index, status, ierr);             \
        wait_any(binding, count, requests, index, status, ierr);                            \
    }                                                                                       \
    void mpi_testany_##suffix(MPI_Fint *count, MPI_Fint *requests, MPI_Fint *index,         \
                              MPI_Fint *flag, void *status, MPI_Fint *ierr)                 \
    {                                                                                       \
        MPIWF_PASS(mpi_testany_##suffix, count, requests, index, flag, status, ierr);       \
        test_any(binding, count, requests, index, flag, status, ierr);                      \
    }                                                                                       \
    void mpi_waitsome_##suffix(MPI_Fint *incount, MPI_Fint *requests, MPI_Fint *outcount,   \
                               MPI_Fint *indices, void *statuses, MPI_Fint *ierr)           \
    {                                                                                       \
        MPIWF_PASS(mpi_waitsome_##suffix, incount, requests, outcount, indices, statuses,   \
                   ierr);                                                                   \
        some(binding, 0, incount, requests, outcount, indices, statuses, ierr);             \
    }                                                                                       \
    void mpi_testsome_##suffix(MPI_Fint *incount, MPI_Fint *requests, MPI_Fint *outcount,   \
                               MPI_Fint *indices, void *statuses, MPI_Fint *ierr)           \
    {                                                                                       \
        MPIWF_PASS(mpi_testsome_##suffix, incount, requests, outcount, indices, statuses,   \
                   ierr);                                                                   \
        some(binding, 1, incount, requests, outcount, indices, statuses, ierr);             \
    }

#if MPIWF_MPIF_ENABLED
MPIWF_COMPLETE(, MPIWF_MPIF)
MPIWF_ALIAS(mpi_wait_, ompi_wait_f)
MPIWF_ALIAS(mpi_waitall_, ompi_waitall_f)
MPIWF_ALIAS(mpi_waitany_, ompi_waitany_f)
MPIWF_ALIAS(mpi_waitsome_, ompi_waitsome_f)
MPIWF_ALIAS(mpi_test_, ompi_test_f)
MPIWF_ALIAS(mpi_test_, pmpi_test_)
MPIWF_ALIAS(mpi_testall_, ompi_testall_f)
MPIWF_ALIAS(mpi_testall_, pmpi_testall_)
MPIWF_ALIAS(mpi_testany_, ompi_testany_f)
MPIWF_ALIAS(mpi_testany_, pmpi_testany_)
MPIWF_ALIAS(mpi_testsome_, ompi_testsome_f)
MPIWF_ALIAS(mpi_testsome_, pmpi_testsome_)
#endif
#if MPIWF_F08_ENABLED
MPIWF_COMPLETE(f08_, MPIWF_F08)
#endif

#endif
