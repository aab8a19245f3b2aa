/* MPI_COMM_SET_INFO and MPI_COMM_DUP_WITH_INFO from Fortran: the MPI-4 assertions that
 * let the pipelined method serve a communicator. */
#include "mpiwf.h"

#if MPIWF_ENABLED

static void comm_set_info(MPI_Fint *comm, MPI_Fint *info, MPI_Fint *ierr)
{
    mpiwf_ierr(ierr, MPI_Comm_set_info(PMPI_Comm_f2c(*comm), PMPI_Info_f2c(*info)));
}

static void comm_dup_with_info(MPI_Fint *comm, MPI_Fint *info, MPI_Fint *newcomm,
                               MPI_Fint *ierr)
{
    MPI_Comm c_new;
    int err = MPI_Comm_dup_with_info(PMPI_Comm_f2c(*comm), PMPI_Info_f2c(*info), &c_new);

    if (err == MPI_SUCCESS)
        *newcomm = PMPI_Comm_c2f(c_new);
    mpiwf_ierr(ierr, err);
}

/* The entry points of each binding. */
#define MPIWF_COMM_INFO(suffix)                                                             \
    void mpi_comm_set_info_##suffix(MPI_Fint *comm, MPI_Fint *info, MPI_Fint *ierr)         \
    {                                                                                       \
        MPIWF_PASS(mpi_comm_set_info_##suffix, comm, info, ierr);                           \
        comm_set_info(comm, info, ierr);                                                    \
    }                                                                                       \
    void mpi_comm_dup_with_info_##suffix(MPI_Fint *comm, MPI_Fint *info, MPI_Fint *newcomm, \
                                         MPI_Fint *ierr)                                    \
    {                                                                                       \
        MPIWF_PASS(mpi_comm_dup_with_info_##suffix, comm, info, newcomm, ierr);             \
        comm_dup_with_info(comm, info, newcomm, ierr);                                      \
    }

#if MPIWF_MPIF_ENABLED
MPIWF_COMM_INFO()
MPIWF_ALIAS(mpi_comm_set_info_, ompi_comm_set_info_f)
MPIWF_ALIAS(mpi_comm_dup_with_info_, ompi_comm_dup_with_info_f)
#endif
#if MPIWF_F08_ENABLED
MPIWF_COMM_INFO(f08_)
#endif

#endif
