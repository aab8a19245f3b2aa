/*
 * What the device layer's files share among themselves: the backend over the driver
 * (mpid_cuda.c), error text, warnings and counters (mpid.c).
 */
#ifndef MPID_INTERNAL_H
#define MPID_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "mpik_kernels.h"

#define MPID_MAX_DEVICES 64
enum { MPID_REAL = 1, MPID_SIM = 2 };         /* which driver mpid_cuda.c runs on */

/* Counters (MPICOMM_STATS): kernels launched, device and pinned memory allocated from
 * the driver and host buffers from malloc (none per message once the pools hold a
 * program's working set), buffers the pools could not keep, pinned buffers that fell
 * back to pageable memory. */
#define MPID_STATS(X)                                                                   \
    X(kernel_launches) X(device_allocs) X(host_allocs) X(pool_overflows) X(host_fallbacks)
enum {
#define MPID_STAT_ENUM(name) MPID_STAT_##name,
    MPID_STATS(MPID_STAT_ENUM)
#undef MPID_STAT_ENUM
    MPID_NSTATS
};
void mpid_count(int stat);

/* The reason of the last failure on this thread (mpid_error); returns 1. */
int mpid_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A warning through the interposer's log (stderr without it). */
void mpid_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The least power of two at least n (at most cap). */
static inline int64_t mpid_pow2_at_least(int64_t n, int64_t cap)
{
    int64_t v = 1;
    while (v < n && v < cap)
        v <<= 1;
    return v;
}

/* Pooled buffers of a device whose context was reset: gone with it, dropped unfreed. */
void mpid_pools_forget(int dev);

/* The backend (mpid_cuda.c). dev is a device ordinal; 0 on success unless said. */
int mpid_cuda_present(void);               /* the process has loaded the CUDA driver */
int mpid_cuda_start_sim(void);
int mpid_cuda_which(void);                 /* 0, MPID_REAL or MPID_SIM */
void mpid_cuda_check(int dev);             /* after a reset of dev: its state forgotten */
int mpid_cuda_where(const void *p, int *dev);   /* MPID_*; dev: -1 unless device memory */
void *mpid_cuda_alloc(int dev, size_t n, int pinned);   /* NULL on failure */
void mpid_cuda_free(int dev, void *p, int pinned);
int mpid_cuda_copy(int dev, void *dst, const void *src, size_t n);
int mpid_cuda_launch(int dev, int unpack, const mpik_plan *p, int wi, const int64_t grid[3],
                     const int64_t block[3], const char *src, char *dst);
int mpid_cuda_merge(int dev, char *dst, const char *src, const unsigned char *mask, int64_t n);
int mpid_cuda_sync(int dev);
int mpid_cuda_kernels(int dev);            /* 1 when kernels run (probed once) */
const char *mpid_cuda_kernels_status(void);
void mpid_cuda_release(void);

#endif
