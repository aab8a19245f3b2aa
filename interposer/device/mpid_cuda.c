/*
 * The device backend over the CUDA driver: the real one (libcuda.so.1, looked up only
 * once the process has loaded it itself: CuPy, PyTorch or the program's own CUDA code)
 * or the simulated one (MPICOMM_DEVICE=sim, mpid_sim.c). Either way this file is what
 * runs, so CI tests the contexts, streams and the probe that a GPU runs.
 *
 * - Devices: the device of a buffer is the pointer's own (CU_POINTER_ATTRIBUTE_DEVICE_
 *   ORDINAL), not the thread's current one. Work for device d runs in d's primary
 *   context, pushed for the call and popped after it, so the program's current context
 *   (and the CUDA runtime's current device) is never changed; each device has a stream
 *   of its own (and pools, mpid.c).
 * - Order: the streams are created with flags 0, so they are ordered after the legacy
 *   default stream (cupy.asarray, PyTorch's default stream) as a CUDA-aware MPI is: a
 *   send reads what the program's earlier work on that stream wrote, and the program's
 *   later work on it sees what a receive wrote. Work on streams of the program's own
 *   with CU_STREAM_NON_BLOCKING must be synchronised by the program before the call.
 * - Reset: a program's cudaDeviceReset destroys the primary context with our stream and
 *   memory in it; the next call finds the context inactive and starts over.
 * - Kernels: libmpicomm_cuda.so, probed once: the driver must support the CUDA version
 *   the kernels were built with, and a trial launch must run. Otherwise device buffers
 *   are packed through host memory, and one warning says why.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "mpid.h"
#include "mpid_driver.h"
#include "mpid_internal.h"

typedef struct dev_state {
    CUcontext ctx;                  /* the device's primary context, retained */
    CUstream stream;
    int ready;                      /* both made (read without the lock) */
} dev_state;

static mpid_driver cu;
static int published;               /* 0: no driver; MPID_REAL or MPID_SIM once cu is whole */
static dev_state devs[MPID_MAX_DEVICES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static enum { UNPROBED, PROBED_OK, PROBED_BAD } kernels_state = UNPROBED;

/* 1. Error text: the driver's name for a result. */
static int cu_fail(const char *what, CUresult r)
{
    const char *name = NULL;

    if (cu.error_name)
        cu.error_name(r, &name);
    return mpid_fail("%s (%s)", what, name ? name : "unknown CUDA error");
}

/* 2. Which driver. The table is filled and initialised before it is published. */
static int count_adds(struct dl_phdr_info *info, size_t size, void *out)
{
    (void) size;
    *(unsigned long long *) out = info->dlpi_adds;
    return 1;
}

#define SYM(field, name) (*(void **) &d->field = dlsym(lib, name))

static int bind_real(mpid_driver *d, void *lib)
{
    return SYM(init, "cuInit") && SYM(driver_version, "cuDriverGetVersion") &&
           SYM(error_name, "cuGetErrorName") && SYM(device_count, "cuDeviceGetCount") &&
           SYM(device_get, "cuDeviceGet") && SYM(primary_retain, "cuDevicePrimaryCtxRetain") &&
           SYM(primary_release, "cuDevicePrimaryCtxRelease_v2") &&
           SYM(primary_state, "cuDevicePrimaryCtxGetState") &&
           SYM(ctx_push, "cuCtxPushCurrent_v2") && SYM(ctx_pop, "cuCtxPopCurrent_v2") &&
           SYM(attribute, "cuPointerGetAttribute") && SYM(mem_alloc, "cuMemAlloc_v2") &&
           SYM(mem_free, "cuMemFree_v2") && SYM(host_alloc, "cuMemHostAlloc") &&
           SYM(host_free, "cuMemFreeHost") && SYM(copy, "cuMemcpyAsync") &&
           SYM(stream_create, "cuStreamCreate") && SYM(stream_destroy, "cuStreamDestroy_v2") &&
           SYM(stream_sync, "cuStreamSynchronize") && SYM(stream_query, "cuStreamQuery");
}

static void publish(const mpid_driver *d, int which)
{
    cu = *d;
    __atomic_store_n(&published, which, __ATOMIC_RELEASE);
}

int mpid_cuda_start_sim(void)
{
    mpid_driver d = { 0 };

    pthread_mutex_lock(&lock);
    if (!published) {
        mpid_sim_driver(&d);
        if (d.init(0) == CUDA_SUCCESS)
            publish(&d, MPID_SIM);
    }
    pthread_mutex_unlock(&lock);
    return __atomic_load_n(&published, __ATOMIC_ACQUIRE);
}

/* Has the process loaded the CUDA driver? Looked up again only when objects were loaded
 * since the last look, and that is asked at most once a millisecond (the coarse clock's
 * tick): the walk takes the loader's lock, tens of nanoseconds on every MPI call of a
 * program without CUDA otherwise. No device buffer can reach MPI within a millisecond
 * of the driver's loading: the driver must first be initialised (cuInit) and a context
 * made, which take far longer. */
int mpid_cuda_present(void)
{
    static unsigned long long seen = (unsigned long long) -1;
    static long long looked = -1;
    unsigned long long adds = 0;
    struct timespec now;
    long long ms;
    void *lib;

    if (__atomic_load_n(&published, __ATOMIC_ACQUIRE))
        return 1;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
    ms = (long long) now.tv_sec * 1000 + now.tv_nsec / 1000000;
    if (ms == __atomic_load_n(&looked, __ATOMIC_RELAXED))
        return 0;
    __atomic_store_n(&looked, ms, __ATOMIC_RELAXED);
    dl_iterate_phdr(count_adds, &adds);
    if (adds == __atomic_load_n(&seen, __ATOMIC_RELAXED))
        return 0;
    pthread_mutex_lock(&lock);
    __atomic_store_n(&seen, adds, __ATOMIC_RELAXED);
    if (!published && (lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD))) {
        mpid_driver d = { 0 };      /* zeroed on this rare path only */

        if (bind_real(&d, lib) && d.init(0) == CUDA_SUCCESS)
            publish(&d, MPID_REAL);
        else
            dlclose(lib);
    }
    pthread_mutex_unlock(&lock);
    return __atomic_load_n(&published, __ATOMIC_ACQUIRE) != 0;
}

