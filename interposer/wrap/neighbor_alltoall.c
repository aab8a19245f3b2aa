/* MPI_Neighbor_alltoallw, MPI_Neighbor_alltoallv and their _c forms: packed blocks
 * where the method packs, else the MPI; with device buffers over an MPI that is not
 * CUDA-aware, through host mirrors (internal/mpiw_coll_alltoall.c). */
#include "mpiw_coll_entry.h"

int MPI_Neighbor_alltoallw(const void *sendbuf, const int sendcounts[], const MPI_Aint sdispls[],
                           const MPI_Datatype sendtypes[], void *recvbuf, const int recvcounts[],
                           const MPI_Aint rdispls[], const MPI_Datatype recvtypes[], MPI_Comm comm)
{
    mpiw_side s = { .buf = (char *) sendbuf, .counts = sendcounts, .displs_a = sdispls,
                    .types = sendtypes };
    mpiw_side r = { .buf = recvbuf, .counts = recvcounts, .displs_a = rdispls,
                    .types = recvtypes };
    int err;

    if (mpiw_coll_device(sendbuf, recvbuf))
        return mpiw_cd_neighbor_alltoallw(sendbuf, sendcounts, sdispls, sendtypes, recvbuf,
                                          recvcounts, rdispls, recvtypes, comm, 0, NULL);
    if (mpiw_active() && mpiw_neighbor_alltoallw_try(&s, &r, comm, 0, &err))
        return err;
    return PMPI_Neighbor_alltoallw(sendbuf, sendcounts, sdispls, sendtypes, recvbuf, recvcounts,
                                   rdispls, recvtypes, comm);
}

int MPI_Neighbor_alltoallv(const void *sendbuf, const int sendcounts[], const int sdispls[],
                           MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
                           const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm)
{
    mpiw_side s = { .buf = (char *) sendbuf, .counts = sendcounts, .displs = sdispls,
                    .type = sendtype };
    mpiw_side r = { .buf = recvbuf, .counts = recvcounts, .displs = rdispls, .type = recvtype };
    int err;

    if (mpiw_coll_device(sendbuf, recvbuf))
        return mpiw_cd_neighbor_alltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf,
                                          recvcounts, rdispls, recvtype, comm, 0, NULL);
    if (mpiw_active() && mpiw_neighbor_alltoallv_try(&s, &r, comm, 0, &err))
        return err;
    return PMPI_Neighbor_alltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts,
                                   rdispls, recvtype, comm);
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Neighbor_alltoallw_c(const void *sendbuf, const MPI_Count sendcounts[],
                             const MPI_Aint sdispls[], const MPI_Datatype sendtypes[],
                             void *recvbuf, const MPI_Count recvcounts[], const MPI_Aint rdispls[],
                             const MPI_Datatype recvtypes[], MPI_Comm comm)
{
    mpiw_side s = { .buf = (char *) sendbuf, .counts_c = sendcounts, .displs_a = sdispls,
                    .types = sendtypes };
    mpiw_side r = { .buf = recvbuf, .counts_c = recvcounts, .displs_a = rdispls,
                    .types = recvtypes };
    int err;

    if (mpiw_coll_device(sendbuf, recvbuf))
        return mpiw_cd_neighbor_alltoallw(sendbuf, sendcounts, sdispls, sendtypes, recvbuf,
                                          recvcounts, rdispls, recvtypes, comm, 1, NULL);
    if (mpiw_active() && mpiw_neighbor_alltoallw_try(&s, &r, comm, 1, &err))
        return err;
    return PMPI_Neighbor_alltoallw_c(sendbuf, sendcounts, sdispls, sendtypes, recvbuf, recvcounts,
                                     rdispls, recvtypes, comm);
}

int MPI_Neighbor_alltoallv_c(const void *sendbuf, const MPI_Count sendcounts[],
                             const MPI_Aint sdispls[], MPI_Datatype sendtype, void *recvbuf,
                             const MPI_Count recvcounts[], const MPI_Aint rdispls[],
                             MPI_Datatype recvtype, MPI_Comm comm)
{
    mpiw_side s = { .buf = (char *) sendbuf, .counts_c = sendcounts, .displs_a = sdispls,
                    .type = sendtype };
    mpiw_side r = { .buf = recvbuf, .counts_c = recvcounts, .displs_a = rdispls,
                    .type = recvtype };
    int err;

    if (mpiw_coll_device(sendbuf, recvbuf))
        return mpiw_cd_neighbor_alltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf,
                                          recvcounts, rdispls, recvtype, comm, 1, NULL);
    if (mpiw_active() && mpiw_neighbor_alltoallv_try(&s, &r, comm, 1, &err))
        return err;
    return PMPI_Neighbor_alltoallv_c(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts,
                                     rdispls, recvtype, comm);
}
#endif
