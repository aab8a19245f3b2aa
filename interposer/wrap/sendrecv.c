/* MPI_Sendrecv and MPI_Sendrecv_replace (and their _c forms): the method chosen for each
 * side, else the MPI. */
#include "mpiw.h"

int MPI_Sendrecv(const void *sendbuf, int sendcount, MPI_Datatype sendtype, int dest,
                 int sendtag, void *recvbuf, int recvcount, MPI_Datatype recvtype, int source,
                 int recvtag, MPI_Comm comm, MPI_Status *status)
{
    int err;

    if (mpiw_active() &&
        mpiw_sendrecv_try(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount,
                          recvtype, source, recvtag, comm, status, &err))
        return err;
    return PMPI_Sendrecv(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount,
                         recvtype, source, recvtag, comm, status);
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Sendrecv_c(const void *sendbuf, MPI_Count sendcount, MPI_Datatype sendtype, int dest,
                   int sendtag, void *recvbuf, MPI_Count recvcount, MPI_Datatype recvtype,
                   int source, int recvtag, MPI_Comm comm, MPI_Status *status)
{
    int err;

    if (mpiw_active() &&
        mpiw_sendrecv_try(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount,
                          recvtype, source, recvtag, comm, status, &err))
        return err;
    return PMPI_Sendrecv_c(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount,
                           recvtype, source, recvtag, comm, status);
}
#endif

/* MPI_Sendrecv_replace and MPI_Sendrecv_replace_c: packed both ways, else the MPI. */
int MPI_Sendrecv_replace(void *buf, int count, MPI_Datatype datatype, int dest, int sendtag,
                         int source, int recvtag, MPI_Comm comm, MPI_Status *status)
{
    int err;

    if (mpiw_active() && mpiw_sendrecv_replace_try(buf, count, datatype, dest, sendtag, source,
                                                   recvtag, comm, status, &err))
        return err;
    return PMPI_Sendrecv_replace(buf, count, datatype, dest, sendtag, source, recvtag, comm,
                                 status);
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Sendrecv_replace_c(void *buf, MPI_Count count, MPI_Datatype datatype, int dest,
                           int sendtag, int source, int recvtag, MPI_Comm comm,
                           MPI_Status *status)
{
    int err;

    if (mpiw_active() && mpiw_sendrecv_replace_try(buf, count, datatype, dest, sendtag, source,
                                                   recvtag, comm, status, &err))
        return err;
    return PMPI_Sendrecv_replace_c(buf, count, datatype, dest, sendtag, source, recvtag, comm,
                                   status);
}
#endif