int mpid_cuda_which(void)
{
    return __atomic_load_n(&published, __ATOMIC_ACQUIRE);
}

/* 3. Device d's primary context current on this thread (pushed), with our stream.
 * A program's cudaDeviceReset takes our stream and pooled memory with it, even where the
 * program has made the context anew since: mpid_cuda_check, at the start of each
 * operation, finds the context inactive or the stream unknown to the driver, and
 * forgets them (they are not freed) to be made anew. */
static void check_locked(int dev)
{
    dev_state *s = &devs[dev];
    CUcontext popped;
    CUresult r = CUDA_SUCCESS;
    unsigned flags = 0;
    int alive = 0;

    if (!s->ctx)
        return;
    if (cu.primary_state(dev, &flags, &alive) != CUDA_SUCCESS || !alive)
        r = CUDA_ERROR_CONTEXT_IS_DESTROYED;
    else if (s->stream && (r = cu.ctx_push(s->ctx)) == CUDA_SUCCESS) {
        r = cu.stream_query(s->stream);
        cu.ctx_pop(&popped);
    }
    if (r != CUDA_SUCCESS && r != CUDA_ERROR_NOT_READY) {
        __atomic_store_n(&s->ready, 0, __ATOMIC_RELEASE);
        mpid_pools_forget(dev);
        s->ctx = NULL;
        s->stream = NULL;
    }
}

void mpid_cuda_check(int dev)
{
    if (dev < 0 || dev >= MPID_MAX_DEVICES || !mpid_cuda_which() ||
        !__atomic_load_n(&devs[dev].ready, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&lock);
    check_locked(dev);
    pthread_mutex_unlock(&lock);
}

static int enter(int dev)
{
    dev_state *s;
    CUdevice handle;
    CUcontext popped;
    CUresult r = CUDA_SUCCESS;

    if (dev < 0 || dev >= MPID_MAX_DEVICES)
        return mpid_fail("device %d is not one the device layer can use", dev);
    s = &devs[dev];
    if (!__atomic_load_n(&s->ready, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&lock);
        if (!s->ctx && ((r = cu.device_get(&handle, dev)) != CUDA_SUCCESS ||
                        (r = cu.primary_retain(&s->ctx, handle)) != CUDA_SUCCESS))
            s->ctx = NULL;
        if (s->ctx && !s->stream && (r = cu.ctx_push(s->ctx)) == CUDA_SUCCESS) {
            if ((r = cu.stream_create(&s->stream, CU_STREAM_DEFAULT)) != CUDA_SUCCESS)
                s->stream = NULL;
            cu.ctx_pop(&popped);
        }
        __atomic_store_n(&s->ready, s->ctx && s->stream, __ATOMIC_RELEASE);
        pthread_mutex_unlock(&lock);
        if (r != CUDA_SUCCESS)
            return cu_fail("the device's context or stream could not be had", r);
    }
    if ((r = cu.ctx_push(s->ctx)) != CUDA_SUCCESS)
        return cu_fail("the device's context could not be made current", r);
    return 0;
}

static void leave(void)
{
    CUcontext popped;
    cu.ctx_pop(&popped);
}

/* 4. Memory. */
int mpid_cuda_where(const void *p, int *dev)
{
    unsigned type = 0, managed = 0;
    int ordinal = -1;
    CUdeviceptr at = (CUdeviceptr) (uintptr_t) p;

    *dev = -1;
    if (cu.attribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, at) != CUDA_SUCCESS)
        return MPID_HOST;
    if (type == CU_MEMORYTYPE_HOST)
        return MPID_PINNED;
    if (type != CU_MEMORYTYPE_DEVICE ||
        cu.attribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, at) != CUDA_SUCCESS)
        return MPID_HOST;
    *dev = ordinal;
    if (cu.attribute(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, at) == CUDA_SUCCESS && managed)
        return MPID_MANAGED;
    return MPID_DEVICE;
}

