/* MPI_INIT, MPI_INIT_THREAD, MPI_FINALIZE from Fortran. */
#include "mpiwf.h"

#if MPIWF_MPIF_ENABLED

void mpi_init_(MPI_Fint *ierr)
{
    int argc = 0;
    char **argv = NULL;
    int err = MPI_Init(&argc, &argv);

    if (err == MPI_SUCCESS)
        mpiwf_init();
    mpiwf_ierr(ierr, err);
}
MPIWF_ALIAS(mpi_init_, ompi_init_f)

void mpi_init_thread_(MPI_Fint *required, MPI_Fint *provided, MPI_Fint *ierr)
{
    int argc = 0, c_provided = MPI_THREAD_SINGLE;
    char **argv = NULL;
    int err = MPI_Init_thread(&argc, &argv, (int) *required, &c_provided);

    if (err == MPI_SUCCESS) {
        mpiwf_init();
        *provided = (MPI_Fint) c_provided;
    }
    mpiwf_ierr(ierr, err);
}
MPIWF_ALIAS(mpi_init_thread_, ompi_init_thread_f)

void mpi_finalize_(MPI_Fint *ierr)
{
    mpiwf_ierr(ierr, MPI_Finalize());
}
MPIWF_ALIAS(mpi_finalize_, ompi_finalize_f)

#endif

#if MPIWF_F08_ENABLED

/* MPICH's own mpi_f08 start-up runs, then what MPI_Init runs after PMPI_Init. */
static void started(MPI_Fint *ierr, MPI_Fint err)
{
    int provided = MPI_THREAD_SINGLE;

    if (err == MPI_SUCCESS) {
        PMPI_Query_thread(&provided);
        mpiw_init(provided);
        mpiwf_init();
    }
    mpiwf_ierr(ierr, err);
}

void mpi_init_f08_(MPI_Fint *ierr)
{
    void (*next)(MPI_Fint *) = (void (*)(MPI_Fint *)) mpiwf_next("mpi_init_f08_");
    MPI_Fint err = MPI_ERR_OTHER;

    if (next)
        next(&err);
    else
        err = PMPI_Init(NULL, NULL);
    started(ierr, err);
}

void mpi_init_thread_f08_(MPI_Fint *required, MPI_Fint *provided, MPI_Fint *ierr)
{
    void (*next)(MPI_Fint *, MPI_Fint *, MPI_Fint *) =
        (void (*)(MPI_Fint *, MPI_Fint *, MPI_Fint *)) mpiwf_next("mpi_init_thread_f08_");
    MPI_Fint err = MPI_ERR_OTHER;
    int c_provided = MPI_THREAD_SINGLE;

    if (next) {
        next(required, provided, &err);
    } else {
        err = PMPI_Init_thread(NULL, NULL, (int) *required, &c_provided);
        *provided = (MPI_Fint) c_provided;
    }
    started(ierr, err);
}

void mpi_finalize_f08_(MPI_Fint *ierr)
{
    mpiwf_ierr(ierr, MPI_Finalize());
}

#endif
