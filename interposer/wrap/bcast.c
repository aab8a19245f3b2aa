/* MPI_Bcast (and _c) with a device buffer over an MPI that is not CUDA-aware: through a
 * host mirror (mpiw_coll.c); everything else is the MPI's. */
#include "mpiw_collcall.h"

static int bcast(void *buf, int64_t count, MPI_Datatype dt, int root, MPI_Comm comm, int large)
{
    mpiw_coll c;

    MPIW_MIRRORS(&c, comm, NULL, 0, dt, buf, count, dt);
    return mpiw_coll_close(&c, MPIW_COLL(large, Bcast, mpiw_coll_rbuf(&c), count, dt, root, comm),
                           comm);
}

int MPI_Bcast(void *buf, int count, MPI_Datatype dt, int root, MPI_Comm comm)
{
    if (mpiw_coll_device(NULL, buf))
        return bcast(buf, count, dt, root, comm, 0);
    return PMPI_Bcast(buf, count, dt, root, comm);
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Bcast_c(void *buf, MPI_Count count, MPI_Datatype dt, int root, MPI_Comm comm)
{
    if (mpiw_coll_device(NULL, buf))
        return bcast(buf, count, dt, root, comm, 1);
    return PMPI_Bcast_c(buf, count, dt, root, comm);
}
#endif
