/* MPI_Ssend, MPI_Issend, MPI_Rsend, MPI_Irsend and their _c forms: the MPI's own,
 * except a message the pipelined method carries (mpiw_pipeline.c), whose receiver
 * expects chunks: a synchronous send sends its first chunk with MPI_Issend, so it
 * completes only once matched; a ready send goes as a standard one (the receive is
 * posted, so either mode is correct). */
#include "mpiw.h"

static int64_t piped(int64_t count, MPI_Datatype dt, int dest, MPI_Comm comm)
{
    return mpiw_active() ? mpiw_pipe_bytes(count, dt, dest, comm) : 0;
}

#define BLOCKING(NAME, COUNT, SYNC)                                                     \
    int NAME(const void *buf, COUNT count, MPI_Datatype dt, int dest, int tag,           \
             MPI_Comm comm)                                                              \
    {                                                                                    \
        int64_t bytes = piped(count, dt, dest, comm);                                    \
        if (bytes)                                                                       \
            return mpiw_pipe_send(buf, count, dt, dest, tag, comm, bytes, SYNC);         \
        return P##NAME(buf, count, dt, dest, tag, comm);                                 \
    }

#define NONBLOCKING(NAME, COUNT, SYNC)                                                  \
    int NAME(const void *buf, COUNT count, MPI_Datatype dt, int dest, int tag,           \
             MPI_Comm comm, MPI_Request *req)                                            \
    {                                                                                    \
        int64_t bytes = piped(count, dt, dest, comm);                                    \
        if (bytes)                                                                       \
            return mpiw_pipe_isend(buf, count, dt, dest, tag, comm, bytes, SYNC, req);   \
        return P##NAME(buf, count, dt, dest, tag, comm, req);                            \
    }

BLOCKING(MPI_Ssend, int, 1)
BLOCKING(MPI_Rsend, int, 0)
NONBLOCKING(MPI_Issend, int, 1)
NONBLOCKING(MPI_Irsend, int, 0)
#if MPIW_HAVE_LARGE_COUNT
BLOCKING(MPI_Ssend_c, MPI_Count, 1)
BLOCKING(MPI_Rsend_c, MPI_Count, 0)
NONBLOCKING(MPI_Issend_c, MPI_Count, 1)
NONBLOCKING(MPI_Irsend_c, MPI_Count, 0)
#endif
