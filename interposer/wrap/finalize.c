/* MPI_Finalize: print the counters (MPICOMM_STATS), free what the interposer holds, stop
 * the MPI. */
#include "mpiw.h"

void mpiw_finalize(void)
{
    if (!mpiw_g.initialized)
        return;
    mpiw_state_report();
    mpiw_requests_clear();
    mpiw_types_clear();
    mpiw_comms_finalize();
    mpiw_locality_finalize();
    mpiw_scratch_release();
    mpiw_device_finalize();
    mpid_release();
    mpiw_g.initialized = 0;
}

int MPI_Finalize(void)
{
    mpiw_finalize();
    return PMPI_Finalize();
}
