/*
 * The simulated CUDA driver (MPICOMM_DEVICE=sim): the device path without a GPU, so that
 * CI runs the interposer's CUDA backend (mpid_cuda.c) against the real MPI, and fails
 * where a GPU fails.
 *
 * - Devices: MPICOMM_SIM_DEVICES (default 1), each with its memory, primary context and
 *   legacy default stream. A thread has no current context until one is pushed; the
 *   kernels' library, as the CUDA runtime does, then takes device 0's, so a launch on
 *   another device's stream fails (cudaErrorInvalidResourceHandle).
 * - Memory: device memory is host memory mapped with no access at all, readable only
 *   while an operation of the simulated device runs: the MPI, or any code that forgets
 *   the device, faults on it as a program faults on a GPU pointer, and a kernel that
 *   touches another device's memory faults too (copies may cross devices). A guard page
 *   follows each allocation; new memory holds a pattern, not zeros.
 * - Streams: copies and launches are queued and run only at synchronisation, by CUDA's
 *   rules: a stream created with flags 0 is ordered after earlier work on its device's
 *   legacy stream and before later work there; a CU_STREAM_NON_BLOCKING stream with
 *   nothing. The program's own work (mpicomm.device: asarray, set, assignment, fill)
 *   goes on the legacy stream, so a stream ordered wrongly reads stale bytes. A copy
 *   from pageable host memory takes its bytes when queued, a copy to it completes
 *   before it returns, as CUDA's do.
 * - Kernels: the bodies generated for the GPU (mpik_kernels.h) run under a grid
 *   emulation harness: every block and thread of the launch's grid in turn. The harness
 *   checks what a GPU would not forgive or what a kernel must not do: launch limits,
 *   each access of width W W-aligned, each destination byte written at most once and
 *   every packed byte exactly once (shadow memory). A failed check ends the process
 *   with a message saying which.
 * - Failures: MPICOMM_SIM_FAIL=launch fails every kernel launch as a driver older than
 *   the kernels does (cudaErrorInsufficientDriver); =alloc fails the driver's device and
 *   pinned allocations (CUDA_ERROR_OUT_OF_MEMORY); both may be given, comma-separated.
 * - Reset: mpicomm_sim_reset(dev), as cudaDeviceReset, destroys the device's primary
 *   context, its streams, queued work and memory.
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "mpid.h"
#include "mpid_driver.h"
#include "mpid_internal.h"

#define PATTERN 0xa5
#define MAX_DEVICES 16
#define STACK 16
#define VERSION 13000                /* the CUDA version the simulated driver supports */
#define ERR_INSUFFICIENT_DRIVER 35   /* cudaError_t values of the simulated kernels */
#define ERR_INVALID_RESOURCE 400
#define CUDA_ERROR_INVALID_DEVICE 101

struct CUctx_st {
    int dev, active, retain, program;
};

struct CUstream_st {
    int dev, legacy, alive;
    unsigned flags;
};

typedef struct region {
    char *base;
    size_t len;                     /* usable bytes, a multiple of the page size */
    int dev, pinned, driver;        /* driver: allocated by a driver call (the interposer) */
} region;

enum { OP_COPY, OP_LAUNCH, OP_MERGE, OP_FILL };

typedef struct op {
    int what, unpack, wi;
    CUstream stream;
    char *dst;
    const char *src;
    const unsigned char *mask;
    char *owned;                    /* bytes taken when queued, freed when run */
    size_t n;
    mpik_plan plan;
    int64_t grid[3], block[3];
} op;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int ndev = 1, fail_launch, fail_alloc;
static struct CUctx_st prim[MAX_DEVICES];
static struct CUstream_st legacy[MAX_DEVICES];
static CUstream *streams;
static size_t nstreams, cap_streams;
static region *regions;
static size_t nregions, cap_regions;
static op *queue;
static size_t nqueue, cap_queue;
static __thread CUcontext stack[STACK];
static __thread int depth;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    char line[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "mpicomm simulated device: %s\n", line);
    fflush(stderr);
    abort();
}

