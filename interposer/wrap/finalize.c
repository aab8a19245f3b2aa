/* MPI_Finalize: print the counters (MPICOMM_STATS), free the cache, stop the MPI. */
#include "mpiw.h"

int MPI_Finalize(void)
{
    mpiw_state_finalize();
    return PMPI_Finalize();
}
