/* MPI_Request_free and MPI_Request_get_status on requests the interposer created.
 * (MPI_Cancel needs no wrapper: a cancelled request still completes through the
 * calls above, which see the cancellation in its status and unpack nothing.) */
#include "mpiw.h"

int MPI_Request_free(MPI_Request *request)
{
    if (request && mpiw_requests_any(request, 1) && mpiw_requests_detach(request))
        return MPI_SUCCESS;
    return PMPI_Request_free(request);
}

int MPI_Request_get_status(MPI_Request request, int *flag, MPI_Status *status)
{
    if (mpiw_requests_any(&request, 1))
        return mpiw_request_get_status(request, flag, status);
    return PMPI_Request_get_status(request, flag, status);
}