/* Room for one more of n items in *array (capacity *cap, doubled when full); 0 on success. */
static int grow(void **array, size_t *cap, size_t n, size_t item)
{
    size_t more = *cap ? 2 * *cap : 16;
    void *p;

    if (n < *cap)
        return 0;
    if (!(p = realloc(*array, more * item)))
        return 1;
    *array = p;
    *cap = more;
    return 0;
}

/* 1. Settings. */
static void settings(void)
{
    const char *v = getenv("MPICOMM_SIM_DEVICES"), *f = getenv("MPICOMM_SIM_FAIL");
    char *end = NULL;

    if (v && *v) {
        long n = strtol(v, &end, 10);
        if (*end || n < 1 || n > MAX_DEVICES)
            mpid_warn("MPICOMM_SIM_DEVICES=%s is not a number of devices from 1 to %d; using 1",
                      v, MAX_DEVICES);
        else
            ndev = (int) n;
    }
    if (f && *f) {
        char copy[64], *save = NULL;
        snprintf(copy, sizeof copy, "%s", f);
        for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
            if (!strcmp(w, "launch"))
                fail_launch = 1;
            else if (!strcmp(w, "alloc"))
                fail_alloc = 1;
            else
                mpid_warn("MPICOMM_SIM_FAIL=%s: %s is not one of launch, alloc; ignored", f, w);
        }
    }
    for (int d = 0; d < MAX_DEVICES; d++) {
        prim[d] = (struct CUctx_st) { .dev = d };
        legacy[d] = (struct CUstream_st) { .dev = d, .legacy = 1, .alive = 1 };
    }
}

/* 2. Memory. */
static size_t page(void)
{
    static size_t size;
    if (!size)
        size = (size_t) sysconf(_SC_PAGESIZE);
    return size;
}

static region *find(const void *p)
{
    for (size_t i = 0; i < nregions; i++)
        if ((const char *) p >= regions[i].base &&
            (const char *) p < regions[i].base + regions[i].len)
            return &regions[i];
    return NULL;
}

/* Device memory readable by the operations of device dev (-1: every device, a copy). */
static void protect(int dev, int access)
{
    for (size_t i = 0; i < nregions; i++)
        if (!regions[i].pinned && (dev < 0 || regions[i].dev == dev) &&
            mprotect(regions[i].base, regions[i].len, access ? PROT_READ | PROT_WRITE : PROT_NONE))
            die("mprotect failed");
}

