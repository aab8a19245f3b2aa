/* MPI_Comm_set_info, MPI_Comm_dup_with_info: the MPI's own; then the interposer notes
 * whether the hints assert what the pipelined method needs (mpiw_comms.c). */
#include "mpiw.h"

int MPI_Comm_set_info(MPI_Comm comm, MPI_Info info)
{
    int err = PMPI_Comm_set_info(comm, info);

    if (err == MPI_SUCCESS && mpiw_g.initialized)
        mpiw_comms_hints(comm, info);
    return err;
}

int MPI_Comm_dup_with_info(MPI_Comm comm, MPI_Info info, MPI_Comm *newcomm)
{
    int err = PMPI_Comm_dup_with_info(comm, info, newcomm);

    if (err == MPI_SUCCESS && mpiw_g.initialized)
        mpiw_comms_hints(*newcomm, info);
    return err;
}
