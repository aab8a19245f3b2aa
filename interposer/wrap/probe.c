/* MPI_Probe, MPI_Iprobe, MPI_Mprobe, MPI_Improbe: the MPI's own, except that where
 * messages may be pipelined a probe cannot tell a pipelined message's size (it sees one
 * chunk), so finding one ends the job with a message that says so (mpiw_pipeline.c)
 * rather than report a wrong count. */
#include "mpiw.h"

static int checked(int err, int found, const MPI_Status *st, MPI_Comm comm, const char *call)
{
    if (err == MPI_SUCCESS && found && mpiw_active())
        mpiw_pipe_probed(st, comm, call);
    return err;
}

int MPI_Probe(int source, int tag, MPI_Comm comm, MPI_Status *status)
{
    MPI_Status st;
    int err = PMPI_Probe(source, tag, comm, &st);

    if (status != MPI_STATUS_IGNORE)
        *status = st;
    return checked(err, 1, &st, comm, "MPI_Probe");
}

int MPI_Iprobe(int source, int tag, MPI_Comm comm, int *flag, MPI_Status *status)
{
    MPI_Status st;
    int err = PMPI_Iprobe(source, tag, comm, flag, &st);

    if (status != MPI_STATUS_IGNORE)
        *status = st;
    return checked(err, err == MPI_SUCCESS && *flag, &st, comm, "MPI_Iprobe");
}

int MPI_Mprobe(int source, int tag, MPI_Comm comm, MPI_Message *message, MPI_Status *status)
{
    MPI_Status st;
    int err = PMPI_Mprobe(source, tag, comm, message, &st);

    if (status != MPI_STATUS_IGNORE)
        *status = st;
    return checked(err, 1, &st, comm, "MPI_Mprobe");
}

int MPI_Improbe(int source, int tag, MPI_Comm comm, int *flag, MPI_Message *message,
                MPI_Status *status)
{
    MPI_Status st;
    int err = PMPI_Improbe(source, tag, comm, flag, message, &st);

    if (status != MPI_STATUS_IGNORE)
        *status = st;
    return checked(err, err == MPI_SUCCESS && *flag, &st, comm, "MPI_Improbe");
}
