/* The reductions (MPI_Reduce, MPI_Allreduce, MPI_Reduce_scatter_block, MPI_Scan,
 * MPI_Exscan, and their _c forms) with device buffers over an MPI that is not
 * CUDA-aware: through host mirrors (mpiw_coll.c); everything else is the MPI's. */
#include "mpiw_collcall.h"

static int rank_of(MPI_Comm comm)
{
    int rank = -1;
    PMPI_Comm_rank(comm, &rank);
    return rank;
}

static int reduce(const void *s, void *r, int64_t n, MPI_Datatype dt, MPI_Op op, int root,
                  MPI_Comm comm, int large)
{
    mpiw_coll c;

    MPIW_MIRRORS(&c, comm, s, n, dt, r, rank_of(comm) == root ? n : 0, dt);
    return mpiw_coll_close(&c, MPIW_COLL(large, Reduce, mpiw_coll_sbuf(&c), mpiw_coll_rbuf(&c),
                                         n, dt, op, root, comm), comm);
}

/* Allreduce (which 0), Scan (1), Exscan (2): n elements in, n out. */
static int allreduce(int which, const void *s, void *r, int64_t n, MPI_Datatype dt, MPI_Op op,
                     MPI_Comm comm, int large)
{
    mpiw_coll c;
    int err;

    MPIW_MIRRORS(&c, comm, s, n, dt, r, n, dt);
    if (which == 0)
        err = MPIW_COLL(large, Allreduce, mpiw_coll_sbuf(&c), mpiw_coll_rbuf(&c), n, dt, op, comm);
    else if (which == 1)
        err = MPIW_COLL(large, Scan, mpiw_coll_sbuf(&c), mpiw_coll_rbuf(&c), n, dt, op, comm);
    else
        err = MPIW_COLL(large, Exscan, mpiw_coll_sbuf(&c), mpiw_coll_rbuf(&c), n, dt, op, comm);
    return mpiw_coll_close(&c, err, comm);
}

/* Reduce_scatter_block: peers blocks of n in, one block out (in place: the receive buffer
 * holds the peers blocks). */
static int reduce_scatter_block(const void *s, void *r, int64_t n, MPI_Datatype dt, MPI_Op op,
                                MPI_Comm comm, int large)
{
    int64_t all = n * mpiw_coll_peers(comm);
    mpiw_coll c;

    MPIW_MIRRORS(&c, comm, s, all, dt, r, s == MPI_IN_PLACE ? all : n, dt);
    return mpiw_coll_close(&c, MPIW_COLL(large, Reduce_scatter_block, mpiw_coll_sbuf(&c),
                                         mpiw_coll_rbuf(&c), n, dt, op, comm), comm);
}

int MPI_Reduce(const void *s, void *r, int n, MPI_Datatype dt, MPI_Op op, int root,
               MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return reduce(s, r, n, dt, op, root, comm, 0);
    return PMPI_Reduce(s, r, n, dt, op, root, comm);
}

int MPI_Allreduce(const void *s, void *r, int n, MPI_Datatype dt, MPI_Op op, MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return allreduce(0, s, r, n, dt, op, comm, 0);
    return PMPI_Allreduce(s, r, n, dt, op, comm);
}

int MPI_Scan(const void *s, void *r, int n, MPI_Datatype dt, MPI_Op op, MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return allreduce(1, s, r, n, dt, op, comm, 0);
    return PMPI_Scan(s, r, n, dt, op, comm);
}

int MPI_Exscan(const void *s, void *r, int n, MPI_Datatype dt, MPI_Op op, MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return allreduce(2, s, r, n, dt, op, comm, 0);
    return PMPI_Exscan(s, r, n, dt, op, comm);
}

int MPI_Reduce_scatter_block(const void *s, void *r, int n, MPI_Datatype dt, MPI_Op op,
                             MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return reduce_scatter_block(s, r, n, dt, op, comm, 0);
    return PMPI_Reduce_scatter_block(s, r, n, dt, op, comm);
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Reduce_c(const void *s, void *r, MPI_Count n, MPI_Datatype dt, MPI_Op op, int root,
                 MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return reduce(s, r, n, dt, op, root, comm, 1);
    return PMPI_Reduce_c(s, r, n, dt, op, root, comm);
}

int MPI_Allreduce_c(const void *s, void *r, MPI_Count n, MPI_Datatype dt, MPI_Op op,
                    MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return allreduce(0, s, r, n, dt, op, comm, 1);
    return PMPI_Allreduce_c(s, r, n, dt, op, comm);
}

int MPI_Scan_c(const void *s, void *r, MPI_Count n, MPI_Datatype dt, MPI_Op op, MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return allreduce(1, s, r, n, dt, op, comm, 1);
    return PMPI_Scan_c(s, r, n, dt, op, comm);
}

int MPI_Exscan_c(const void *s, void *r, MPI_Count n, MPI_Datatype dt, MPI_Op op, MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return allreduce(2, s, r, n, dt, op, comm, 1);
    return PMPI_Exscan_c(s, r, n, dt, op, comm);
}

int MPI_Reduce_scatter_block_c(const void *s, void *r, MPI_Count n, MPI_Datatype dt, MPI_Op op,
                               MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return reduce_scatter_block(s, r, n, dt, op, comm, 1);
    return PMPI_Reduce_scatter_block_c(s, r, n, dt, op, comm);
}
#endif
