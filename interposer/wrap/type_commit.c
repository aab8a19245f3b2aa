/* MPI_Type_commit: commit, then note the type in the cache (decoded on first use). */
#include "mpiw.h"

int MPI_Type_commit(MPI_Datatype *datatype)
{
    int err = PMPI_Type_commit(datatype);

    if (err == MPI_SUCCESS && mpiw_g.initialized && !mpiw_disabled())
        mpiw_types_commit(*datatype);
    return err;
}