void *mpid_cuda_alloc(int dev, size_t n, int pinned)
{
    CUdeviceptr d = 0;
    void *p = NULL;
    CUresult r;

    if (enter(dev))
        return NULL;
    r = pinned ? cu.host_alloc(&p, n ? n : 1, CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP)
               : cu.mem_alloc(&d, n ? n : 1);
    leave();
    if (r != CUDA_SUCCESS) {
        cu_fail(pinned ? "pinned host memory could not be allocated"
                       : "device memory could not be allocated", r);
        return NULL;
    }
    mpid_count(MPID_STAT_device_allocs);
    return pinned ? p : (void *) (uintptr_t) d;
}

void mpid_cuda_free(int dev, void *p, int pinned)
{
    if (enter(dev))
        return;
    if (pinned)
        cu.host_free(p);
    else
        cu.mem_free((CUdeviceptr) (uintptr_t) p);
    leave();
}

/* 5. Work on device dev's stream. */
int mpid_cuda_copy(int dev, void *dst, const void *src, size_t n)
{
    CUresult r;

    if (enter(dev))
        return 1;
    r = cu.copy((CUdeviceptr) (uintptr_t) dst, (CUdeviceptr) (uintptr_t) src, n, devs[dev].stream);
    leave();
    return r != CUDA_SUCCESS ? cu_fail("a copy between host and device failed", r) : 0;
}

int mpid_cuda_sync(int dev)
{
    CUresult r;

    if (enter(dev))
        return 1;
    r = cu.stream_sync(devs[dev].stream);
    leave();
    return r != CUDA_SUCCESS ? cu_fail("the device's work failed", r) : 0;
}

static int kernel_fail(const char *what, int err)
{
    const char *name = cu.kernel_error_name ? cu.kernel_error_name(err) : NULL;
    return mpid_fail("%s (%s)", what, name ? name : "unknown CUDA error");
}

int mpid_cuda_launch(int dev, int unpack, const mpik_plan *p, int wi, const int64_t grid[3],
                     const int64_t block[3], const char *src, char *dst)
{
    int err;

    if (enter(dev))
        return 1;
    err = cu.launch(unpack, p->ndims, wi, grid, block, src, dst, p, devs[dev].stream);
    leave();
    if (err)
        return kernel_fail("a kernel launch failed", err);
    mpid_count(MPID_STAT_kernel_launches);
    return 0;
}

int mpid_cuda_merge(int dev, char *dst, const char *src, const unsigned char *mask, int64_t n)
{
    int err;

    if (enter(dev))
        return 1;
    err = cu.merge(dst, src, mask, n, devs[dev].stream);
    leave();
    if (err)
        return kernel_fail("a kernel launch failed", err);
    mpid_count(MPID_STAT_kernel_launches);
    return 0;
}

/* 6. The kernels: loaded and probed once. */
static char kernels_why[8192];

