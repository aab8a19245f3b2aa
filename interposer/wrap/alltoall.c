/* MPI_Alltoall, MPI_Alltoallv, MPI_Alltoallw and their _c forms: packed sides where
 * the method packs, else the MPI; with device buffers over an MPI that is not CUDA-aware
 * (here and in their nonblocking forms), through host mirrors of each side's span
 * (mpiw_coll.c). */
#include "mpiw_collcall.h"

int mpiw_cd_alltoall(const void *s, int64_t sn, MPI_Datatype st, void *r, int64_t rn,
                     MPI_Datatype rt, MPI_Comm comm, int large, MPI_Request *req)
{
    int n = mpiw_coll_peers(comm);
    mpiw_side s_ = { .buf = (char *) s, .count = sn, .type = st },
              r_ = { .buf = r, .count = rn, .type = rt };

    MPIW_ON_MIRRORS(s_, n, r_, n, comm, req,
                    MPIW_ICOLL(large, req, Alltoall, Ialltoall, s_.buf, sn, st, r_.buf, rn, rt,
                               comm));
}

int mpiw_cd_alltoallv(const void *s, const void *sns, const void *sds, MPI_Datatype st, void *r,
                      const void *rns, const void *rds, MPI_Datatype rt, MPI_Comm comm,
                      int large, MPI_Request *req)
{
    int n = mpiw_coll_peers(comm);
    mpiw_side s_ = mpiw_coll_side(s, sns, sds, 0, st, NULL, large),
              r_ = mpiw_coll_side(r, rns, rds, 0, rt, NULL, large);

    MPIW_ON_MIRRORS(s_, n, r_, n, comm, req,
                    MPIW_ICOLL(large, req, Alltoallv, Ialltoallv, s_.buf, sns, sds, st, r_.buf,
                               rns, rds, rt, comm));
}

int mpiw_cd_alltoallw(const void *s, const void *sns, const void *sds, const MPI_Datatype *sts,
                      void *r, const void *rns, const void *rds, const MPI_Datatype *rts,
                      MPI_Comm comm, int large, MPI_Request *req)
{
    int n = mpiw_coll_peers(comm);
    mpiw_side s_ = mpiw_coll_side(s, sns, sds, 0, MPI_DATATYPE_NULL, sts, large),
              r_ = mpiw_coll_side(r, rns, rds, 0, MPI_DATATYPE_NULL, rts, large);

    MPIW_ON_MIRRORS(s_, n, r_, n, comm, req,
                    MPIW_ICOLL(large, req, Alltoallw, Ialltoallw, s_.buf, sns, sds, sts, r_.buf,
                               rns, rds, rts, comm));
}

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
