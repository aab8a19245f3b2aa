/*
 * mpid: the device layer of the interposer. Nothing here includes mpi.h.
 *
 * A backend is a table of functions, as yaksa keeps its seq, cuda and ze backends: what
 * kind of memory a pointer is, device and pinned host memory, copies and kernel launches
 * queued on the backend's own stream, and a synchronisation that completes them. Two
 * backends: CUDA (mpid_cuda.c: the driver reached with dlopen, the generated kernels in a
 * library of their own built by nvcc) and a simulated device (mpid_sim.c,
 * MPICOMM_DEVICE=sim: host memory that only the device may touch, the same generated
 * kernel bodies run under a grid-emulation harness, a stream that runs only at
 * synchronisation points).
 *
 * mpid.c holds what is common: which backend is active, the access width and launch
 * shape of a plan, pools of pinned and device buffers, and the synchronous operations
 * the wrappers call (pack, unpack, copies).
 */
#ifndef MPID_H
#define MPID_H

#include <stddef.h>
#include <stdint.h>
#include "mpic.h"
#include "mpik_kernels.h"

/* What a pointer is. */
enum { MPID_HOST = 0, MPID_DEVICE, MPID_MANAGED, MPID_PINNED };

typedef struct mpid_backend {
    const char *name;
    int (*kind)(const void *p);                        /* MPID_* */
    void *(*device_alloc)(size_t n);
    void (*device_free)(void *p);
    void *(*pinned_alloc)(size_t n);                   /* page-locked, device-mapped */
    void (*pinned_free)(void *p);
    /* Queued on the backend's stream; 0 on success. */
    int (*copy)(void *dst, const void *src, size_t n);
    int (*launch)(int unpack, const mpik_plan *p, int wi, const int64_t grid[3],
                  const int64_t block[3], const char *src, char *dst);
    int (*sync)(void);                                 /* everything queued is done */
    int (*kernels)(void);                              /* 1 when launch can run kernels */
} mpid_backend;

extern const mpid_backend mpid_sim_backend;
extern const mpid_backend mpid_cuda_backend;

/* The active backend, or NULL when there is none (no MPICOMM_DEVICE=sim, and no CUDA
 * driver loaded in the process): then every pointer is host memory. */
const mpid_backend *mpid_backend_active(void);
const char *mpid_backend_name(void);

/* The kind of p; MPID_HOST without a backend. */
int mpid_kind(const void *p);
/* Does p need the device layer (device or managed memory)? */
static inline int mpid_on_device(const void *p)
{
    int k = mpid_kind(p);
    return k == MPID_DEVICE || k == MPID_MANAGED;
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

/* Buffers kept for reuse (pinned host or device memory), never one per message. */
void *mpid_pinned_get(size_t n);
void mpid_pinned_put(void *p);
void *mpid_device_get(size_t n);
void mpid_device_put(void *p);
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
const char *mpid_error(void);

#endif
