/* For the collective helpers (mpiw_cd_*, behind the entry points codegen/genwrap.py
 * writes): the MPI's call in the form the program made, blocking or not (req NULL), int
 * or MPI_Count (large = 1 only where the MPI has the _c forms), and the call on mirrors. */
#ifndef MPIW_COLLCALL_H
#define MPIW_COLLCALL_H
#include "mpiw.h"
#include "mpiw_coll_entry.h"

#if MPIW_HAVE_LARGE_COUNT
#define MPIW_COLL(large, fn, ...) ((large) ? PMPI_##fn##_c(__VA_ARGS__) : PMPI_##fn(__VA_ARGS__))
#else
#define MPIW_COLL(large, fn, ...) PMPI_##fn(__VA_ARGS__)
#endif

/* fn blocking, ifn (its nonblocking form) with req. */
#define MPIW_ICOLL(large, req, fn, ifn, ...)                                             \
    ((req) ? MPIW_COLL(large, ifn, __VA_ARGS__, req) : MPIW_COLL(large, fn, __VA_ARGS__))

/* Mirror the ns blocks of side s and the nr blocks of side r, make call (on s.buf and
 * r.buf, which now point into the mirrors) and return its end (mpiw_coll_end). */
#define MPIW_ON_MIRRORS(s, ns, r, nr, comm, req, call)                                   \
    do {                                                                                 \
        mpiw_coll c_;                                                                    \
        if (mpiw_coll_open_sides(&c_, &(s), ns, &(r), nr))                               \
            return mpiw_device_failed(comm, MPI_ERR_NO_MEM);                             \
        return mpiw_coll_end(&c_, call, comm, req);                                      \
    } while (0)

#endif
