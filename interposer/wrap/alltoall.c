/* MPI_Alltoall, MPI_Alltoallv, MPI_Alltoallw and their _c forms: packed sides where
 * the method packs, else the MPI; with device buffers over an MPI that is not CUDA-aware,
 * through host mirrors (internal/mpiw_coll_alltoall.c). */
#include "mpiw_coll_entry.h"

int MPI_Alltoall(const void *sendbuf, int sendcount, MPI_Datatype sendtype, void *recvbuf,
                 int recvcount, MPI_Datatype recvtype, MPI_Comm comm)
{
    mpiw_side s = { .buf = (char *) sendbuf, .count = sendcount, .type = sendtype };
    mpiw_side r = { .buf = recvbuf, .count = recvcount, .type = recvtype };
    int err;

    if (mpiw_coll_device(sendbuf, recvbuf))
        return mpiw_cd_alltoall(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype,
                                comm, 0, NULL);
    if (mpiw_active() && mpiw_alltoall_try(&s, &r, comm, MPIW_ALLTOALL, 0, &err))
        return err;
    return PMPI_Alltoall(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
}

int MPI_Alltoallv(const void *sendbuf, const int sendcounts[], const int sdispls[],
                  MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
                  const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm)
{
    mpiw_side s = { .buf = (char *) sendbuf, .counts = sendcounts, .displs = sdispls,
                    .type = sendtype };
    mpiw_side r = { .buf = recvbuf, .counts = recvcounts, .displs = rdispls, .type = recvtype };
    int err;

    if (mpiw_coll_device(sendbuf, recvbuf))
        return mpiw_cd_alltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts,
                                 rdispls, recvtype, comm, 0, NULL);
    if (mpiw_active() && mpiw_alltoall_try(&s, &r, comm, MPIW_ALLTOALLV, 0, &err))
        return err;
    return PMPI_Alltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts, rdispls,
                          recvtype, comm);
}

int MPI_Alltoallw(const void *sendbuf, const int sendcounts[], const int sdispls[],
                  const MPI_Datatype sendtypes[], void *recvbuf, const int recvcounts[],
                  const int rdispls[], const MPI_Datatype recvtypes[], MPI_Comm comm)
{
    mpiw_side s = { .buf = (char *) sendbuf, .counts = sendcounts, .displs = sdispls,
                    .types = sendtypes };
    mpiw_side r = { .buf = recvbuf, .counts = recvcounts, .displs = rdispls, .types = recvtypes };
    int err;

    if (mpiw_coll_device(sendbuf, recvbuf))
        return mpiw_cd_alltoallw(sendbuf, sendcounts, sdispls, sendtypes, recvbuf, recvcounts,
                                 rdispls, recvtypes, comm, 0, NULL);
    if (mpiw_active() && mpiw_alltoall_try(&s, &r, comm, MPIW_ALLTOALLW, 0, &err))
        return err;
    return PMPI_Alltoallw(sendbuf, sendcounts, sdispls, sendtypes, recvbuf, recvcounts, rdispls,
                          recvtypes, comm);
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Alltoall_c(const void *sendbuf, MPI_Count sendcount, MPI_Datatype sendtype,
                   void *recvbuf, MPI_Count recvcount, MPI_Datatype recvtype, MPI_Comm comm)
{
    mpiw_side s = { .buf = (char *) sendbuf, .count = sendcount, .type = sendtype };
    mpiw_side r = { .buf = recvbuf, .count = recvcount, .type = recvtype };
    int err;

    if (mpiw_coll_device(sendbuf, recvbuf))
        return mpiw_cd_alltoall(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype,
                                comm, 1, NULL);
    if (mpiw_active() && mpiw_alltoall_try(&s, &r, comm, MPIW_ALLTOALL, 1, &err))
        return err;
    return PMPI_Alltoall_c(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
}

int MPI_Alltoallv_c(const void *sendbuf, const MPI_Count sendcounts[], const MPI_Aint sdispls[],
                    MPI_Datatype sendtype, void *recvbuf, const MPI_Count recvcounts[],
                    const MPI_Aint rdispls[], MPI_Datatype recvtype, MPI_Comm comm)
{
    mpiw_side s = { .buf = (char *) sendbuf, .counts_c = sendcounts, .displs_a = sdispls,
                    .type = sendtype };
    mpiw_side r = { .buf = recvbuf, .counts_c = recvcounts, .displs_a = rdispls,
                    .type = recvtype };
    int err;

    if (mpiw_coll_device(sendbuf, recvbuf))
        return mpiw_cd_alltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts,
                                 rdispls, recvtype, comm, 1, NULL);
    if (mpiw_active() && mpiw_alltoall_try(&s, &r, comm, MPIW_ALLTOALLV, 1, &err))
        return err;
    return PMPI_Alltoallv_c(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts,
                            rdispls, recvtype, comm);
}

int MPI_Alltoallw_c(const void *sendbuf, const MPI_Count sendcounts[], const MPI_Aint sdispls[],
                    const MPI_Datatype sendtypes[], void *recvbuf, const MPI_Count recvcounts[],
                    const MPI_Aint rdispls[], const MPI_Datatype recvtypes[], MPI_Comm comm)
{
    mpiw_side s = { .buf = (char *) sendbuf, .counts_c = sendcounts, .displs_a = sdispls,
                    .types = sendtypes };
    mpiw_side r = { .buf = recvbuf, .counts_c = recvcounts, .displs_a = rdispls,
                    .types = recvtypes };
    int err;

    if (mpiw_coll_device(sendbuf, recvbuf))
        return mpiw_cd_alltoallw(sendbuf, sendcounts, sdispls, sendtypes, recvbuf, recvcounts,
                                 rdispls, recvtypes, comm, 1, NULL);
    if (mpiw_active() && mpiw_alltoall_try(&s, &r, comm, MPIW_ALLTOALLW, 1, &err))
        return err;
    return PMPI_Alltoallw_c(sendbuf, sendcounts, sdispls, sendtypes, recvbuf, recvcounts,
                            rdispls, recvtypes, comm);
}
#endif
