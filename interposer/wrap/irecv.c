/* MPI_Irecv and MPI_Irecv_c: the method chosen for the type, else the MPI. */
#include "mpiw.h"

int MPI_Irecv(void *buf, int count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
              MPI_Request *request)
{
    int err;

    if (mpiw_active() && mpiw_irecv_try(buf, count, datatype, source, tag, comm, request, &err))
        return err;
    return PMPI_Irecv(buf, count, datatype, source, tag, comm, request);
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Irecv_c(void *buf, MPI_Count count, MPI_Datatype datatype, int source, int tag,
                MPI_Comm comm, MPI_Request *request)
{
    int err;

    if (mpiw_active() && mpiw_irecv_try(buf, count, datatype, source, tag, comm, request, &err))
        return err;
    return PMPI_Irecv_c(buf, count, datatype, source, tag, comm, request);
}
#endif
