/*
 * mpiwf: Fortran entry points, for the calls an MPI's Fortran bindings make through
 * the PMPI_ layer instead of the C MPI_ functions the wrappers are:
 *  - Open MPI's mpif.h and `use mpi` bindings call PMPI_ for everything, and its
 *    mpi_f08 module reaches the same code (MPIWF_MPIF: integer handles, statuses as
 *    MPI_STATUS_SIZE integers);
 *  - MPICH's mpif.h and `use mpi` bindings call the C MPI_ functions (nothing to do),
 *    but its mpi_f08 module calls PMPI_ for the calls without a buffer: MPI_Init,
 *    MPI_Type_commit, MPI_Wait, ... (MPIWF_F08: TYPE(MPI_Status) is MPI_F08_status).
 * Each entry point converts its handles and calls the C MPI_ function (the
 * interposer's wrapper, which checks "active?" and dispatches), then converts the
 * results back as the MPI's own binding would, so a Fortran program meets the same
 * interposer as a C one; requests the interposer created are completed by it
 * whichever binding completes them.
 *
 * Names: gfortran, flang, nvfortran and the Intel compilers all call `mpi_send_` for
 * MPI_SEND by default on Linux; that is the name defined here.
 */
#ifndef MPIWF_H
#define MPIWF_H

#include "mpiw.h"

#if defined(OPEN_MPI) && OPEN_MPI
#define MPIWF_MPIF_ENABLED 1
#else
#define MPIWF_MPIF_ENABLED 0
#endif

#if defined(MPICH_VERSION)
#define MPIWF_F08_ENABLED 1
#else
#define MPIWF_F08_ENABLED 0
#endif

#define MPIWF_ENABLED (MPIWF_MPIF_ENABLED || MPIWF_F08_ENABLED)

#if MPIWF_ENABLED

_Static_assert(sizeof(MPI_Fint) == sizeof(int),
               "the Fortran entry points assume a default INTEGER of C int's size");

/* Which binding's conventions an entry point follows. */
enum { MPIWF_MPIF, MPIWF_F08 };

/* Open MPI's mpi_f08 module reaches its binding through internal names with the
 * same arguments (MPI_Send: ompi_send_f): every entry point answers to both. The
 * calls with LOGICAL arguments it makes through the Fortran PMPI names instead
 * (pmpi_test_): those answer to that name too, or a request the interposer tracks
 * would be completed behind its back. */
#define MPIWF_ALIAS(fname, oname) \
    extern __typeof__(fname) oname __attribute__((alias(#fname)));

/* The MPI's Fortran LOGICAL .TRUE. (read from its own binding at MPI_INIT). */
extern MPI_Fint mpiwf_true;
void mpiwf_init(void);
/* The MPI's own entry point of that name (the one this library hides), or NULL. */
void *mpiwf_next(const char *name);

/* Under MPICOMM_DISABLE an entry point hands its call, arguments untouched (all are
 * pointers, as Fortran passes them), to the MPI's own entry point of that name, so the
 * program runs as without the interposer. MPI_INIT and MPI_FINALIZE always come here:
 * they start and stop the interposer, which reads MPICOMM_DISABLE. The next entry
 * point is called through an unprototyped pointer with the caller's own pointer
 * arguments, which C11 defines (the build uses -std=gnu11). */
#define MPIWF_PASS(name, ...)                          \
    do {                                               \
        static void (*next)();                         \
        if (mpiw_disabled()) {                         \
            if (!next)                                 \
                next = (void (*)()) mpiwf_next(#name); \
            if (next) {                                \
                next(__VA_ARGS__);                     \
                return;                                \
            }                                          \
        }                                              \
    } while (0)

/* MPI_BOTTOM as the mpif.h binding passes it, mapped to the C MPI_BOTTOM. */
void *mpiwf_buf(void *buf);

/* Store ierr when the program passed one (it may leave it out under mpi_f08). */
static inline void mpiwf_ierr(MPI_Fint *ierr, int err)
{
    if (ierr)
        *ierr = (MPI_Fint) err;
}

static inline MPI_Fint mpiwf_logical(int flag) { return flag ? mpiwf_true : 0; }

/* A status: the C status to pass for a Fortran one (MPI_STATUS_IGNORE where Fortran
 * ignores it), and the C status back into the Fortran one (unless ignored). */
MPI_Status *mpiwf_status_in(int binding, void *f_status, MPI_Status *c_status);
void mpiwf_status_out(int binding, void *f_status, const MPI_Status *c_status);

/* Arrays of requests and statuses for the completion calls: C copies (on the stack
 * for MPIWF_SMALL or fewer, else allocated), converted back after the call. */
#define MPIWF_SMALL 64
typedef struct mpiwf_batch {
    int binding;
    int n;
    MPI_Request *reqs;
    MPI_Status *statuses;        /* MPI_STATUSES_IGNORE when Fortran ignores them */
    MPI_Request small_reqs[MPIWF_SMALL];
    MPI_Status small_statuses[MPIWF_SMALL];
} mpiwf_batch;

int mpiwf_batch_in(mpiwf_batch *b, int binding, int n, const MPI_Fint *f_reqs,
                   void *f_statuses);
void mpiwf_batch_requests_out(const mpiwf_batch *b, MPI_Fint *f_reqs);
void mpiwf_batch_status_out(const mpiwf_batch *b, int i, void *f_statuses);
void mpiwf_batch_free(mpiwf_batch *b);

/* An error worth a status array: MPI_ERR_IN_STATUS still reports per-request errors. */
static inline int mpiwf_reports(int err)
{
    return err == MPI_SUCCESS || err == MPI_ERR_IN_STATUS;
}

#endif /* MPIWF_ENABLED */
#endif /* MPIWF_H */
