/* MPI_Test, MPI_Testall, MPI_Testany, MPI_Testsome: straight to the MPI unless the
 * batch holds a request the interposer created. */
#include "mpiw.h"

int MPI_Test(MPI_Request *request, int *flag, MPI_Status *status)
{
    if (mpiw_requests_any(request, 1))
        return mpiw_test(request, flag, status);
    return PMPI_Test(request, flag, status);
}

int MPI_Testall(int count, MPI_Request array_of_requests[], int *flag,
                MPI_Status array_of_statuses[])
{
    if (mpiw_requests_any(array_of_requests, count))
        return mpiw_testall(count, array_of_requests, flag, array_of_statuses);
    return PMPI_Testall(count, array_of_requests, flag, array_of_statuses);
}

int MPI_Testany(int count, MPI_Request array_of_requests[], int *indx, int *flag,
                MPI_Status *status)
{
    if (mpiw_requests_any(array_of_requests, count))
        return mpiw_testany(count, array_of_requests, indx, flag, status);
    return PMPI_Testany(count, array_of_requests, indx, flag, status);
}

int MPI_Testsome(int incount, MPI_Request array_of_requests[], int *outcount,
                 int array_of_indices[], MPI_Status array_of_statuses[])
{
    if (mpiw_requests_any(array_of_requests, incount))
        return mpiw_testsome(incount, array_of_requests, outcount, array_of_indices,
                             array_of_statuses);
    return PMPI_Testsome(incount, array_of_requests, outcount, array_of_indices,
                         array_of_statuses);
}
