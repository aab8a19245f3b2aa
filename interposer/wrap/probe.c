/* MPI_Probe, MPI_Iprobe, MPI_Mprobe, MPI_Improbe: the MPI's own, except that where
 * messages may be pipelined a probe cannot tell a pipelined message's size (it sees one
 * chunk), so finding one ends the job with a message that says so (mpiw_pipeline.c)
 * rather than report a wrong count. */
#include "mpiw.h"

/* The status is the program's own when it gave one (an Iprobe that finds nothing
 * must leave it as it was). */
static int checked(int err, int found, const MPI_Status *st, MPI_Comm comm, const char *call)
{
    if (err == MPI_SUCCESS && found && mpiw_active())
        mpiw_pipe_probed(st, comm, call);
    return err;
}

int MPI_Probe(int source, int tag, MPI_Comm comm, MPI_Status *status)
{
    MPI_Status st, *use = status == MPI_STATUS_IGNORE ? &st : status;
    int err = PMPI_Probe(source, tag, comm, use);

    return checked(err, 1, use, comm, "MPI_Probe");
}

int MPI_Iprobe(int source, int tag, MPI_Comm comm, int *flag, MPI_Status *status)
{
    MPI_Status st, *use = status == MPI_STATUS_IGNORE ? &st : status;
    int err = PMPI_Iprobe(source, tag, comm, flag, use);

    return checked(err, err == MPI_SUCCESS && *flag, use, comm, "MPI_Iprobe");
}

int MPI_Mprobe(int source, int tag, MPI_Comm comm, MPI_Message *message, MPI_Status *status)
{
    MPI_Status st, *use = status == MPI_STATUS_IGNORE ? &st : status;
    int err = PMPI_Mprobe(source, tag, comm, message, use);

    return checked(err, 1, use, comm, "MPI_Mprobe");
}

int MPI_Improbe(int source, int tag, MPI_Comm comm, int *flag, MPI_Message *message,
                MPI_Status *status)
{
    MPI_Status st, *use = status == MPI_STATUS_IGNORE ? &st : status;
    int err = PMPI_Improbe(source, tag, comm, flag, message, use);

    return checked(err, err == MPI_SUCCESS && *flag, use, comm, "MPI_Improbe");
}
