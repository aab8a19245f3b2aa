/* MPI_Pack_size and MPI_Pack_size_c: the bound is always the MPI's, so packed
 * buffers sized by it stay valid whether or not the interposer is there. */
#include "mpiw.h"

int MPI_Pack_size(int incount, MPI_Datatype datatype, MPI_Comm comm, int *size)
{
    return PMPI_Pack_size(incount, datatype, comm, size);
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Pack_size_c(MPI_Count incount, MPI_Datatype datatype, MPI_Comm comm, MPI_Count *size)
{
    return PMPI_Pack_size_c(incount, datatype, comm, size);
}
#endif
