/* MPI_Gather, MPI_Allgather, MPI_Scatter (and _c) with device buffers over an MPI that is
 * not CUDA-aware: through host mirrors (mpiw_coll.c); everything else is the MPI's. The
 * root's side of all peers' blocks is mirrored at the root only (elsewhere the MPI does
 * not look at it). */
#include "mpiw_collcall.h"

static int is_root(MPI_Comm comm, int root)
{
    int rank = -1, inter = 0;

    PMPI_Comm_test_inter(comm, &inter);
    if (inter)
        return root == MPI_ROOT;
    PMPI_Comm_rank(comm, &rank);
    return rank == root;
}

static int gather(const void *s, int64_t sn, MPI_Datatype st, void *r, int64_t rn,
                  MPI_Datatype rt, int root, MPI_Comm comm, int large)
{
    int at_root = is_root(comm, root);
    mpiw_coll c;

    MPIW_MIRRORS(&c, comm, s, sn, st, r, at_root ? rn * mpiw_coll_peers(comm) : 0, rt);
    return mpiw_coll_close(&c, MPIW_COLL(large, Gather, mpiw_coll_sbuf(&c), sn, st,
                                         mpiw_coll_rbuf(&c), rn, rt, root, comm), comm);
}

static int allgather(const void *s, int64_t sn, MPI_Datatype st, void *r, int64_t rn,
                     MPI_Datatype rt, MPI_Comm comm, int large)
{
    mpiw_coll c;

    MPIW_MIRRORS(&c, comm, s, sn, st, r, rn * mpiw_coll_peers(comm), rt);
    return mpiw_coll_close(&c, MPIW_COLL(large, Allgather, mpiw_coll_sbuf(&c), sn, st,
                                         mpiw_coll_rbuf(&c), rn, rt, comm), comm);
}

static int scatter(const void *s, int64_t sn, MPI_Datatype st, void *r, int64_t rn,
                   MPI_Datatype rt, int root, MPI_Comm comm, int large)
{
    int at_root = is_root(comm, root);
    mpiw_coll c;

    MPIW_MIRRORS(&c, comm, s, at_root ? sn * mpiw_coll_peers(comm) : 0, st, r, rn, rt);
    return mpiw_coll_close(&c, MPIW_COLL(large, Scatter, mpiw_coll_sbuf(&c), sn, st,
                                         mpiw_coll_rbuf(&c), rn, rt, root, comm), comm);
}

int MPI_Gather(const void *s, int sn, MPI_Datatype st, void *r, int rn, MPI_Datatype rt,
               int root, MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return gather(s, sn, st, r, rn, rt, root, comm, 0);
    return PMPI_Gather(s, sn, st, r, rn, rt, root, comm);
}

int MPI_Allgather(const void *s, int sn, MPI_Datatype st, void *r, int rn, MPI_Datatype rt,
                  MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return allgather(s, sn, st, r, rn, rt, comm, 0);
    return PMPI_Allgather(s, sn, st, r, rn, rt, comm);
}

int MPI_Scatter(const void *s, int sn, MPI_Datatype st, void *r, int rn, MPI_Datatype rt,
                int root, MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return scatter(s, sn, st, r, rn, rt, root, comm, 0);
    return PMPI_Scatter(s, sn, st, r, rn, rt, root, comm);
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Gather_c(const void *s, MPI_Count sn, MPI_Datatype st, void *r, MPI_Count rn,
                 MPI_Datatype rt, int root, MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return gather(s, sn, st, r, rn, rt, root, comm, 1);
    return PMPI_Gather_c(s, sn, st, r, rn, rt, root, comm);
}

int MPI_Allgather_c(const void *s, MPI_Count sn, MPI_Datatype st, void *r, MPI_Count rn,
                    MPI_Datatype rt, MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return allgather(s, sn, st, r, rn, rt, comm, 1);
    return PMPI_Allgather_c(s, sn, st, r, rn, rt, comm);
}

int MPI_Scatter_c(const void *s, MPI_Count sn, MPI_Datatype st, void *r, MPI_Count rn,
                  MPI_Datatype rt, int root, MPI_Comm comm)
{
    if (mpiw_coll_device(s, r))
        return scatter(s, sn, st, r, rn, rt, root, comm, 1);
    return PMPI_Scatter_c(s, sn, st, r, rn, rt, root, comm);
}
#endif
