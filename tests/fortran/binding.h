! What differs between the two Fortran bindings the test programs are built with:
! -DF08 selects the mpi_f08 module, else the mpi module.
#ifdef F08
#define USE_MPI use mpi_f08
#define HANDLE(kind) type(kind)
#define STATUS_T type(MPI_Status)
#define STATUSES_T(m) type(MPI_Status) :: sts(m)
#define SOURCE_OF(st) st%MPI_SOURCE
#define TAG_OF(st) st%MPI_TAG
#define SOURCE_AT(i) sts(i)%MPI_SOURCE
#define TAG_AT(i) sts(i)%MPI_TAG
#else
#define USE_MPI use mpi
#define HANDLE(kind) integer
#define STATUS_T integer, dimension(MPI_STATUS_SIZE)
#define STATUSES_T(m) integer :: sts(MPI_STATUS_SIZE, m)
#define SOURCE_OF(st) st(MPI_SOURCE)
#define TAG_OF(st) st(MPI_TAG)
#define SOURCE_AT(i) sts(MPI_SOURCE, i)
#define TAG_AT(i) sts(MPI_TAG, i)
#endif
