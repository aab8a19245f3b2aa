/*
 * The simulated device (MPICOMM_DEVICE=sim): the device path without a GPU, so that CI
 * runs it against the real MPI.
 *
 * - Memory: device memory is host memory mapped with no access at all, allocated here
 *   (mpicomm_device_alloc, which mpicomm.device calls) and readable only while the
 *   simulated stream runs. The MPI, or any code of the interposer's that forgets the
 *   device, faults on it as a program faults on a GPU pointer. A guard page follows each
 *   allocation. New memory holds a pattern, not zeros.
 * - Stream: copies and kernel launches are queued and run only at synchronisation, so
 *   a missing synchronisation shows up as wrong bytes, not as luck.
 * - Kernels: the bodies generated for the GPU (mpik_kernels.h) run under a grid
 *   emulation harness: every block and thread of the launch's grid in turn. The harness
 *   checks what a GPU would not forgive or what a kernel must not do: launch limits,
 *   each access of width W W-aligned, each destination byte written at most once and
 *   every packed byte exactly once (shadow memory). A failed check ends the process
 *   with a message saying which.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "mpid.h"

#define PATTERN 0xa5

typedef struct region {
    char *base;
    size_t len;                     /* usable bytes, a multiple of the page size */
} region;

typedef struct op {
    int launch, unpack, wi;
    char *dst;
    const char *src;
    size_t n;
    mpik_plan plan;
    int64_t grid[3], block[3];
} op;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static region *regions;
static size_t nregions, cap_regions;
static op *queue;
static size_t nqueue, cap_queue;

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

/* 1. Memory. */
static size_t page(void)
{
    static size_t size;
    if (!size)
        size = (size_t) sysconf(_SC_PAGESIZE);
    return size;
}

static const region *find(const void *p)
{
    for (size_t i = 0; i < nregions; i++)
        if ((const char *) p >= regions[i].base &&
            (const char *) p < regions[i].base + regions[i].len)
            return &regions[i];
    return NULL;
}

static void protect(int access)
{
    for (size_t i = 0; i < nregions; i++)
        if (mprotect(regions[i].base, regions[i].len, access ? PROT_READ | PROT_WRITE : PROT_NONE))
            die("mprotect failed");
}

static int sim_kind(const void *p)
{
    int found;

    pthread_mutex_lock(&lock);
    found = find(p) != NULL;
    pthread_mutex_unlock(&lock);
    return found ? MPID_DEVICE : MPID_HOST;
}

static void *sim_device_alloc(size_t n)
{
    size_t len = (n + page() - 1) / page() * page();
    char *p;

    if (!len)
        len = page();
    p = mmap(NULL, len + page(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    memset(p, PATTERN, len);
    mprotect(p, len + page(), PROT_NONE);
    pthread_mutex_lock(&lock);
    if (grow((void **) &regions, &cap_regions, nregions, sizeof *regions)) {
        pthread_mutex_unlock(&lock);
        munmap(p, len + page());
        return NULL;
    }
    regions[nregions++] = (region) { p, len };
    pthread_mutex_unlock(&lock);
    return p;
}

static void sim_device_free(void *p)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < nregions; i++)
        if (regions[i].base == p) {
            munmap(p, regions[i].len + page());
            regions[i] = regions[--nregions];
            break;
        }
    pthread_mutex_unlock(&lock);
}

/* Pinned host memory is plain host memory here. */
static void *sim_pinned_alloc(size_t n)
{
    void *p = NULL;
    return posix_memalign(&p, 256, n ? n : 1) ? NULL : p;
}

/* 2. The stream. */
static int enqueue(const op *o)
{
    pthread_mutex_lock(&lock);
    if (grow((void **) &queue, &cap_queue, nqueue, sizeof *queue)) {
        pthread_mutex_unlock(&lock);
        return 1;
    }
    queue[nqueue++] = *o;
    pthread_mutex_unlock(&lock);
    return 0;
}

static int sim_copy(void *dst, const void *src, size_t n)
{
    op o = { .dst = dst, .src = src, .n = n };
    return enqueue(&o);
}

static int sim_launch(int unpack, const mpik_plan *p, int wi, const int64_t grid[3],
                      const int64_t block[3], const char *src, char *dst)
{
    op o = { .launch = 1, .unpack = unpack, .wi = wi, .dst = dst, .src = src, .plan = *p };

    memcpy(o.grid, grid, sizeof o.grid);
    memcpy(o.block, block, sizeof o.block);
    return enqueue(&o);
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

static void run_launch(const op *o)
{
    const mpik_plan *p = &o->plan;
    mpik_fn fn = o->unpack ? mpik_unpack_table[p->ndims - 1][o->wi]
                           : mpik_pack_table[p->ndims - 1][o->wi];
    int64_t total = p->block * (p->ndims >= 2 ? p->counts[1] : 1) * p->outer;
    char *hi;
    mpik_at at;

    check_shape(o);
    if (o->unpack)
        span(p, o->dst, &shadow.lo, &hi);
    else
        shadow.lo = o->dst, hi = o->dst + total;
    shadow.len = hi - shadow.lo;
    shadow.stores = 0;
    if (!(shadow.count = calloc((size_t) shadow.len, 1)))
        die("no memory for the shadow of a %lld-byte destination", (long long) shadow.len);
    at.grid = (mpik_dim3) { o->grid[0], o->grid[1], o->grid[2] };
    at.size = (mpik_dim3) { o->block[0], o->block[1], o->block[2] };
    for (at.block.z = 0; at.block.z < at.grid.z; at.block.z++)
        for (at.block.y = 0; at.block.y < at.grid.y; at.block.y++)
            for (at.block.x = 0; at.block.x < at.grid.x; at.block.x++)
                for (at.thread.z = 0; at.thread.z < at.size.z; at.thread.z++)
                    for (at.thread.y = 0; at.thread.y < at.size.y; at.thread.y++)
                        for (at.thread.x = 0; at.thread.x < at.size.x; at.thread.x++)
                            fn(&at, o->src, o->dst, p);
    if (shadow.stores != total)
        die("the kernel wrote %lld bytes of %lld", (long long) shadow.stores, (long long) total);
    free(shadow.count);
    shadow.count = NULL;
}

static int sim_sync(void)
{
    pthread_mutex_lock(&lock);
    protect(1);
    for (size_t i = 0; i < nqueue; i++) {
        if (queue[i].launch)
            run_launch(&queue[i]);
        else
            memmove(queue[i].dst, queue[i].src, queue[i].n);
    }
    nqueue = 0;
    protect(0);
    pthread_mutex_unlock(&lock);
    return 0;
}

static int sim_kernels(void)
{
    return 1;
}

const mpid_backend mpid_sim_backend = {
    .name = "sim",
    .kind = sim_kind,
    .device_alloc = sim_device_alloc,
    .device_free = sim_device_free,
    .pinned_alloc = sim_pinned_alloc,
    .pinned_free = free,
    .copy = sim_copy,
    .launch = sim_launch,
    .sync = sim_sync,
    .kernels = sim_kernels,
};

/* 4. For mpicomm.device (Python, through ctypes): the simulated device's memory, and a
 * copy that completes before it returns, as cudaMemcpy does. */
void *mpicomm_device_alloc(size_t n)
{
    return mpid_backend_active() == &mpid_sim_backend ? sim_device_alloc(n) : NULL;
}

void mpicomm_device_free(void *p)
{
    if (mpid_backend_active() == &mpid_sim_backend)
        sim_device_free(p);
}
