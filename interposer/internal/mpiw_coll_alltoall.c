/* The all-to-alls and the neighbourhood collectives (MPI_Alltoall, MPI_Alltoallv,
 * MPI_Alltoallw, MPI_Neighbor_allgather(v), MPI_Neighbor_alltoall(v|w); blocking,
 * nonblocking, _c) with device buffers over an MPI that is not CUDA-aware: through host
 * mirrors of each side's span (mpiw_coll.c; the blocks of MPI_PROC_NULL neighbours come
 * back as they were). */
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
