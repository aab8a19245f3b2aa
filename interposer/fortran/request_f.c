/* MPI_REQUEST_FREE, MPI_CANCEL, MPI_REQUEST_GET_STATUS from Fortran. */
#include "mpiwf.h"

#if MPIWF_ENABLED

static void request_free(MPI_Fint *request, MPI_Fint *ierr)
{
    MPI_Request c_req = PMPI_Request_f2c(*request);
    int err = MPI_Request_free(&c_req);

    if (err == MPI_SUCCESS)
        *request = PMPI_Request_c2f(MPI_REQUEST_NULL);
    mpiwf_ierr(ierr, err);
}

static void cancel(MPI_Fint *request, MPI_Fint *ierr)
{
    MPI_Request c_req = PMPI_Request_f2c(*request);

    mpiwf_ierr(ierr, MPI_Cancel(&c_req));
}

static void get_status(int binding, MPI_Fint *request, MPI_Fint *flag, void *status,
                       MPI_Fint *ierr)
{
    MPI_Status c_status;
    int c_flag = 0;
    int err = MPI_Request_get_status(PMPI_Request_f2c(*request), &c_flag,
                                     mpiwf_status_in(binding, status, &c_status));

    if (err == MPI_SUCCESS) {
        *flag = mpiwf_logical(c_flag);
        if (c_flag)
            mpiwf_status_out(binding, status, &c_status);
    }
    mpiwf_ierr(ierr, err);
}

/* The entry points of each binding. */
#define MPIWF_REQUEST(suffix, binding)                                                    \
    void mpi_request_free_##suffix(MPI_Fint *request, MPI_Fint *ierr)                     \
    {                                                                                     \
        MPIWF_PASS(mpi_request_free_##suffix, request, ierr);                             \
        request_free(request, ierr);                                                      \
    }                                                                                     \
    void mpi_cancel_##suffix(MPI_Fint *request, MPI_Fint *ierr)                           \
    {                                                                                     \
        MPIWF_PASS(mpi_cancel_##suffix, request, ierr);                                   \
        cancel(request, ierr);                                                            \
    }                                                                                     \
    void mpi_request_get_status_##suffix(MPI_Fint *request, MPI_Fint *flag, void *status, \
                                         MPI_Fint *ierr)                                  \
    {                                                                                     \
        MPIWF_PASS(mpi_request_get_status_##suffix, request, flag, status, ierr);         \
        get_status(binding, request, flag, status, ierr);                                 \
    }

#if MPIWF_MPIF_ENABLED
MPIWF_REQUEST(, MPIWF_MPIF)
MPIWF_ALIAS(mpi_request_free_, ompi_request_free_f)
MPIWF_ALIAS(mpi_cancel_, ompi_cancel_f)
MPIWF_ALIAS(mpi_request_get_status_, ompi_request_get_status_f)
MPIWF_ALIAS(mpi_request_get_status_, pmpi_request_get_status_)
#endif
#if MPIWF_F08_ENABLED
MPIWF_REQUEST(f08_, MPIWF_F08)
#endif

#endif
