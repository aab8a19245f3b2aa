/* MPI_PACK and MPI_UNPACK from Fortran. */
#include "mpiwf.h"

#if MPIWF_MPIF_ENABLED

void mpi_pack_(void *inbuf, MPI_Fint *incount, MPI_Fint *type, void *outbuf, MPI_Fint *outsize,
               MPI_Fint *position, MPI_Fint *comm, MPI_Fint *ierr)
{
    int c_position = (int) *position, err;

    MPIWF_PASS(mpi_pack_, inbuf, incount, type, outbuf, outsize, position, comm, ierr);
    err = MPI_Pack(mpiwf_buf(inbuf), (int) *incount, PMPI_Type_f2c(*type), outbuf,
                   (int) *outsize, &c_position, PMPI_Comm_f2c(*comm));
    if (err == MPI_SUCCESS)
        *position = (MPI_Fint) c_position;
    mpiwf_ierr(ierr, err);
}
MPIWF_ALIAS(mpi_pack_, ompi_pack_f)

void mpi_unpack_(void *inbuf, MPI_Fint *insize, MPI_Fint *position, void *outbuf,
                 MPI_Fint *outcount, MPI_Fint *type, MPI_Fint *comm, MPI_Fint *ierr)
{
    int c_position = (int) *position, err;

    MPIWF_PASS(mpi_unpack_, inbuf, insize, position, outbuf, outcount, type, comm, ierr);
    err = MPI_Unpack(inbuf, (int) *insize, &c_position, mpiwf_buf(outbuf), (int) *outcount,
                     PMPI_Type_f2c(*type), PMPI_Comm_f2c(*comm));
    if (err == MPI_SUCCESS)
        *position = (MPI_Fint) c_position;
    mpiwf_ierr(ierr, err);
}
MPIWF_ALIAS(mpi_unpack_, ompi_unpack_f)

#endif
