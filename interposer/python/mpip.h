/*
 * mpip: what the Python package's cffi module (mpicomm._core) adds to the core for
 * numpy arrays: the data addresses of many arrays in one pass, and the copies of
 * many arrays into one buffer and out of it (the fused collectives' buffers).
 */
#ifndef MPIP_H
#define MPIP_H

#include <stdint.h>

/* addr[i] = the data address of the numpy array whose object address is objs[i],
 * or 0 where it is not C-contiguous and writeable; returns the number of zeros.
 * The caller has checked that every object is a numpy.ndarray and keeps them alive. */
int64_t mpip_addresses(const intptr_t *objs, int64_t n, intptr_t *addr);

/* For i < n: bytes[i] bytes from addr[member[i]] to buf + offset[i] (gather), or
 * back (scatter); members whose address is 0 are skipped (the caller copies them). */
void mpip_gather(int64_t n, const int64_t *member, const intptr_t *addr,
                 const int64_t *offset, const int64_t *bytes, char *buf);
void mpip_scatter(int64_t n, const int64_t *member, const intptr_t *addr,
                  const int64_t *offset, const int64_t *bytes, const char *buf);

#endif
