/* The gathers and scatters (MPI_Gather, MPI_Gatherv, MPI_Allgather, MPI_Allgatherv,
 * MPI_Scatter, MPI_Scatterv; their nonblocking and _c forms) with device buffers over an
 * MPI that is not CUDA-aware: through host mirrors (mpiw_coll.c). The root's side of all
 * peers' blocks is mirrored at the root only (elsewhere the MPI does not look at it). */
#include "mpiw_collcall.h"

int mpiw_cd_gather(const void *s, int64_t sn, MPI_Datatype st, void *r, int64_t rn,
                   MPI_Datatype rt, int root, MPI_Comm comm, int large, MPI_Request *req)
{
    mpiw_side s_ = { .buf = (char *) s, .count = sn, .type = st },
              r_ = { .buf = r, .count = rn, .type = rt };

    MPIW_ON_MIRRORS(s_, 1, r_, mpiw_coll_root(comm, root) ? mpiw_coll_peers(comm) : 0, comm, req,
                    MPIW_ICOLL(large, req, Gather, Igather, s_.buf, sn, st, r_.buf, rn, rt, root,
                               comm));
}

int mpiw_cd_gatherv(const void *s, int64_t sn, MPI_Datatype st, void *r, const void *rns,
                    const void *rds, MPI_Datatype rt, int root, MPI_Comm comm, int large,
                    MPI_Request *req)
{
    mpiw_side s_ = { .buf = (char *) s, .count = sn, .type = st },
              r_ = mpiw_coll_side(r, rns, rds, 0, rt, NULL, large);

    MPIW_ON_MIRRORS(s_, 1, r_, mpiw_coll_root(comm, root) ? mpiw_coll_peers(comm) : 0, comm, req,
                    MPIW_ICOLL(large, req, Gatherv, Igatherv, s_.buf, sn, st, r_.buf, rns, rds,
                               rt, root, comm));
}

int mpiw_cd_allgather(const void *s, int64_t sn, MPI_Datatype st, void *r, int64_t rn,
                      MPI_Datatype rt, MPI_Comm comm, int large, MPI_Request *req)
{
    mpiw_side s_ = { .buf = (char *) s, .count = sn, .type = st },
              r_ = { .buf = r, .count = rn, .type = rt };

    MPIW_ON_MIRRORS(s_, 1, r_, mpiw_coll_peers(comm), comm, req,
                    MPIW_ICOLL(large, req, Allgather, Iallgather, s_.buf, sn, st, r_.buf, rn, rt,
                               comm));
}

int mpiw_cd_allgatherv(const void *s, int64_t sn, MPI_Datatype st, void *r, const void *rns,
                       const void *rds, MPI_Datatype rt, MPI_Comm comm, int large,
                       MPI_Request *req)
{
    mpiw_side s_ = { .buf = (char *) s, .count = sn, .type = st },
              r_ = mpiw_coll_side(r, rns, rds, 0, rt, NULL, large);

    MPIW_ON_MIRRORS(s_, 1, r_, mpiw_coll_peers(comm), comm, req,
                    MPIW_ICOLL(large, req, Allgatherv, Iallgatherv, s_.buf, sn, st, r_.buf, rns,
                               rds, rt, comm));
}

int mpiw_cd_scatter(const void *s, int64_t sn, MPI_Datatype st, void *r, int64_t rn,
                    MPI_Datatype rt, int root, MPI_Comm comm, int large, MPI_Request *req)
{
    mpiw_side s_ = { .buf = (char *) s, .count = sn, .type = st },
              r_ = { .buf = r, .count = rn, .type = rt };

    MPIW_ON_MIRRORS(s_, mpiw_coll_root(comm, root) ? mpiw_coll_peers(comm) : 0, r_, 1, comm, req,
                    MPIW_ICOLL(large, req, Scatter, Iscatter, s_.buf, sn, st, r_.buf, rn, rt,
                               root, comm));
}

int mpiw_cd_scatterv(const void *s, const void *sns, const void *sds, MPI_Datatype st, void *r,
                     int64_t rn, MPI_Datatype rt, int root, MPI_Comm comm, int large,
                     MPI_Request *req)
{
    mpiw_side s_ = mpiw_coll_side(s, sns, sds, 0, st, NULL, large),
              r_ = { .buf = r, .count = rn, .type = rt };

    MPIW_ON_MIRRORS(s_, mpiw_coll_root(comm, root) ? mpiw_coll_peers(comm) : 0, r_, 1, comm, req,
                    MPIW_ICOLL(large, req, Scatterv, Iscatterv, s_.buf, sns, sds, st, r_.buf, rn,
                               rt, root, comm));
}
