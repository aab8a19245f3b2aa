/* MPI_Request_free, MPI_Request_get_status and MPI_Cancel on requests the interposer
 * created. A cancelled packed request completes through the completion calls, which
 * see the cancellation in its status and unpack nothing; a pipelined receive cancels
 * its chunks first (its mpiw_driver's cancel). */
#include "mpiw.h"

int MPI_Request_free(MPI_Request *request)
{
    if (request && mpiw_requests_any(request, 1) && mpiw_requests_detach(request))
        return MPI_SUCCESS;
    return PMPI_Request_free(request);
}

int MPI_Request_get_status(MPI_Request request, int *flag, MPI_Status *status)
{
    if (mpiw_requests_any(&request, 1)) {
        mpiw_requests_advance(request, 0);
        return mpiw_request_get_status(request, flag, status);
    }
    return PMPI_Request_get_status(request, flag, status);
}

int MPI_Cancel(MPI_Request *request)
{
    if (request && mpiw_requests_any(request, 1))
        mpiw_requests_advance(*request, 1);
    return PMPI_Cancel(request);
}
