/* The persistent requests: MPI_Send_init, MPI_Ssend_init, MPI_Rsend_init, MPI_Recv_init
 * and their _c forms. The method is chosen once, here; a packed request is started by
 * MPI_Start/MPI_Startall (start.c) and completed by any completion call. MPI_Bsend_init
 * stays the MPI's. */
#include "mpiw.h"

#define SEND_INIT(NAME, COUNT, MODE)                                                    \
    int NAME(const void *buf, COUNT count, MPI_Datatype dt, int dest, int tag,           \
             MPI_Comm comm, MPI_Request *req)                                            \
    {                                                                                    \
        int err;                                                                         \
        if (mpiw_active() &&                                                             \
            mpiw_send_init_try(buf, count, dt, dest, tag, comm, MODE, req, &err))        \
            return err;                                                                  \
        return P##NAME(buf, count, dt, dest, tag, comm, req);                            \
    }

#define RECV_INIT(NAME, COUNT)                                                          \
    int NAME(void *buf, COUNT count, MPI_Datatype dt, int source, int tag, MPI_Comm comm, \
             MPI_Request *req)                                                           \
    {                                                                                    \
        int err;                                                                         \
        if (mpiw_active() &&                                                             \
            mpiw_recv_init_try(buf, count, dt, source, tag, comm, req, &err))            \
            return err;                                                                  \
        return P##NAME(buf, count, dt, source, tag, comm, req);                          \
    }

SEND_INIT(MPI_Send_init, int, MPIW_MODE_STANDARD)
SEND_INIT(MPI_Ssend_init, int, MPIW_MODE_SYNC)
SEND_INIT(MPI_Rsend_init, int, MPIW_MODE_READY)
RECV_INIT(MPI_Recv_init, int)
#if MPIW_HAVE_LARGE_COUNT
SEND_INIT(MPI_Send_init_c, MPI_Count, MPIW_MODE_STANDARD)
SEND_INIT(MPI_Ssend_init_c, MPI_Count, MPIW_MODE_SYNC)
SEND_INIT(MPI_Rsend_init_c, MPI_Count, MPIW_MODE_READY)
RECV_INIT(MPI_Recv_init_c, MPI_Count)
#endif
