/* MPI_Start and MPI_Startall: straight to the MPI unless a request is a persistent one
 * the interposer created, whose send bytes are packed before it starts. Checked even
 * while the interposer is switched off at run time: such a request exists already. */
#include "mpiw.h"

int MPI_Start(MPI_Request *request)
{
    if (request && mpiw_requests_any(request, 1))
        return mpiw_requests_start(1, request);
    return PMPI_Start(request);
}

int MPI_Startall(int count, MPI_Request array_of_requests[])
{
    if (count > 0 && mpiw_requests_any(array_of_requests, count))
        return mpiw_requests_start(count, array_of_requests);
    return PMPI_Startall(count, array_of_requests);
}
