/* MPI_Pack and MPI_Pack_c: generated kernels for canonical types, the MPI for the rest
 * (device buffers through host mirrors). */
#include "mpiw.h"

int MPI_Pack(const void *inbuf, int incount, MPI_Datatype datatype, void *outbuf, int outsize,
             int *position, MPI_Comm comm)
{
    int64_t pos;
    int err;

    if (mpiw_active() && position) {
        pos = *position;
        if (mpiw_pack_try(inbuf, incount, datatype, outbuf, outsize, &pos, comm, &err)) {
            *position = (int) pos;
            return err;
        }
    }
    return PMPI_Pack(inbuf, incount, datatype, outbuf, outsize, position, comm);
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Pack_c(const void *inbuf, MPI_Count incount, MPI_Datatype datatype, void *outbuf,
               MPI_Count outsize, MPI_Count *position, MPI_Comm comm)
{
    int64_t pos;
    int err;

    if (mpiw_active() && position) {
        pos = *position;
        if (mpiw_pack_try(inbuf, incount, datatype, outbuf, outsize, &pos, comm, &err)) {
            *position = pos;
            return err;
        }
    }
    return PMPI_Pack_c(inbuf, incount, datatype, outbuf, outsize, position, comm);
}
#endif
