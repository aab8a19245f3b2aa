/* MPI_START and MPI_STARTALL from Fortran: a persistent request the interposer created
 * must have its send bytes packed before it starts, whichever binding starts it (MPICH's
 * mpi_f08 module calls PMPI_Start itself). */
#include "mpiwf.h"

#if MPIWF_ENABLED

static void start(MPI_Fint *request, MPI_Fint *ierr)
{
    MPI_Request c_req = PMPI_Request_f2c(*request);

    mpiwf_ierr(ierr, MPI_Start(&c_req));
}

static void startall(int binding, MPI_Fint *count, MPI_Fint *requests, MPI_Fint *ierr)
{
    mpiwf_batch b;
    int err = mpiwf_batch_in(&b, binding, (int) *count, requests, NULL);

    if (err == MPI_SUCCESS) {
        err = MPI_Startall(b.n, b.reqs);
        mpiwf_batch_free(&b);
    }
    mpiwf_ierr(ierr, err);
}

/* The entry points of each binding. */
#define MPIWF_START(suffix, binding)                                                      \
    void mpi_start_##suffix(MPI_Fint *request, MPI_Fint *ierr)                            \
    {                                                                                     \
        MPIWF_PASS(mpi_start_##suffix, request, ierr);                                    \
        start(request, ierr);                                                             \
    }                                                                                     \
    void mpi_startall_##suffix(MPI_Fint *count, MPI_Fint *requests, MPI_Fint *ierr)       \
    {                                                                                     \
        MPIWF_PASS(mpi_startall_##suffix, count, requests, ierr);                         \
        startall(binding, count, requests, ierr);                                         \
    }

#if MPIWF_MPIF_ENABLED
MPIWF_START(, MPIWF_MPIF)
MPIWF_ALIAS(mpi_start_, ompi_start_f)
MPIWF_ALIAS(mpi_startall_, ompi_startall_f)
#endif
#if MPIWF_F08_ENABLED
MPIWF_START(f08_, MPIWF_F08)
#endif

#endif
