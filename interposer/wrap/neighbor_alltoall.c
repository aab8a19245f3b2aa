/* MPI_Neighbor_alltoallw, MPI_Neighbor_alltoallv and their _c forms: packed blocks
 * where the method packs, else the MPI. With device buffers over an MPI that is not
 * CUDA-aware, these, their nonblocking forms and the other neighbourhood collectives
 * (allgather, allgatherv, alltoall) go through host mirrors of each side's span
 * (mpiw_coll.c; the blocks of MPI_PROC_NULL neighbours come back as they were). */
#include "mpiw_collcall.h"

/* A process's neighbours: in sources, out destinations (none when comm has no topology:
 * the MPI reports that). */
static void degrees(MPI_Comm comm, int *in, int *out)
{
    if (!mpiw_neighbor_degrees(comm, in, out))
        *in = *out = 0;
}

int mpiw_cd_neighbor_allgather(const void *s, int64_t sn, MPI_Datatype st, void *r, int64_t rn,
                               MPI_Datatype rt, MPI_Comm comm, int large, MPI_Request *req)
{
    mpiw_side s_ = { .buf = (char *) s, .count = sn, .type = st },
              r_ = { .buf = r, .count = rn, .type = rt };
    int in, out;

    degrees(comm, &in, &out);
    MPIW_ON_MIRRORS(s_, out > 0, r_, in, comm, req,
                    MPIW_ICOLL(large, req, Neighbor_allgather, Ineighbor_allgather, s_.buf, sn, st,
                               r_.buf, rn, rt, comm));
}

int mpiw_cd_neighbor_allgatherv(const void *s, int64_t sn, MPI_Datatype st, void *r,
                                const void *rns, const void *rds, MPI_Datatype rt, MPI_Comm comm,
                                int large, MPI_Request *req)
{
    mpiw_side s_ = { .buf = (char *) s, .count = sn, .type = st },
              r_ = mpiw_coll_side(r, rns, rds, 0, rt, NULL, large);
    int in, out;

    degrees(comm, &in, &out);
    MPIW_ON_MIRRORS(s_, out > 0, r_, in, comm, req,
                    MPIW_ICOLL(large, req, Neighbor_allgatherv, Ineighbor_allgatherv, s_.buf, sn,
                               st, r_.buf, rns, rds, rt, comm));
}

int mpiw_cd_neighbor_alltoall(const void *s, int64_t sn, MPI_Datatype st, void *r, int64_t rn,
                              MPI_Datatype rt, MPI_Comm comm, int large, MPI_Request *req)
{
    mpiw_side s_ = { .buf = (char *) s, .count = sn, .type = st },
              r_ = { .buf = r, .count = rn, .type = rt };
    int in, out;

    degrees(comm, &in, &out);
    MPIW_ON_MIRRORS(s_, out, r_, in, comm, req,
                    MPIW_ICOLL(large, req, Neighbor_alltoall, Ineighbor_alltoall, s_.buf, sn, st,
                               r_.buf, rn, rt, comm));
}

int mpiw_cd_neighbor_alltoallv(const void *s, const void *sns, const void *sds, MPI_Datatype st,
                               void *r, const void *rns, const void *rds, MPI_Datatype rt,
                               MPI_Comm comm, int large, MPI_Request *req)
{
    mpiw_side s_ = mpiw_coll_side(s, sns, sds, 0, st, NULL, large),
              r_ = mpiw_coll_side(r, rns, rds, 0, rt, NULL, large);
    int in, out;

    degrees(comm, &in, &out);
    MPIW_ON_MIRRORS(s_, out, r_, in, comm, req,
                    MPIW_ICOLL(large, req, Neighbor_alltoallv, Ineighbor_alltoallv, s_.buf, sns,
                               sds, st, r_.buf, rns, rds, rt, comm));
}

int mpiw_cd_neighbor_alltoallw(const void *s, const void *sns, const void *sds,
                               const MPI_Datatype *sts, void *r, const void *rns, const void *rds,
                               const MPI_Datatype *rts, MPI_Comm comm, int large,
                               MPI_Request *req)
{
    mpiw_side s_ = mpiw_coll_side(s, sns, sds, 1, MPI_DATATYPE_NULL, sts, large),
              r_ = mpiw_coll_side(r, rns, rds, 1, MPI_DATATYPE_NULL, rts, large);
    int in, out;

    degrees(comm, &in, &out);
    MPIW_ON_MIRRORS(s_, out, r_, in, comm, req,
                    MPIW_ICOLL(large, req, Neighbor_alltoallw, Ineighbor_alltoallw, s_.buf, sns,
                               sds, sts, r_.buf, rns, rds, rts, comm));
}

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
