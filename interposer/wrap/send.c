/* The sends, blocking and nonblocking, in the standard, synchronous and ready modes
 * (MPI_Send, MPI_Isend, MPI_Ssend, MPI_Issend, MPI_Rsend, MPI_Irsend and their _c
 * forms): the method chosen for the type, in the program's mode, else the MPI. A
 * message the pipelined method carries sends its first chunk with MPI_Issend when
 * synchronous, so it completes only once matched; a ready send goes as a standard one
 * (the receive is posted, so either mode is correct). */
#include "mpiw.h"

#define BLOCKING(NAME, COUNT, MODE)                                                     \
    int NAME(const void *buf, COUNT count, MPI_Datatype dt, int dest, int tag,           \
             MPI_Comm comm)                                                              \
    {                                                                                    \
        int err;                                                                         \
        if (mpiw_active() && mpiw_send_try(buf, count, dt, dest, tag, comm, MODE, &err)) \
            return err;                                                                  \
        return P##NAME(buf, count, dt, dest, tag, comm);                                 \
    }

#define NONBLOCKING(NAME, COUNT, MODE)                                                  \
    int NAME(const void *buf, COUNT count, MPI_Datatype dt, int dest, int tag,           \
             MPI_Comm comm, MPI_Request *req)                                            \
    {                                                                                    \
        int err;                                                                         \
        if (mpiw_active() &&                                                             \
            mpiw_isend_try(buf, count, dt, dest, tag, comm, MODE, req, &err))            \
            return err;                                                                  \
        return P##NAME(buf, count, dt, dest, tag, comm, req);                            \
    }

BLOCKING(MPI_Send, int, MPIW_MODE_STANDARD)
BLOCKING(MPI_Ssend, int, MPIW_MODE_SYNC)
BLOCKING(MPI_Rsend, int, MPIW_MODE_READY)
NONBLOCKING(MPI_Isend, int, MPIW_MODE_STANDARD)
NONBLOCKING(MPI_Issend, int, MPIW_MODE_SYNC)
NONBLOCKING(MPI_Irsend, int, MPIW_MODE_READY)
#if MPIW_HAVE_LARGE_COUNT
BLOCKING(MPI_Send_c, MPI_Count, MPIW_MODE_STANDARD)
BLOCKING(MPI_Ssend_c, MPI_Count, MPIW_MODE_SYNC)
BLOCKING(MPI_Rsend_c, MPI_Count, MPIW_MODE_READY)
NONBLOCKING(MPI_Isend_c, MPI_Count, MPIW_MODE_STANDARD)
NONBLOCKING(MPI_Issend_c, MPI_Count, MPIW_MODE_SYNC)
NONBLOCKING(MPI_Irsend_c, MPI_Count, MPIW_MODE_READY)
#endif