static void *region_new(int dev, size_t n, int pinned)
{
    size_t len = (n + page() - 1) / page() * page();
    char *p;

    if (!len)
        len = page();
    p = mmap(NULL, len + page(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    memset(p, PATTERN, len);
    mprotect(p + len, page(), PROT_NONE);
    if (!pinned)
        mprotect(p, len, PROT_NONE);
    if (grow((void **) &regions, &cap_regions, nregions, sizeof *regions)) {
        munmap(p, len + page());
        return NULL;
    }
    regions[nregions++] = (region) { p, len, dev, pinned, 0 };
    return p;
}

static int region_free(void *p)
{
    for (size_t i = 0; i < nregions; i++)
        if (regions[i].base == p) {
            munmap(p, regions[i].len + page());
            regions[i] = regions[--nregions];
            return 0;
        }
    return 1;
}

/* 3. The harness. Shadow memory over the launch's destination: a count per byte. */
static struct {
    char *lo;
    int64_t len, stores;
    unsigned char *count;
} shadow;

void mpik_emu_copy(int width, char *dst, const char *src)
{
    if (((uintptr_t) dst | (uintptr_t) src) & (uintptr_t) (width - 1))
        die("misaligned %d-byte access (to %p from %p)", width, (void *) dst, (const void *) src);
    if (dst < shadow.lo || dst + width > shadow.lo + shadow.len)
        die("a %d-byte store at %p falls outside the destination", width, (void *) dst);
    for (int i = 0; i < width; i++)
        if (++shadow.count[dst - shadow.lo + i] > 1)
            die("byte %lld of the destination written twice",
                (long long) (dst - shadow.lo + i));
    shadow.stores += width;
    memcpy(dst, src, (size_t) width);
}

/* The bytes the strided side of plan p spans from base: [lo, hi). */
static void span(const mpik_plan *p, char *base, char **lo, char **hi)
{
    int64_t down = 0, up = p->block;

    for (int i = 1; i < p->ndims; i++) {
        int64_t reach = (p->counts[i] - 1) * p->strides[i];
        if (reach < 0)
            down += reach;
        else
            up += reach;
    }
    *lo = base + down;
    *hi = base + up;
}

static void check_shape(const op *o)
{
    int64_t threads = o->block[0] * o->block[1] * o->block[2];

    for (int d = 0; d < 3; d++)
        if (o->grid[d] < 1 || o->block[d] < 1)
            die("launch with an empty grid or block dimension");
    if (threads > 1024 || o->block[0] > 1024 || o->block[1] > 1024 || o->block[2] > 64)
        die("launch of %lldx%lldx%lld threads per block exceeds CUDA's limits",
            (long long) o->block[0], (long long) o->block[1], (long long) o->block[2]);
    if (o->grid[0] > 2147483647LL || o->grid[1] > 65535 || o->grid[2] > 65535)
        die("grid of %lldx%lldx%lld blocks exceeds CUDA's limits", (long long) o->grid[0],
            (long long) o->grid[1], (long long) o->grid[2]);
}

/* A kernel that touches memory its device cannot reach ends the process, saying so. */
static void on_fault(int sig)
{
    static const char say[] = "mpicomm simulated device: a kernel touched memory its device "
                              "cannot reach (another device's, or freed)\n";
    (void) sig;
    if (write(2, say, sizeof say - 1) < 0)
        _exit(134);
    abort();
}

static void run_grid(const op *o, int64_t total)
{
    const mpik_plan *p = &o->plan;
    mpik_fn fn = o->what != OP_LAUNCH ? NULL
               : o->unpack ? mpik_unpack_table[p->ndims - 1][o->wi]
                           : mpik_pack_table[p->ndims - 1][o->wi];
    mpik_at at;

    at.grid = (mpik_dim3) { o->grid[0], o->grid[1], o->grid[2] };
    at.size = (mpik_dim3) { o->block[0], o->block[1], o->block[2] };
    for (at.block.z = 0; at.block.z < at.grid.z; at.block.z++)
        for (at.block.y = 0; at.block.y < at.grid.y; at.block.y++)
            for (at.block.x = 0; at.block.x < at.grid.x; at.block.x++)
                for (at.thread.z = 0; at.thread.z < at.size.z; at.thread.z++)
                    for (at.thread.y = 0; at.thread.y < at.size.y; at.thread.y++)
                        for (at.thread.x = 0; at.thread.x < at.size.x; at.thread.x++) {
                            if (o->what == OP_MERGE)
                                mpik_merge(&at, o->src, o->dst, o->mask, (int64_t) o->n);
                            else
                                fn(&at, o->src, o->dst, p);
                        }
    if (shadow.stores != total)
        die("the kernel wrote %lld bytes of %lld", (long long) shadow.stores, (long long) total);
}

static void run_kernel(const op *o)
{
    const mpik_plan *p = &o->plan;
    int64_t total = 0;
    char *hi;
    struct sigaction fault = { .sa_handler = on_fault }, was_segv, was_bus;

    check_shape(o);
    if (o->what == OP_MERGE) {
        shadow.lo = o->dst;
        hi = o->dst + o->n;
    } else if (o->unpack) {
        span(p, o->dst, &shadow.lo, &hi);
    } else {
        shadow.lo = o->dst;
        hi = o->dst + p->block * (p->ndims >= 2 ? p->counts[1] : 1) * p->outer;
    }
    shadow.len = hi - shadow.lo;
    shadow.stores = 0;
    if (!(shadow.count = calloc((size_t) shadow.len + 1, 1)))
        die("no memory for the shadow of a %lld-byte destination", (long long) shadow.len);
    if (o->what == OP_MERGE) {
        for (size_t i = 0; i < o->n; i++)
            total += o->mask[i] != 0;
    } else {
        total = p->block * (p->ndims >= 2 ? p->counts[1] : 1) * p->outer;
    }
    sigaction(SIGSEGV, &fault, &was_segv);
    sigaction(SIGBUS, &fault, &was_bus);
    run_grid(o, total);
    sigaction(SIGSEGV, &was_segv, NULL);
    sigaction(SIGBUS, &was_bus, NULL);
    free(shadow.count);
    shadow.count = NULL;
}

static void run_op(op *o)
{
    int dev = o->stream->dev;

    if (o->what == OP_COPY) {
        protect(-1, 1);
        memmove(o->dst, o->owned ? o->owned : o->src, o->n);
        protect(-1, 0);
    } else {
        protect(dev, 1);
        if (o->what == OP_FILL) {
            struct sigaction fault = { .sa_handler = on_fault }, was;
            sigaction(SIGSEGV, &fault, &was);
            memcpy(o->dst, o->owned, o->n);
            sigaction(SIGSEGV, &was, NULL);
        } else {
            run_kernel(o);
        }
        protect(dev, 0);
    }
    free(o->owned);
    o->owned = NULL;
}

/* 4. Streams. Which queued operations a stream's completion needs: its own, and by the
 * legacy stream's rules, on the same device, legacy work queued before a blocking
 * stream's, and blocking streams' work queued before legacy work. */
static int blocking(CUstream s)
{
    return !s->legacy && !(s->flags & CU_STREAM_NON_BLOCKING);
}

static int orders(const op *later, const op *earlier)
{
    CUstream a = later->stream, b = earlier->stream;

    return a == b ||
           (a->dev == b->dev && ((a->legacy && blocking(b)) || (blocking(a) && b->legacy)));
}

/* Run the marked operations in order and drop them from the queue. */
static void run_marked(unsigned char *mark)
{
    size_t kept = 0;

    for (size_t i = 0; i < nqueue; i++)
        if (mark[i])
            run_op(&queue[i]);
    for (size_t i = 0; i < nqueue; i++)
        if (!mark[i])
            queue[kept++] = queue[i];
    nqueue = kept;
}

static void run_stream(CUstream s)
{
    unsigned char *mark = calloc(nqueue + 1, 1);
    int more = 1;

    if (!mark)
        die("no memory to synchronise a stream");
    for (size_t i = 0; i < nqueue; i++)
        mark[i] = queue[i].stream == s;
    while (more) {
        more = 0;
        for (size_t i = nqueue; i-- > 0;)
            for (size_t k = 0; mark[i] && k < i; k++)
                if (!mark[k] && orders(&queue[i], &queue[k]))
                    mark[k] = 1, more = 1;
    }
    run_marked(mark);
    free(mark);
}

static void run_device(int dev)
{
    unsigned char *mark = calloc(nqueue + 1, 1);

    if (!mark)
        die("no memory to synchronise a device");
    for (size_t i = 0; i < nqueue; i++)
        mark[i] = queue[i].stream->dev == dev;
    run_marked(mark);
    free(mark);
}

static int enqueue(op *o)
{
    if (grow((void **) &queue, &cap_queue, nqueue, sizeof *queue)) {
        free(o->owned);
        return 1;
    }
    queue[nqueue++] = *o;
    return 0;
}

static CUcontext current(void)
{
    return depth ? stack[depth - 1] : NULL;
}

/* The stream a call names: NULL and CU_STREAM_LEGACY are the legacy stream of the
 * current context's device. */
static CUresult resolve(CUstream *s, CUcontext ctx)
{
    if (!*s || *s == CU_STREAM_LEGACY)
        *s = &legacy[ctx->dev];
    if (!(*s)->alive)
        return CUDA_ERROR_CONTEXT_IS_DESTROYED;
    return (*s)->dev == ctx->dev ? CUDA_SUCCESS : CUDA_ERROR_INVALID_HANDLE;
}

/* The stream a driver call names, in the current context (which it needs). */
static CUresult named(CUstream *s)
{
    CUcontext ctx = current();

    return ctx ? resolve(s, ctx) : CUDA_ERROR_INVALID_CONTEXT;
}

/* A copy on stream s: a pageable source taken now, a pageable destination waited for. */
static CUresult copy_on(CUstream s, char *dst, const char *src, size_t n)
{
    op o = { .what = OP_COPY, .stream = s, .dst = dst, .src = src, .n = n };

    if (!find(src)) {
        if (!(o.owned = malloc(n ? n : 1)))
            return CUDA_ERROR_OUT_OF_MEMORY;
        memcpy(o.owned, src, n);
    }
    if (enqueue(&o))
        return CUDA_ERROR_OUT_OF_MEMORY;
    if (!find(dst))
        run_stream(s);
    return CUDA_SUCCESS;
}

/* The reset of a device: everything of its context gone. */
static void deactivate(int dev)
{
    size_t kept = 0;

    for (size_t i = 0; i < nqueue; i++) {
        if (queue[i].stream->dev == dev)
            free(queue[i].owned);
        else
            queue[kept++] = queue[i];
    }
    nqueue = kept;
    for (size_t i = 0; i < nregions;) {
        if (regions[i].dev == dev)
            region_free(regions[i].base);
        else
            i++;
    }
    for (size_t i = 0; i < nstreams; i++)
        if (streams[i]->dev == dev)
            streams[i]->alive = 0;
    prim[dev].active = prim[dev].retain = prim[dev].program = 0;
}

/* 5. The driver's calls. */
#define LOCKED(body)                                                                       \
    do {                                                                                   \
        CUresult r_;                                                                       \
        pthread_mutex_lock(&lock);                                                         \
        r_ = (body);                                                                       \
        pthread_mutex_unlock(&lock);                                                       \
        return r_;                                                                         \
    } while (0)

static CUresult sim_init(unsigned flags)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    (void) flags;
    pthread_once(&once, settings);
    return CUDA_SUCCESS;
}

static CUresult sim_driver_version(int *v)
{
    *v = VERSION;
    return CUDA_SUCCESS;
}

static const char *name_of(int r)
{
    switch (r) {
    case CUDA_SUCCESS: return "CUDA_SUCCESS";
    case CUDA_ERROR_INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
    case CUDA_ERROR_OUT_OF_MEMORY: return "CUDA_ERROR_OUT_OF_MEMORY";
    case CUDA_ERROR_INVALID_DEVICE: return "CUDA_ERROR_INVALID_DEVICE";
    case CUDA_ERROR_INVALID_CONTEXT: return "CUDA_ERROR_INVALID_CONTEXT";
    case CUDA_ERROR_INVALID_HANDLE: return "CUDA_ERROR_INVALID_HANDLE";
    case CUDA_ERROR_CONTEXT_IS_DESTROYED: return "CUDA_ERROR_CONTEXT_IS_DESTROYED";
    default: return NULL;
    }
}

static CUresult sim_error_name(CUresult r, const char **name)
{
    *name = name_of(r);
    return *name ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

static CUresult sim_device_count(int *n)
{
    *n = ndev;
    return CUDA_SUCCESS;
}

static CUresult sim_device_get(CUdevice *d, int ordinal)
{
    if (ordinal < 0 || ordinal >= ndev)
        return CUDA_ERROR_INVALID_DEVICE;
    *d = ordinal;
    return CUDA_SUCCESS;
}

static CUresult retain(CUcontext *ctx, CUdevice d)
{
    if (d < 0 || d >= ndev)
        return CUDA_ERROR_INVALID_DEVICE;
    prim[d].active = 1;
    prim[d].retain++;
    *ctx = &prim[d];
    return CUDA_SUCCESS;
}

static CUresult sim_primary_retain(CUcontext *ctx, CUdevice d)
{
    LOCKED(retain(ctx, d));
}

static CUresult release(CUdevice d)
{
    if (d < 0 || d >= ndev)
        return CUDA_ERROR_INVALID_DEVICE;
    if (prim[d].retain > 0 && --prim[d].retain == 0 && !prim[d].program)
        deactivate(d);
    return CUDA_SUCCESS;
}

static CUresult sim_primary_release(CUdevice d)
{
    LOCKED(release(d));
}

static CUresult sim_primary_state(CUdevice d, unsigned *flags, int *active)
{
    if (d < 0 || d >= ndev)
        return CUDA_ERROR_INVALID_DEVICE;
    *flags = 0;
    *active = __atomic_load_n(&prim[d].active, __ATOMIC_RELAXED);
    return CUDA_SUCCESS;
}

static CUresult sim_ctx_push(CUcontext ctx)
{
    if (!ctx || !ctx->active)
        return CUDA_ERROR_INVALID_CONTEXT;
    if (depth == STACK)
        die("more than %d contexts pushed on one thread", STACK);
    stack[depth++] = ctx;
    return CUDA_SUCCESS;
}

static CUresult sim_ctx_pop(CUcontext *ctx)
{
    if (!depth)
        return CUDA_ERROR_INVALID_CONTEXT;
    *ctx = stack[--depth];
    return CUDA_SUCCESS;
}

static CUresult attribute(void *out, int attr, const void *p)
{
    const region *r = find(p);

    if (!r)
        return CUDA_ERROR_INVALID_VALUE;
    if (attr == CU_POINTER_ATTRIBUTE_MEMORY_TYPE)
        *(unsigned *) out = r->pinned ? CU_MEMORYTYPE_HOST : CU_MEMORYTYPE_DEVICE;
    else if (attr == CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL)
        *(int *) out = r->dev;
    else if (attr == CU_POINTER_ATTRIBUTE_IS_MANAGED)
        *(unsigned *) out = 0;
    else
        return CUDA_ERROR_INVALID_VALUE;
    return CUDA_SUCCESS;
}

static CUresult sim_attribute(void *out, int attr, CUdeviceptr p)
{
    LOCKED(attribute(out, attr, (const void *) (uintptr_t) p));
}

static CUresult alloc(void **p, size_t n, int pinned)
{
    CUcontext ctx = current();

    if (!ctx)
        return CUDA_ERROR_INVALID_CONTEXT;
    if (fail_alloc)
        return CUDA_ERROR_OUT_OF_MEMORY;
    if (!(*p = region_new(ctx->dev, n, pinned)))
        return CUDA_ERROR_OUT_OF_MEMORY;
    regions[nregions - 1].driver = 1;
    return CUDA_SUCCESS;
}

/* cuMemFree and cuMemFreeHost need a current context, as CUDA's do. */
static CUresult driver_free(void *p)
{
    if (!current())
        return CUDA_ERROR_INVALID_CONTEXT;
    return region_free(p) ? CUDA_ERROR_INVALID_VALUE : CUDA_SUCCESS;
}

static CUresult sim_mem_alloc(CUdeviceptr *p, size_t n)
{
    void *q = NULL;
    CUresult r;

    pthread_mutex_lock(&lock);
    r = alloc(&q, n, 0);
    pthread_mutex_unlock(&lock);
    *p = (CUdeviceptr) (uintptr_t) q;
    return r;
}

static CUresult sim_mem_free(CUdeviceptr p)
{
    LOCKED(driver_free((void *) (uintptr_t) p));
}

static CUresult sim_host_alloc(void **p, size_t n, unsigned flags)
{
    (void) flags;
    LOCKED(alloc(p, n, 1));
}

static CUresult sim_host_free(void *p)
{
    LOCKED(driver_free(p));
}

static CUresult copy(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
    CUresult r = named(&s);

    if (r != CUDA_SUCCESS)
        return r;
    return copy_on(s, (char *) (uintptr_t) dst, (const char *) (uintptr_t) src, n);
}

static CUresult sim_copy(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s)
{
    LOCKED(copy(dst, src, n, s));
}

static CUresult stream_create(CUstream *s, unsigned flags)
{
    CUcontext ctx = current();
    CUstream made;

    if (!ctx)
        return CUDA_ERROR_INVALID_CONTEXT;
    if (grow((void **) &streams, &cap_streams, nstreams, sizeof *streams) ||
        !(made = calloc(1, sizeof *made)))
        return CUDA_ERROR_OUT_OF_MEMORY;
    *made = (struct CUstream_st) { .dev = ctx->dev, .alive = 1, .flags = flags };
    streams[nstreams++] = made;
    *s = made;
    return CUDA_SUCCESS;
}

static CUresult sim_stream_create(CUstream *s, unsigned flags)
{
    LOCKED(stream_create(s, flags));
}

static CUresult stream_destroy(CUstream s)
{
    for (size_t i = 0; i < nstreams; i++)
        if (streams[i] == s) {
            if (s->alive)
                run_stream(s);
            streams[i] = streams[--nstreams];
            free(s);
            return CUDA_SUCCESS;
        }
    return CUDA_ERROR_INVALID_HANDLE;
}

static CUresult sim_stream_destroy(CUstream s)
{
    LOCKED(stream_destroy(s));
}

static CUresult stream_sync(CUstream s)
{
    CUresult r = named(&s);

    if (r == CUDA_SUCCESS)
        run_stream(s);
    return r;
}

static CUresult sim_stream_sync(CUstream s)
{
    LOCKED(stream_sync(s));
}

static CUresult stream_query(CUstream s)
{
    CUresult r = named(&s);

    for (size_t i = 0; r == CUDA_SUCCESS && i < nqueue; i++)
        if (queue[i].stream == s)
            r = CUDA_ERROR_NOT_READY;
    return r;
}

static CUresult sim_stream_query(CUstream s)
{
    LOCKED(stream_query(s));
}

/* 6. The kernels' library, as the CUDA runtime runs it: the current context, or with
 * none device 0's primary context (made current as cudart does). */
static int kernel_op(op *o, void *stream)
{
    CUcontext ctx = current();
    CUstream s = stream;

    if (!ctx) {
        retain(&ctx, 0);
        stack[depth++] = ctx;
    }
    if (fail_launch)
        return ERR_INSUFFICIENT_DRIVER;
    if (resolve(&s, ctx) != CUDA_SUCCESS)
        return ERR_INVALID_RESOURCE;
    o->stream = s;
    return enqueue(o) ? CUDA_ERROR_OUT_OF_MEMORY : 0;
}

static int sim_launch(int unpack, int ndims, int wi, const int64_t grid[3],
                      const int64_t block[3], const char *src, char *dst, const mpik_plan *p,
                      void *stream)
{
    op o = { .what = OP_LAUNCH, .unpack = unpack, .wi = wi, .dst = dst, .src = src, .plan = *p };

    (void) ndims;
    memcpy(o.grid, grid, sizeof o.grid);
    memcpy(o.block, block, sizeof o.block);
    LOCKED(kernel_op(&o, stream));
}

static int sim_merge(char *dst, const char *src, const unsigned char *mask, int64_t n,
                     void *stream)
{
    int64_t blocks = (n + 255) / 256;
    op o = { .what = OP_MERGE, .dst = dst, .src = src, .mask = mask, .n = (size_t) n,
             .grid = { blocks < 1 ? 1 : blocks > 65535 ? 65535 : blocks, 1, 1 },
             .block = { 256, 1, 1 } };

    LOCKED(kernel_op(&o, stream));
}

static int sim_runtime_version(void)
{
    return VERSION;
}

static const char *sim_kernel_error_name(int err)
{
    return err == ERR_INSUFFICIENT_DRIVER ? "cudaErrorInsufficientDriver"
         : err == ERR_INVALID_RESOURCE ? "cudaErrorInvalidResourceHandle"
         : err == 0 ? "cudaSuccess" : "cudaErrorUnknown";
}

void mpid_sim_driver(mpid_driver *d)
{
    *d = (mpid_driver) {
        .init = sim_init, .driver_version = sim_driver_version, .error_name = sim_error_name,
        .device_count = sim_device_count, .device_get = sim_device_get,
        .primary_retain = sim_primary_retain, .primary_release = sim_primary_release,
        .primary_state = sim_primary_state, .ctx_push = sim_ctx_push, .ctx_pop = sim_ctx_pop,
        .attribute = sim_attribute, .mem_alloc = sim_mem_alloc, .mem_free = sim_mem_free,
        .host_alloc = sim_host_alloc, .host_free = sim_host_free, .copy = sim_copy,
        .stream_create = sim_stream_create, .stream_destroy = sim_stream_destroy,
        .stream_sync = sim_stream_sync, .stream_query = sim_stream_query, .launch = sim_launch,
        .merge = sim_merge,
        .runtime_version = sim_runtime_version, .kernel_error_name = sim_kernel_error_name,
    };
}

/* 7. The program's side, as the CUDA runtime and CuPy give it (mpicomm.device, through
 * ctypes): memory, and work on a device's legacy stream. 0 on success. */
static int sim_on(void)
{
    return !strcmp(mpid_backend_name(), "sim");
}

int mpicomm_sim_devices(void)
{
    return sim_on() ? ndev : 0;
}

void *mpicomm_sim_alloc(int dev, size_t n)
{
    void *p = NULL;

    if (!sim_on() || dev < 0 || dev >= ndev)
        return NULL;
    pthread_mutex_lock(&lock);
    prim[dev].program = prim[dev].active = 1;      /* the runtime holds the primary context */
    p = region_new(dev, n, 0);
    pthread_mutex_unlock(&lock);
    return p;
}

/* As cudaFree: the device's work done first. */
void mpicomm_sim_free(void *p)
{
    region *r;

    if (!sim_on())
        return;
    pthread_mutex_lock(&lock);
    if ((r = find(p)) && r->base == p) {
        run_device(r->dev);
        region_free(p);
    }
    pthread_mutex_unlock(&lock);
}

int mpicomm_sim_copy_async(int dev, void *dst, const void *src, size_t n)
{
    if (!sim_on() || dev < 0 || dev >= ndev)
        return 1;
    LOCKED(copy_on(&legacy[dev], dst, src, n) != CUDA_SUCCESS);
}

/* n bytes at dst set to a value of width bytes repeated (a fill kernel). */
int mpicomm_sim_fill_async(int dev, void *dst, const void *value, size_t width, size_t n)
{
    op o = { .what = OP_FILL, .stream = &legacy[dev < 0 ? 0 : dev], .dst = dst, .n = n };

    if (!sim_on() || dev < 0 || dev >= ndev || !width || !(o.owned = malloc(n ? n : 1)))
        return 1;
    for (size_t i = 0; i < n; i++)
        o.owned[i] = ((const char *) value)[i % width];
    LOCKED(enqueue(&o));
}

int mpicomm_sim_synchronize(int dev)
{
    if (!sim_on() || dev < 0 || dev >= ndev)
        return 1;
    LOCKED((run_device(dev), 0));
}

int mpicomm_sim_reset(int dev)
{
    if (!sim_on() || dev < 0 || dev >= ndev)
        return 1;
    LOCKED((deactivate(dev), 0));
}

int mpicomm_sim_pending(void)
{
    LOCKED((int) nqueue);
}

/* Allocations made by driver calls (the interposer's) and not freed. */
static int live(void)
{
    int n = 0;

    for (size_t i = 0; i < nregions; i++)
        n += regions[i].driver;
    return n;
}

int mpicomm_sim_live(void)
{
    LOCKED(live());
}

/* For the harness's own tests: a launch run at once, as queued by the stream. */
void mpid_sim_run_launch(int unpack, const mpik_plan *p, int wi, const int64_t grid[3],
                         const int64_t block[3], const char *src, char *dst)
{
    op o = { .what = OP_LAUNCH, .unpack = unpack, .wi = wi, .dst = dst, .src = src,
             .plan = *p, .stream = &legacy[0] };

    memcpy(o.grid, grid, sizeof o.grid);
    memcpy(o.block, block, sizeof o.block);
    pthread_mutex_lock(&lock);
    run_op(&o);
    pthread_mutex_unlock(&lock);
}
