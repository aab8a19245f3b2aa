/*
 * The CUDA backend. The interposer never links CUDA: the driver (libcuda.so.1) is looked
 * up only once the process has loaded it itself (CuPy, PyTorch or the program's own CUDA
 * code), so a program that never touches a GPU makes no CUDA call at all. The generated
 * kernels live in libmpicomm_cuda.so beside the interposer (built by nvcc, mpicomm build),
 * loaded on the first launch. Copies and kernels run on a stream of the interposer's own.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "mpid.h"

/* The driver API's types and values this file uses (cuda.h, stable ABI). */
typedef int CUresult;
typedef unsigned long long CUdeviceptr;
typedef void *CUcontext;
typedef void *CUstream;
typedef int CUdevice;
#define CU_POINTER_ATTRIBUTE_MEMORY_TYPE 2
#define CU_POINTER_ATTRIBUTE_IS_MANAGED 8
#define CU_MEMORYTYPE_HOST 1
#define CU_MEMORYTYPE_DEVICE 2
#define CU_MEMHOSTALLOC_PORTABLE 1
#define CU_MEMHOSTALLOC_DEVICEMAP 2
#define CU_STREAM_NON_BLOCKING 1

static struct {
    CUresult (*init)(unsigned);
    CUresult (*ctx_get)(CUcontext *);
    CUresult (*ctx_set)(CUcontext);
    CUresult (*device_get)(CUdevice *, int);
    CUresult (*primary_retain)(CUcontext *, CUdevice);
    CUresult (*attribute)(void *, int, CUdeviceptr);
    CUresult (*mem_alloc)(CUdeviceptr *, size_t);
    CUresult (*mem_free)(CUdeviceptr);
    CUresult (*host_alloc)(void **, size_t, unsigned);
    CUresult (*host_free)(void *);
    CUresult (*copy)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
    CUresult (*stream_create)(CUstream *, unsigned);
    CUresult (*stream_sync)(CUstream);
} cu;

static void *driver;
static CUstream stream;
static int (*kernel_launch)(int, int, int, const int64_t *, const int64_t *, const char *, char *,
                            const mpik_plan *, void *);
static pthread_once_t kernels_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* How many objects the process has loaded so far (the first entry's count stops the walk). */
static int count_adds(struct dl_phdr_info *info, size_t size, void *out)
{
    (void) size;
    *(unsigned long long *) out = info->dlpi_adds;
    return 1;
}

#define SYM(field, name) (*(void **) &cu.field = dlsym(driver, name))

static int bind(void *lib)
{
    driver = lib;
    return SYM(init, "cuInit") && SYM(ctx_get, "cuCtxGetCurrent") &&
           SYM(ctx_set, "cuCtxSetCurrent") && SYM(device_get, "cuDeviceGet") &&
           SYM(primary_retain, "cuDevicePrimaryCtxRetain") &&
           SYM(attribute, "cuPointerGetAttribute") && SYM(mem_alloc, "cuMemAlloc_v2") &&
           SYM(mem_free, "cuMemFree_v2") && SYM(host_alloc, "cuMemHostAlloc") &&
           SYM(host_free, "cuMemFreeHost") && SYM(copy, "cuMemcpyAsync") &&
           SYM(stream_create, "cuStreamCreate") && SYM(stream_sync, "cuStreamSynchronize");
}

/* Has the process loaded the CUDA driver? Looked up again only when objects were loaded
 * since the last look: a program without CUDA pays one walk step per call. */
int mpid_cuda_present(void)
{
    static unsigned long long seen = (unsigned long long) -1;
    unsigned long long adds = 0;
    void *lib;
    int found = 0;

    if (driver)
        return 1;
    dl_iterate_phdr(count_adds, &adds);
    if (adds == seen)
        return 0;
    pthread_mutex_lock(&lock);
    seen = adds;
    if (!driver && (lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD))) {
        if (bind(lib) && cu.init(0) == 0)
            found = 1;
        else
            driver = NULL;
    }
    pthread_mutex_unlock(&lock);
    return found || driver;
}

