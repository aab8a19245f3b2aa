/* MPI_Unpack and MPI_Unpack_c: generated kernels for canonical types, the MPI for the
 * rest (device buffers through host mirrors). */
#include "mpiw.h"

int MPI_Unpack(const void *inbuf, int insize, int *position, void *outbuf, int outcount,
               MPI_Datatype datatype, MPI_Comm comm)
{
    int64_t pos;
    int err;

    if (mpiw_active() && position) {
        pos = *position;
        if (mpiw_unpack_try(inbuf, insize, &pos, outbuf, outcount, datatype, comm, &err)) {
            *position = (int) pos;
            return err;
        }
    }
    return PMPI_Unpack(inbuf, insize, position, outbuf, outcount, datatype, comm);
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Unpack_c(const void *inbuf, MPI_Count insize, MPI_Count *position, void *outbuf,
                 MPI_Count outcount, MPI_Datatype datatype, MPI_Comm comm)
{
    int64_t pos;
    int err;

    if (mpiw_active() && position) {
        pos = *position;
        if (mpiw_unpack_try(inbuf, insize, &pos, outbuf, outcount, datatype, comm, &err)) {
            *position = pos;
            return err;
        }
    }
    return PMPI_Unpack_c(inbuf, insize, position, outbuf, outcount, datatype, comm);
}
#endif
