/* MPI_Recv and MPI_Recv_c: the method chosen for the type, else the MPI. */
#include "mpiw.h"

int MPI_Recv(void *buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
             MPI_Status *status)
{
    int err;

    if (mpiw_active() && mpiw_recv_try(buf, count, datatype, source, tag, comm, status, &err))
        return err;
    return PMPI_Recv(buf, count, datatype, source, tag, comm, status);
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Recv_c(void *buf, MPI_Count count, MPI_Datatype datatype, int source, int tag,
               MPI_Comm comm, MPI_Status *status)
{
    int err;

    if (mpiw_active() && mpiw_recv_try(buf, count, datatype, source, tag, comm, status, &err))
        return err;
    return PMPI_Recv_c(buf, count, datatype, source, tag, comm, status);
}
#endif
