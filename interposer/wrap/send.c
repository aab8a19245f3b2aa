/* MPI_Send and MPI_Send_c: the method chosen for the type, else the MPI. */
#include "mpiw.h"

int MPI_Send(const void *buf, int count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm)
{
    int err;

    if (mpiw_active() && mpiw_send_try(buf, count, datatype, dest, tag, comm, &err))
        return err;
    return PMPI_Send(buf, count, datatype, dest, tag, comm);
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Send_c(const void *buf, MPI_Count count, MPI_Datatype datatype, int dest, int tag,
               MPI_Comm comm)
{
    int err;

    if (mpiw_active() && mpiw_send_try(buf, count, datatype, dest, tag, comm, &err))
        return err;
    return PMPI_Send_c(buf, count, datatype, dest, tag, comm);
}
#endif
