/* For the collective wrappers: the MPI's call in the form the program made, int or
 * MPI_Count (large = 1 only where the MPI has the _c forms). */
#ifndef MPIW_COLLCALL_H
#define MPIW_COLLCALL_H
#include "mpiw.h"

#if MPIW_HAVE_LARGE_COUNT
#define MPIW_COLL(large, fn, ...) ((large) ? PMPI_##fn##_c(__VA_ARGS__) : PMPI_##fn(__VA_ARGS__))
#else
#define MPIW_COLL(large, fn, ...) PMPI_##fn(__VA_ARGS__)
#endif

/* Open the mirrors or return the MPI's out-of-memory error. */
#define MPIW_MIRRORS(c, comm, ...)                                                       \
    do {                                                                                 \
        if (mpiw_coll_open(c, __VA_ARGS__))                                              \
            return mpiw_device_failed(comm, MPI_ERR_NO_MEM);                             \
    } while (0)

/* The v and w all-to-alls with device buffers: each side's blocks (ns sent, nr received)
 * mirrored as one span, then call (on s.buf and r.buf) and its result. */
#define MPIW_SIDES_MIRRORED(call, s, ns, r, nr, comm)                                    \
    do {                                                                                 \
        mpiw_coll c_;                                                                    \
        if (mpiw_coll_open_sides(&c_, &(s), ns, &(r), nr))                               \
            return mpiw_device_failed(comm, MPI_ERR_NO_MEM);                             \
        return mpiw_coll_close(&c_, call, comm);                                         \
    } while (0)

#endif
