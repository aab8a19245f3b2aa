/* The reductions (MPI_Reduce, MPI_Allreduce, MPI_Scan, MPI_Exscan, MPI_Reduce_scatter,
 * MPI_Reduce_scatter_block; their nonblocking and _c forms) with device buffers over an
 * MPI that is not CUDA-aware: through host mirrors (mpiw_coll.c). MPI_IN_PLACE reads the
 * receive buffer, which is mirrored in before the call. */
#include "mpiw_collcall.h"

/* n elements of dt in and out at every rank. */
#define ELEMENTS(s, r, n, dt) \
    mpiw_side s_ = { .buf = (char *) (s), .count = n, .type = dt }, \
              r_ = { .buf = (r), .count = n, .type = dt }

int mpiw_cd_reduce(const void *s, void *r, int64_t n, MPI_Datatype dt, MPI_Op op, int root,
                   MPI_Comm comm, int large, MPI_Request *req)
{
    ELEMENTS(s, r, n, dt);

    MPIW_ON_MIRRORS(s_, 1, r_, mpiw_coll_root(comm, root), comm, req,
                    MPIW_ICOLL(large, req, Reduce, Ireduce, s_.buf, r_.buf, n, dt, op, root, comm));
}

int mpiw_cd_allreduce(const void *s, void *r, int64_t n, MPI_Datatype dt, MPI_Op op,
                      MPI_Comm comm, int large, MPI_Request *req)
{
    ELEMENTS(s, r, n, dt);

    MPIW_ON_MIRRORS(s_, 1, r_, 1, comm, req,
                    MPIW_ICOLL(large, req, Allreduce, Iallreduce, s_.buf, r_.buf, n, dt, op, comm));
}

int mpiw_cd_scan(const void *s, void *r, int64_t n, MPI_Datatype dt, MPI_Op op, MPI_Comm comm,
                 int large, MPI_Request *req)
{
    ELEMENTS(s, r, n, dt);

    MPIW_ON_MIRRORS(s_, 1, r_, 1, comm, req,
                    MPIW_ICOLL(large, req, Scan, Iscan, s_.buf, r_.buf, n, dt, op, comm));
}

int mpiw_cd_exscan(const void *s, void *r, int64_t n, MPI_Datatype dt, MPI_Op op,
                   MPI_Comm comm, int large, MPI_Request *req)
{
    ELEMENTS(s, r, n, dt);

    MPIW_ON_MIRRORS(s_, 1, r_, 1, comm, req,
                    MPIW_ICOLL(large, req, Exscan, Iexscan, s_.buf, r_.buf, n, dt, op, comm));
}

/* peers blocks of n in, one block out (in place: the receive buffer holds all blocks). */
int mpiw_cd_reduce_scatter_block(const void *s, void *r, int64_t n, MPI_Datatype dt, MPI_Op op,
                                 MPI_Comm comm, int large, MPI_Request *req)
{
    int64_t all = n * mpiw_coll_peers(comm);
    mpiw_side s_ = { .buf = (char *) s, .count = all, .type = dt },
              r_ = { .buf = r, .count = s == MPI_IN_PLACE ? all : n, .type = dt };

    MPIW_ON_MIRRORS(s_, 1, r_, 1, comm, req,
                    MPIW_ICOLL(large, req, Reduce_scatter_block, Ireduce_scatter_block, s_.buf,
                               r_.buf, n, dt, op, comm));
}

/* The sum of counts[i] over the peers in, counts[rank] out (in place: the sum). */
int mpiw_cd_reduce_scatter(const void *s, void *r, const void *rns, MPI_Datatype dt, MPI_Op op,
                           MPI_Comm comm, int large, MPI_Request *req)
{
    mpiw_side counts = mpiw_coll_side(NULL, rns, NULL, 0, dt, NULL, large);
    int64_t all = 0;
    int rank = 0, n = mpiw_coll_peers(comm);

    PMPI_Comm_rank(comm, &rank);
    for (int i = 0; i < n; i++)
        all += mpiw_side_count(&counts, i);
    mpiw_side s_ = { .buf = (char *) s, .count = all, .type = dt },
              r_ = { .buf = r, .count = s == MPI_IN_PLACE ? all : mpiw_side_count(&counts, rank),
                     .type = dt };

    MPIW_ON_MIRRORS(s_, 1, r_, 1, comm, req,
                    MPIW_ICOLL(large, req, Reduce_scatter, Ireduce_scatter, s_.buf, r_.buf, rns,
                               dt, op, comm));
}
