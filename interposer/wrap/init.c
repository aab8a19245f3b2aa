/* MPI_Init, MPI_Init_thread: start the MPI, then read our settings. */
#include "mpiw.h"

int MPI_Init(int *argc, char ***argv)
{
    int err = PMPI_Init(argc, argv), provided = MPI_THREAD_SINGLE;

    if (err == MPI_SUCCESS) {
        PMPI_Query_thread(&provided);
        mpiw_state_init(provided);
    }
    return err;
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
    int err = PMPI_Init_thread(argc, argv, required, provided);

    if (err == MPI_SUCCESS)
        mpiw_state_init(*provided);
    return err;
}
