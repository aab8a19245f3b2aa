/* MPI_Wait, MPI_Waitall, MPI_Waitany, MPI_Waitsome: straight to the MPI unless the
 * batch holds a request the interposer created. */
#include "mpiw.h"

int MPI_Wait(MPI_Request *request, MPI_Status *status)
{
    if (mpiw_requests_any(request, 1))
        return mpiw_wait(request, status);
    return PMPI_Wait(request, status);
}

int MPI_Waitall(int count, MPI_Request array_of_requests[], MPI_Status array_of_statuses[])
{
    if (mpiw_requests_any(array_of_requests, count))
        return mpiw_waitall(count, array_of_requests, array_of_statuses);
    return PMPI_Waitall(count, array_of_requests, array_of_statuses);
}

int MPI_Waitany(int count, MPI_Request array_of_requests[], int *indx, MPI_Status *status)
{
    if (mpiw_requests_any(array_of_requests, count))
        return mpiw_waitany(count, array_of_requests, indx, status);
    return PMPI_Waitany(count, array_of_requests, indx, status);
}

int MPI_Waitsome(int incount, MPI_Request array_of_requests[], int *outcount,
                 int array_of_indices[], MPI_Status array_of_statuses[])
{
    if (mpiw_requests_any(array_of_requests, incount))
        return mpiw_waitsome(incount, array_of_requests, outcount, array_of_indices,
                             array_of_statuses);
    return PMPI_Waitsome(incount, array_of_requests, outcount, array_of_indices,
                         array_of_statuses);
}
