/* MPI_Bcast, MPI_Ibcast (and _c) with a device buffer over an MPI that is not CUDA-aware:
 * through a host mirror (mpiw_coll.c). */
#include "mpiw_collcall.h"

int mpiw_cd_bcast(void *buf, int64_t n, MPI_Datatype dt, int root, MPI_Comm comm, int large,
                  MPI_Request *req)
{
    mpiw_side s = { 0 }, r = { .buf = buf, .count = n, .type = dt };

    MPIW_ON_MIRRORS(s, 0, r, 1, comm, req,
                    MPIW_ICOLL(large, req, Bcast, Ibcast, r.buf, n, dt, root, comm));
}
