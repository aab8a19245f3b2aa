/* MPI_PROBE, MPI_IPROBE, MPI_MPROBE, MPI_IMPROBE from Fortran: the pipelined method
 * must see every probe, whichever binding makes it. */
#include "mpiwf.h"

#if MPIWF_ENABLED

static void probe(int binding, MPI_Fint *source, MPI_Fint *tag, MPI_Fint *comm, void *status,
                  MPI_Fint *ierr)
{
    MPI_Status c_status;
    int err = MPI_Probe((int) *source, (int) *tag, PMPI_Comm_f2c(*comm),
                        mpiwf_status_in(binding, status, &c_status));

    if (err == MPI_SUCCESS)
        mpiwf_status_out(binding, status, &c_status);
    mpiwf_ierr(ierr, err);
}

static void iprobe(int binding, MPI_Fint *source, MPI_Fint *tag, MPI_Fint *comm,
                   MPI_Fint *flag, void *status, MPI_Fint *ierr)
{
    MPI_Status c_status;
    int c_flag = 0;
    int err = MPI_Iprobe((int) *source, (int) *tag, PMPI_Comm_f2c(*comm), &c_flag,
                         mpiwf_status_in(binding, status, &c_status));

    if (err == MPI_SUCCESS) {
        *flag = mpiwf_logical(c_flag);
        if (c_flag)
            mpiwf_status_out(binding, status, &c_status);
    }
    mpiwf_ierr(ierr, err);
}

static void mprobe(int binding, MPI_Fint *source, MPI_Fint *tag, MPI_Fint *comm,
                   MPI_Fint *message, void *status, MPI_Fint *ierr)
{
    MPI_Status c_status;
    MPI_Message c_msg;
    int err = MPI_Mprobe((int) *source, (int) *tag, PMPI_Comm_f2c(*comm), &c_msg,
                         mpiwf_status_in(binding, status, &c_status));

    if (err == MPI_SUCCESS) {
        *message = PMPI_Message_c2f(c_msg);
        mpiwf_status_out(binding, status, &c_status);
    }
    mpiwf_ierr(ierr, err);
}

static void improbe(int binding, MPI_Fint *source, MPI_Fint *tag, MPI_Fint *comm,
                    MPI_Fint *flag, MPI_Fint *message, void *status, MPI_Fint *ierr)
{
    MPI_Status c_status;
    MPI_Message c_msg;
    int c_flag = 0;
    int err = MPI_Improbe((int) *source, (int) *tag, PMPI_Comm_f2c(*comm), &c_flag, &c_msg,
                          mpiwf_status_in(binding, status, &c_status));

    if (err == MPI_SUCCESS) {
        *flag = mpiwf_logical(c_flag);
        if (c_flag) {
            *message = PMPI_Message_c2f(c_msg);
            mpiwf_status_out(binding, status, &c_status);
        }
    }
    mpiwf_ierr(ierr, err);
}

/* The entry points of each binding. */
#define MPIWF_PROBE(suffix, binding)                                                       \
    void mpi_probe_##suffix(MPI_Fint *source, MPI_Fint *tag, MPI_Fint *comm, void *status, \
                            MPI_Fint *ierr)                                                \
    {                                                                                      \
        MPIWF_PASS(mpi_probe_##suffix, source, tag, comm, status, ierr);                   \
        probe(binding, source, tag, comm, status, ierr);                                   \
    }                                                                                      \
    void mpi_iprobe_##suffix(MPI_Fint *source, MPI_Fint *tag, MPI_Fint *comm,              \
                             MPI_Fint *flag, void *status, MPI_Fint *ierr)                 \
    {                                                                                      \
        MPIWF_PASS(mpi_iprobe_##suffix, source, tag, comm, flag, status, ierr);            \
        iprobe(binding, source, tag, comm, flag, status, ierr);                            \
    }                                                                                      \
    void mpi_mprobe_##suffix(MPI_Fint *source, MPI_Fint *tag, MPI_Fint *comm,              \
                             MPI_Fint *message, void *status, MPI_Fint *ierr)              \
    {                                                                                      \
        MPIWF_PASS(mpi_mprobe_##suffix, source, tag, comm, message, status, ierr);         \
        mprobe(binding, source, tag, comm, message, status, ierr);                         \
    }                                                                                      \
    void mpi_improbe_##suffix(MPI_Fint *source, MPI_Fint *tag, MPI_Fint *comm,             \
                              MPI_Fint *flag, MPI_Fint *message, void *status,             \
                              MPI_Fint *ierr)                                              \
    {                                                                                      \
        MPIWF_PASS(mpi_improbe_##suffix, source, tag, comm, flag, message, status, ierr);  \
        improbe(binding, source, tag, comm, flag, message, status, ierr);                  \
    }

#if MPIWF_MPIF_ENABLED
MPIWF_PROBE(, MPIWF_MPIF)
MPIWF_ALIAS(mpi_probe_, ompi_probe_f)
MPIWF_ALIAS(mpi_iprobe_, ompi_iprobe_f)
MPIWF_ALIAS(mpi_iprobe_, pmpi_iprobe_)
MPIWF_ALIAS(mpi_mprobe_, ompi_mprobe_f)
MPIWF_ALIAS(mpi_improbe_, ompi_improbe_f)
MPIWF_ALIAS(mpi_improbe_, pmpi_improbe_)
#endif
#if MPIWF_F08_ENABLED
MPIWF_PROBE(f08_, MPIWF_F08)
#endif

#endif