static int load_kernels(mpid_driver *d)
{
    Dl_info self;
    char path[4096];
    const char *slash;
    void *lib;

    if (!dladdr((void *) load_kernels, &self) || !self.dli_fname ||
        !(slash = strrchr(self.dli_fname, '/')))
        return 0;
    snprintf(path, sizeof path, "%.*s/libmpicomm_cuda.so", (int) (slash - self.dli_fname),
             self.dli_fname);
    if (access(path, F_OK))
        return 0;                           /* built without nvcc: mpicomm info says so */
    if (!(lib = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
        const char *e = dlerror();
        snprintf(kernels_why, sizeof kernels_why, "%s did not load: %s", path,
                 e ? e : "no reason given");
        return 0;
    }
    if (!SYM(launch, "mpik_cuda_launch") || !SYM(merge, "mpik_cuda_merge") ||
        !SYM(runtime_version, "mpik_cuda_runtime_version") ||
        !SYM(kernel_error_name, "mpik_cuda_error_name")) {
        snprintf(kernels_why, sizeof kernels_why, "%s lacks an entry point (%s)", path,
                 dlerror());
        return 0;
    }
    return 1;
}

/* A one-byte pack on device dev, waited for: 1 when it ran, 0 when it failed, -1 when
 * it could not be tried (no device memory now). */
static int trial(int dev)
{
    mpik_plan p = { .ndims = 1, .block = 1, .outer = 1, .counts = { 1 } };
    int64_t one[3] = { 1, 1, 1 };
    char *buf = mpid_cuda_alloc(dev, 2, 0);
    int err;

    if (!buf)
        return -1;
    if (!(err = enter(dev))) {
        CUresult r;
        if ((err = cu.launch(0, 1, MPIK_NWIDTHS - 1, one, one, buf, buf + 1, &p,
                             devs[dev].stream)))
            kernel_fail("a trial launch failed", err);
        else if ((r = cu.stream_sync(devs[dev].stream)) != CUDA_SUCCESS)
            err = cu_fail("a trial kernel failed", r);
        leave();
    }
    if (err)
        snprintf(kernels_why, sizeof kernels_why, "%s", mpid_error());
    mpid_cuda_free(dev, buf, 0);
    return err == 0;
}

int mpid_cuda_kernels(int dev)
{
    mpid_driver d = cu;
    int driver = 0, runtime = 0, ok = 0, state;

    if ((state = __atomic_load_n(&kernels_state, __ATOMIC_ACQUIRE)) != UNPROBED)
        return state == PROBED_OK;
    pthread_mutex_lock(&lock);
    if (kernels_state != UNPROBED) {
        pthread_mutex_unlock(&lock);
        return kernels_state == PROBED_OK;
    }
    /* 1. The library (built in, for the simulated driver), 2. the CUDA versions of
     * driver and kernels, 3. a trial launch. */
    if (d.launch || load_kernels(&d)) {
        cu.launch = d.launch;
        cu.merge = d.merge;
        cu.runtime_version = d.runtime_version;
        cu.kernel_error_name = d.kernel_error_name;
        runtime = cu.runtime_version();
        if (cu.driver_version(&driver) == CUDA_SUCCESS && driver < runtime)
            snprintf(kernels_why, sizeof kernels_why, "the kernels were built with CUDA %d.%d, "
                     "the driver supports CUDA %d.%d", runtime / 1000, runtime % 1000 / 10,
                     driver / 1000, driver % 1000 / 10);
        else
            ok = 1;
    }
    pthread_mutex_unlock(&lock);
    if (ok && (ok = trial(dev)) < 0)
        return 0;                           /* asked again next time */
    __atomic_store_n(&kernels_state, ok ? PROBED_OK : PROBED_BAD, __ATOMIC_RELEASE);
    if (!ok && kernels_why[0])
        mpid_warn("the device kernels cannot run: %s; device buffers are packed through host "
                  "memory", kernels_why);
    return ok;
}

const char *mpid_cuda_kernels_status(void)
{
    switch (__atomic_load_n(&kernels_state, __ATOMIC_ACQUIRE)) {
    case PROBED_OK:
        return "ok";
    case PROBED_BAD:
        return kernels_why[0] ? kernels_why : "not built (no nvcc at build)";
    default:
        return "not probed yet (no device buffer packed so far)";
    }
}

/* 7. The end: each device's stream and context let go of, in that context. */
void mpid_cuda_release(void)
{
    unsigned flags;
    int alive;

    if (!mpid_cuda_which())
        return;
    pthread_mutex_lock(&lock);
    for (int dev = 0; dev < MPID_MAX_DEVICES; dev++) {
        dev_state *s = &devs[dev];
        if (!s->ctx)
            continue;
        if (cu.primary_state(dev, &flags, &alive) == CUDA_SUCCESS && alive && s->stream &&
            cu.ctx_push(s->ctx) == CUDA_SUCCESS) {
            CUcontext popped;
            cu.stream_sync(s->stream);
            cu.stream_destroy(s->stream);
            cu.ctx_pop(&popped);
        }
        cu.primary_release(dev);
        __atomic_store_n(&s->ready, 0, __ATOMIC_RELEASE);
        s->ctx = NULL;
        s->stream = NULL;
    }
    pthread_mutex_unlock(&lock);
}
