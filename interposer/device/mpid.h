/*
 * mpid: the device layer of the interposer. Nothing here includes mpi.h.
 *
 * One backend, over a driver: the CUDA driver (mpid_cuda.c, reached with dlopen, the
 * generated kernels in a library of their own built by nvcc), or the simulated driver
 * (mpid_sim.c, MPICOMM_DEVICE=sim: host memory that only the device may touch, several
 * devices, contexts, streams with CUDA's ordering rules that run only at
 * synchronisation, the same generated kernel bodies under a grid-emulation harness,
 * launches and allocations that can be made to fail). The backend's code is the same
 * for both, so the simulated device tests what a GPU runs.
 *
 * mpid.c holds what is common: which driver, the access width and launch shape of a
 * plan, pools of pinned and device buffers per device, and the synchronous operations
 * the wrappers call (pack, unpack, copies, merges), each on the device of its buffers.
 */
#ifndef MPID_H
#define MPID_H

#include <stddef.h>
#include <stdint.h>
#include "mpic.h"
#include "mpik_kernels.h"

/* What a pointer is. */
enum { MPID_HOST = 0, MPID_DEVICE, MPID_MANAGED, MPID_PINNED };

/* The active backend: "cuda" (the process has loaded the CUDA driver), "sim"
 * (MPICOMM_DEVICE=sim) or "none": then every pointer is host memory. */
const char *mpid_backend_name(void);
/* 1 when the backend is the real CUDA driver (a CUDA-aware MPI may be handed device
 * pointers; never the simulated device's). */
int mpid_backend_real(void);

/* The kind of p (MPID_HOST without a backend); dev: the device of device or managed
 * memory, else -1. */
int mpid_where(const void *p, int *dev);
static inline int mpid_kind(const void *p)
{
    int dev;
    return mpid_where(p, &dev);
}
/* Does memory of kind k need the device layer (device or managed memory)? */
static inline int mpid_kind_on_device(int k)
{
    return k == MPID_DEVICE || k == MPID_MANAGED;
}
/* Does p need the device layer? */
static inline int mpid_on_device(const void *p)
{
    return mpid_kind_on_device(mpid_kind(p));
}
/* Does either need the device layer? (The device layer asked once for both.) */
int mpid_either_on_device(const void *a, const void *b);
/* The device of device memory, -1 for any other. */
static inline int mpid_device_of(const void *p)
{
    int dev, k = mpid_where(p, &dev);
    return mpid_kind_on_device(k) ? dev : -1;
}

/* Access width and launch shape of a plan whose strided side starts at strided and packed
 * side at packed: the width index into mpik_widths, grid and block sizes. */
int mpid_width(const mpik_plan *p, uintptr_t strided, uintptr_t packed);
void mpid_shape(const mpik_plan *p, int width, int64_t grid[3], int64_t block[3]);
/* count elements of d as a device plan; start: byte offset of the first block. 0 when the
 * plan has more levels than the kernels (never for a canonical description). */
int mpid_plan(mpik_plan *out, int64_t *start, const mpic_desc *d, int64_t count);

/* Are the blocks of count elements of d disjoint? A device unpack writes blocks in no
 * set order, so mpid_unpack unpacks a type whose blocks may overlap on the host, in
 * order, as the MPI does. */
int mpid_disjoint(const mpic_desc *d, int64_t count);

/* Buffers kept for reuse, per device (device memory) or made in a device's context
 * (pinned host memory, portable): the pools allocate only while a program's working
 * set grows, up to MPICOMM_POOL bytes in all; beyond it a buffer is its
 * message's own.
 * Pinned memory that cannot be had is pageable host memory instead (one warning). dev:
 * the device the buffer serves; -1 takes device 0. */
void *mpid_pinned_get(int dev, size_t n);
void mpid_pinned_put(void *p);
void *mpid_device_get(int dev, size_t n);
void mpid_device_put(void *p);
/* Pageable host memory for the packed bytes of host messages, pooled the same way (no
 * driver involved): a halo loop's packed buffers are allocated in its first step only. */
void *mpid_host_get(size_t n);
void mpid_host_put(void *p);
void mpid_release(void);

/* The bytes count elements of a type span from its buffer: [lo, hi), from the true
 * bounds and the extent the MPI reports. */
void mpid_span(const mpic_typeinfo *t, int64_t count, int64_t *lo, int64_t *hi);

/* Synchronous operations: complete when they return; 0 on success, else why not
 * (mpid_error). in or out may be host or device memory; the packed side is contiguous.
 * Without kernels (a CUDA build without nvcc), or to unpack a type whose blocks may
 * overlap, the strided side's span is staged through host memory and handled there. */
int mpid_pack(const mpic_desc *d, int64_t count, const void *in, void *packed);
int mpid_unpack(const mpic_desc *d, int64_t count, const void *packed, void *out);
int mpid_copy(void *dst, const void *src, size_t n);
/* The one-shot forms: the kernel writes (reads) the packed bytes in mapped pinned host
 * memory (mpid_pinned_get) directly, with no copy between. */
int mpid_pack_mapped(const mpic_desc *d, int64_t count, const void *in, void *pinned);
int mpid_unpack_mapped(const mpic_desc *d, int64_t count, const void *pinned, void *out);
/* The bytes of host whose mask byte is set, into device memory dev_dst: no other byte
 * of dev_dst changes (a merge kernel; without kernels, read, merged and written back). */
int mpid_merge(void *dev_dst, const void *host, const unsigned char *mask, size_t n);
/* The mask for mpid_merge of the bytes [lo, lo + len) of a buffer that the first nbytes
 * of a packed stream of d's elements take (malloc'd: free it), NULL without memory. */
unsigned char *mpid_mask(const mpic_desc *d, int64_t nbytes, int64_t lo, int64_t len);
const char *mpid_error(void);
/* Whether the device kernels run here ("ok"), or why not. */
const char *mpid_kernels_status(void);
/* The device layer's counters, for MPICOMM_STATS: name i (NULL past the last), value. */
const char *mpid_stat_name(int i);
long long mpid_stat_value(int i);
/* Where warnings go (the interposer's log); stderr until set. */
void mpid_set_log(void (*fn)(const char *line));

#endif
