/* MPI_Neighbor_alltoallw, MPI_Neighbor_alltoallv and their _c forms: packed blocks
 * where the method packs, else the MPI; with device buffers over an MPI that is not
 * CUDA-aware, through host mirrors of each side's span (mpiw_coll.c; the blocks of
 * MPI_PROC_NULL neighbours come back as they were). */
#include "mpiw_collcall.h"

int MPI_Neighbor_alltoallw(const void *sendbuf, const int sendcounts[], const MPI_Aint sdispls[],
                           const MPI_Datatype sendtypes[], void *recvbuf, const int recvcounts[],
                           const MPI_Aint rdispls[], const MPI_Datatype recvtypes[], MPI_Comm comm)
{
    mpiw_side s = { .buf = (char *) sendbuf, .counts = sendcounts, .displs_a = sdispls,
                    .types = sendtypes };
    mpiw_side r = { .buf = recvbuf, .counts = recvcounts, .displs_a = rdispls,
                    .types = recvtypes };
    int err, in, out;

    if (mpiw_coll_device(sendbuf, recvbuf) && mpiw_neighbor_degrees(comm, &in, &out))
        MPIW_SIDES_MIRRORED(PMPI_Neighbor_alltoallw(s.buf, sendcounts, sdispls, sendtypes, r.buf,
                                                    recvcounts, rdispls, recvtypes, comm),
                            s, out, r, in, comm);
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
    int err, in, out;

    if (mpiw_coll_device(sendbuf, recvbuf) && mpiw_neighbor_degrees(comm, &in, &out))
        MPIW_SIDES_MIRRORED(PMPI_Neighbor_alltoallv(s.buf, sendcounts, sdispls, sendtype, r.buf,
                                                    recvcounts, rdispls, recvtype, comm),
                            s, out, r, in, comm);
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
    int err, in, out;

    if (mpiw_coll_device(sendbuf, recvbuf) && mpiw_neighbor_degrees(comm, &in, &out))
        MPIW_SIDES_MIRRORED(PMPI_Neighbor_alltoallw_c(s.buf, sendcounts, sdispls, sendtypes, r.buf,
                                                      recvcounts, rdispls, recvtypes, comm),
                            s, out, r, in, comm);
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
    int err, in, out;

    if (mpiw_coll_device(sendbuf, recvbuf) && mpiw_neighbor_degrees(comm, &in, &out))
        MPIW_SIDES_MIRRORED(PMPI_Neighbor_alltoallv_c(s.buf, sendcounts, sdispls, sendtype, r.buf,
                                                      recvcounts, rdispls, recvtype, comm),
                            s, out, r, in, comm);
    if (mpiw_active() && mpiw_neighbor_alltoallv_try(&s, &r, comm, 1, &err))
        return err;
    return PMPI_Neighbor_alltoallv_c(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts,
                                     rdispls, recvtype, comm);
}
#endif
