/* MPI_NEIGHBOR_ALLTOALLV and MPI_NEIGHBOR_ALLTOALLW from Fortran. */
#include <stdlib.h>
#include "mpiwf.h"

#if MPIWF_MPIF_ENABLED

void mpi_neighbor_alltoallv_(void *sendbuf, MPI_Fint *sendcounts, MPI_Fint *sdispls,
                             MPI_Fint *sendtype, void *recvbuf, MPI_Fint *recvcounts,
                             MPI_Fint *rdispls, MPI_Fint *recvtype, MPI_Fint *comm,
                             MPI_Fint *ierr)
{
    MPIWF_PASS(mpi_neighbor_alltoallv_, sendbuf, sendcounts, sdispls, sendtype, recvbuf,
               recvcounts, rdispls, recvtype, comm, ierr);
    mpiwf_ierr(ierr, MPI_Neighbor_alltoallv(mpiwf_buf(sendbuf), sendcounts, sdispls,
                                            PMPI_Type_f2c(*sendtype), mpiwf_buf(recvbuf),
                                            recvcounts, rdispls, PMPI_Type_f2c(*recvtype),
                                            PMPI_Comm_f2c(*comm)));
}
MPIWF_ALIAS(mpi_neighbor_alltoallv_, ompi_neighbor_alltoallv_f)

/* One C type per neighbour, as many as the topology has. */
void mpi_neighbor_alltoallw_(void *sendbuf, MPI_Fint *sendcounts, MPI_Aint *sdispls,
                             MPI_Fint *sendtypes, void *recvbuf, MPI_Fint *recvcounts,
                             MPI_Aint *rdispls, MPI_Fint *recvtypes, MPI_Fint *comm,
                             MPI_Fint *ierr)
{
    MPI_Comm c_comm = PMPI_Comm_f2c(*comm);
    MPI_Datatype *c_types = NULL;
    int nin = 0, nout = 0, err;

    MPIWF_PASS(mpi_neighbor_alltoallw_, sendbuf, sendcounts, sdispls, sendtypes, recvbuf,
               recvcounts, rdispls, recvtypes, comm, ierr);
    if (mpiw_neighbor_degrees(c_comm, &nin, &nout)) {
        c_types = malloc((size_t) (nin + nout + 1) * sizeof *c_types);
        if (!c_types) {
            mpiwf_ierr(ierr, MPI_ERR_NO_MEM);
            return;
        }
        for (int i = 0; i < nout; i++)
            c_types[i] = PMPI_Type_f2c(sendtypes[i]);
        for (int i = 0; i < nin; i++)
            c_types[nout + i] = PMPI_Type_f2c(recvtypes[i]);
    }
    err = MPI_Neighbor_alltoallw(mpiwf_buf(sendbuf), sendcounts, sdispls, c_types,
                                 mpiwf_buf(recvbuf), recvcounts, rdispls,
                                 c_types ? c_types + nout : NULL, c_comm);
    free(c_types);
    mpiwf_ierr(ierr, err);
}
MPIWF_ALIAS(mpi_neighbor_alltoallw_, ompi_neighbor_alltoallw_f)

#endif
