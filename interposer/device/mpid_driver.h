/*
 * The CUDA driver calls the device layer makes, and the entry points of the generated
 * kernels' library, as one table. mpid_cuda.c fills it from libcuda.so.1 and
 * libmpicomm_cuda.so; mpid_sim.c fills it with the simulated driver, so that the same
 * backend code (contexts, streams, pools, the probe) runs in CI as on a GPU.
 *
 * The types and values are cuda.h's (a stable ABI); only what this layer uses.
 */
#ifndef MPID_DRIVER_H
#define MPID_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include "mpik_kernels.h"

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUstream_st *CUstream;
typedef int CUdevice;

#define CUDA_SUCCESS 0
#define CUDA_ERROR_INVALID_VALUE 1
#define CUDA_ERROR_OUT_OF_MEMORY 2
#define CUDA_ERROR_NOT_INITIALIZED 3
#define CUDA_ERROR_INVALID_CONTEXT 201
#define CUDA_ERROR_NOT_READY 600
#define CUDA_ERROR_INVALID_HANDLE 400
#define CUDA_ERROR_CONTEXT_IS_DESTROYED 709
#define CU_POINTER_ATTRIBUTE_MEMORY_TYPE 2
#define CU_POINTER_ATTRIBUTE_IS_MANAGED 8
#define CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL 9
#define CU_MEMORYTYPE_HOST 1
#define CU_MEMORYTYPE_DEVICE 2
#define CU_MEMHOSTALLOC_PORTABLE 1
#define CU_MEMHOSTALLOC_DEVICEMAP 2
/* A stream created with flags 0 is ordered after the legacy default stream (the one
 * cupy.asarray, PyTorch's default stream and plain cudaMemcpy use) and before its later
 * work; CU_STREAM_NON_BLOCKING is ordered with nothing. */
#define CU_STREAM_DEFAULT 0
#define CU_STREAM_NON_BLOCKING 1
#define CU_STREAM_LEGACY ((CUstream) 0x1)

typedef struct mpid_driver {
    CUresult (*init)(unsigned);
    CUresult (*driver_version)(int *);
    CUresult (*error_name)(CUresult, const char **);
    CUresult (*device_count)(int *);
    CUresult (*device_get)(CUdevice *, int);
    CUresult (*primary_retain)(CUcontext *, CUdevice);
    CUresult (*primary_release)(CUdevice);
    CUresult (*primary_state)(CUdevice, unsigned *, int *);
    CUresult (*ctx_push)(CUcontext);
    CUresult (*ctx_pop)(CUcontext *);
    CUresult (*attribute)(void *, int, CUdeviceptr);
    CUresult (*mem_alloc)(CUdeviceptr *, size_t);
    CUresult (*mem_free)(CUdeviceptr);
    CUresult (*host_alloc)(void **, size_t, unsigned);
    CUresult (*host_free)(void *);
    CUresult (*copy)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
    CUresult (*stream_create)(CUstream *, unsigned);
    CUresult (*stream_destroy)(CUstream);
    CUresult (*stream_sync)(CUstream);
    CUresult (*stream_query)(CUstream);
    /* The kernels' library (mpik_cuda.cu): launches on a stream of the current context,
     * returning a cudaError_t; the CUDA runtime version it was built with; error names. */
    int (*launch)(int unpack, int ndims, int wi, const int64_t grid[3], const int64_t block[3],
                  const char *src, char *dst, const mpik_plan *plan, void *stream);
    int (*merge)(char *dst, const char *src, const unsigned char *mask, int64_t n,
                 void *stream);
    int (*runtime_version)(void);
    const char *(*kernel_error_name)(int);
} mpid_driver;

/* The simulated driver (MPICOMM_DEVICE=sim), kernels included. */
void mpid_sim_driver(mpid_driver *d);

#endif
