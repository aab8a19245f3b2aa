/* MPI_Isend and MPI_Isend_c: the method chosen for the type, else the MPI. */
#include "mpiw.h"

int MPI_Isend(const void *buf, int count, MPI_Datatype datatype, int dest, int tag,
              MPI_Comm comm, MPI_Request *request)
{
    int err;

    if (mpiw_active() && mpiw_isend_try(buf, count, datatype, dest, tag, comm, request, &err))
        return err;
    return PMPI_Isend(buf, count, datatype, dest, tag, comm, request);
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Isend_c(const void *buf, MPI_Count count, MPI_Datatype datatype, int dest, int tag,
                MPI_Comm comm, MPI_Request *request)
{
    int err;

    if (mpiw_active() && mpiw_isend_try(buf, count, datatype, dest, tag, comm, request, &err))
        return err;
    return PMPI_Isend_c(buf, count, datatype, dest, tag, comm, request);
}
#endif
