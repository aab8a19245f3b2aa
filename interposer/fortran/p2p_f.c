/* Point-to-point calls from Fortran: MPI_SEND, MPI_SSEND, MPI_RSEND, MPI_RECV, their
 * nonblocking and persistent forms, MPI_SENDRECV and MPI_SENDRECV_REPLACE. */
#include "mpiwf.h"

#if MPIWF_MPIF_ENABLED

/* The blocking sends share one shape, and so do the nonblocking and persistent calls. */
#define MPIWF_SEND(fname, cname)                                                          \
    void fname(void *buf, MPI_Fint *count, MPI_Fint *type, MPI_Fint *dest, MPI_Fint *tag, \
               MPI_Fint *comm, MPI_Fint *ierr)                                            \
    {                                                                                     \
        MPIWF_PASS(fname, buf, count, type, dest, tag, comm, ierr);                       \
        mpiwf_ierr(ierr, cname(mpiwf_buf(buf), (int) *count, PMPI_Type_f2c(*type),        \
                               (int) *dest, (int) *tag, PMPI_Comm_f2c(*comm)));           \
    }

#define MPIWF_ISEND(fname, cname)                                                         \
    void fname(void *buf, MPI_Fint *count, MPI_Fint *type, MPI_Fint *dest, MPI_Fint *tag, \
               MPI_Fint *comm, MPI_Fint *request, MPI_Fint *ierr)                         \
    {                                                                                     \
        MPIWF_PASS(fname, buf, count, type, dest, tag, comm, request, ierr);              \
        MPI_Request c_req;                                                                \
        int err = cname(mpiwf_buf(buf), (int) *count, PMPI_Type_f2c(*type), (int) *dest,  \
                        (int) *tag, PMPI_Comm_f2c(*comm), &c_req);                        \
                                                                                          \
        if (err == MPI_SUCCESS)                                                           \
            *request = PMPI_Request_c2f(c_req);                                           \
        mpiwf_ierr(ierr, err);                                                            \
    }

MPIWF_SEND(mpi_send_, MPI_Send)
MPIWF_ALIAS(mpi_send_, ompi_send_f)
MPIWF_SEND(mpi_ssend_, MPI_Ssend)
MPIWF_ALIAS(mpi_ssend_, ompi_ssend_f)
MPIWF_SEND(mpi_rsend_, MPI_Rsend)
MPIWF_ALIAS(mpi_rsend_, ompi_rsend_f)
MPIWF_ISEND(mpi_isend_, MPI_Isend)
MPIWF_ALIAS(mpi_isend_, ompi_isend_f)
MPIWF_ISEND(mpi_issend_, MPI_Issend)
MPIWF_ALIAS(mpi_issend_, ompi_issend_f)
MPIWF_ISEND(mpi_irsend_, MPI_Irsend)
MPIWF_ALIAS(mpi_irsend_, ompi_irsend_f)
MPIWF_ISEND(mpi_irecv_, MPI_Irecv)
MPIWF_ALIAS(mpi_irecv_, ompi_irecv_f)
MPIWF_ISEND(mpi_send_init_, MPI_Send_init)
MPIWF_ALIAS(mpi_send_init_, ompi_send_init_f)
MPIWF_ISEND(mpi_ssend_init_, MPI_Ssend_init)
MPIWF_ALIAS(mpi_ssend_init_, ompi_ssend_init_f)
MPIWF_ISEND(mpi_rsend_init_, MPI_Rsend_init)
MPIWF_ALIAS(mpi_rsend_init_, ompi_rsend_init_f)
MPIWF_ISEND(mpi_recv_init_, MPI_Recv_init)
MPIWF_ALIAS(mpi_recv_init_, ompi_recv_init_f)

void mpi_recv_(void *buf, MPI_Fint *count, MPI_Fint *type, MPI_Fint *source, MPI_Fint *tag,
               MPI_Fint *comm, MPI_Fint *status, MPI_Fint *ierr)
{
    MPI_Status c_status;
    int err;

    MPIWF_PASS(mpi_recv_, buf, count, type, source, tag, comm, status, ierr);
    err = MPI_Recv(mpiwf_buf(buf), (int) *count, PMPI_Type_f2c(*type), (int) *source, (int) *tag,
                   PMPI_Comm_f2c(*comm), mpiwf_status_in(MPIWF_MPIF, status, &c_status));
    if (err == MPI_SUCCESS)
        mpiwf_status_out(MPIWF_MPIF, status, &c_status);
    mpiwf_ierr(ierr, err);
}
MPIWF_ALIAS(mpi_recv_, ompi_recv_f)

void mpi_sendrecv_(void *sendbuf, MPI_Fint *sendcount, MPI_Fint *sendtype, MPI_Fint *dest,
                   MPI_Fint *sendtag, void *recvbuf, MPI_Fint *recvcount, MPI_Fint *recvtype,
                   MPI_Fint *source, MPI_Fint *recvtag, MPI_Fint *comm, MPI_Fint *status,
                   MPI_Fint *ierr)
{
    MPI_Status c_status;
    int err;

    MPIWF_PASS(mpi_sendrecv_, sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount,
               recvtype, source, recvtag, comm, status, ierr);
    err = MPI_Sendrecv(mpiwf_buf(sendbuf), (int) *sendcount, PMPI_Type_f2c(*sendtype),
                       (int) *dest, (int) *sendtag, mpiwf_buf(recvbuf), (int) *recvcount,
                       PMPI_Type_f2c(*recvtype), (int) *source, (int) *recvtag,
                       PMPI_Comm_f2c(*comm), mpiwf_status_in(MPIWF_MPIF, status, &c_status));
    if (err == MPI_SUCCESS)
        mpiwf_status_out(MPIWF_MPIF, status, &c_status);
    mpiwf_ierr(ierr, err);
}
MPIWF_ALIAS(mpi_sendrecv_, ompi_sendrecv_f)

void mpi_sendrecv_replace_(void *buf, MPI_Fint *count, MPI_Fint *type, MPI_Fint *dest,
                           MPI_Fint *sendtag, MPI_Fint *source, MPI_Fint *recvtag,
                           MPI_Fint *comm, MPI_Fint *status, MPI_Fint *ierr)
{
    MPI_Status c_status;
    int err;

    MPIWF_PASS(mpi_sendrecv_replace_, buf, count, type, dest, sendtag, source, recvtag, comm,
               status, ierr);
    err = MPI_Sendrecv_replace(mpiwf_buf(buf), (int) *count, PMPI_Type_f2c(*type), (int) *dest,
                               (int) *sendtag, (int) *source, (int) *recvtag,
                               PMPI_Comm_f2c(*comm),
                               mpiwf_status_in(MPIWF_MPIF, status, &c_status));
    if (err == MPI_SUCCESS)
        mpiwf_status_out(MPIWF_MPIF, status, &c_status);
    mpiwf_ierr(ierr, err);
}
MPIWF_ALIAS(mpi_sendrecv_replace_, ompi_sendrecv_replace_f)

#endif