/* The primary context current on this thread, and our stream on it. */
static int ready(void)
{
    CUcontext ctx = NULL;
    CUdevice dev;

    if (cu.ctx_get(&ctx) == 0 && !ctx &&
        (cu.device_get(&dev, 0) || cu.primary_retain(&ctx, dev) || cu.ctx_set(ctx)))
        return 0;
    if (!stream) {
        pthread_mutex_lock(&lock);
        if (!stream)
            cu.stream_create(&stream, CU_STREAM_NON_BLOCKING);
        pthread_mutex_unlock(&lock);
    }
    return stream != NULL;
}

static int cuda_kind(const void *p)
{
    unsigned type = 0, managed = 0;

    if (cu.attribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, (CUdeviceptr) (uintptr_t) p))
        return MPID_HOST;
    if (type == CU_MEMORYTYPE_HOST)
        return MPID_PINNED;
    if (cu.attribute(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, (CUdeviceptr) (uintptr_t) p) == 0 &&
        managed)
        return MPID_MANAGED;
    return type == CU_MEMORYTYPE_DEVICE ? MPID_DEVICE : MPID_HOST;
}

static void *cuda_device_alloc(size_t n)
{
    CUdeviceptr p = 0;
    return ready() && cu.mem_alloc(&p, n ? n : 1) == 0 ? (void *) (uintptr_t) p : NULL;
}

static void cuda_device_free(void *p)
{
    cu.mem_free((CUdeviceptr) (uintptr_t) p);
}

static void *cuda_pinned_alloc(size_t n)
{
    void *p = NULL;
    return ready() && cu.host_alloc(&p, n ? n : 1, CU_MEMHOSTALLOC_PORTABLE |
                                    CU_MEMHOSTALLOC_DEVICEMAP) == 0 ? p : NULL;
}

static void cuda_pinned_free(void *p)
{
    cu.host_free(p);
}

static int cuda_copy(void *dst, const void *src, size_t n)
{
    return !ready() || cu.copy((CUdeviceptr) (uintptr_t) dst, (CUdeviceptr) (uintptr_t) src, n,
                               stream) != 0;
}

/* libmpicomm_cuda.so beside this library (the interposer's own folder). */
static void load_kernels(void)
{
    Dl_info self;
    char path[4096];
    const char *slash;
    void *lib;

    if (!dladdr((void *) load_kernels, &self) || !self.dli_fname ||
        !(slash = strrchr(self.dli_fname, '/')))
        return;
    snprintf(path, sizeof path, "%.*s/libmpicomm_cuda.so", (int) (slash - self.dli_fname),
             self.dli_fname);
    if ((lib = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
        *(void **) &kernel_launch = dlsym(lib, "mpik_cuda_launch");
}

static int cuda_launch(int unpack, const mpik_plan *p, int wi, const int64_t grid[3],
                       const int64_t block[3], const char *src, char *dst)
{
    pthread_once(&kernels_once, load_kernels);
    if (!kernel_launch || !ready())
        return 1;
    return kernel_launch(unpack, p->ndims, wi, grid, block, src, dst, p, stream) != 0;
}

static int cuda_sync(void)
{
    return !ready() || cu.stream_sync(stream) != 0;
}

/* Whether the kernels were built and load. */
static int cuda_kernels(void)
{
    pthread_once(&kernels_once, load_kernels);
    return kernel_launch != NULL;
}

const mpid_backend mpid_cuda_backend = {
    .name = "cuda",
    .kind = cuda_kind,
    .device_alloc = cuda_device_alloc,
    .device_free = cuda_device_free,
    .pinned_alloc = cuda_pinned_alloc,
    .pinned_free = cuda_pinned_free,
    .copy = cuda_copy,
    .launch = cuda_launch,
    .sync = cuda_sync,
    .kernels = cuda_kernels,
};
