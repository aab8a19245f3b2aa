/*
 * The device layer's common part: the active backend, the plan, width and launch shape
 * of a kernel, pools of pinned and device buffers, and the synchronous pack, unpack and
 * copy the wrappers call.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "mpic_internal.h"
#include "mpid.h"

#define THREADS 256             /* threads per block */
#define GRID_YZ 65535           /* CUDA's limits on gridDim.y and gridDim.z */
#define GRID_X 2147483647LL
#define BLOCK_Z 64              /* and on blockDim.z */
#define POOL_SLOTS 8
#define POOL_MIN 65536          /* pooled buffers are at least this, a power of two */

int mpid_cuda_present(void);

static __thread char why[256];

const char *mpid_error(void)
{
    return why;
}

static int fail(const char *what)
{
    snprintf(why, sizeof why, "%s", what);
    return 1;
}

/* 1. Which backend: MPICOMM_DEVICE=sim the simulated device; off none; cuda or unset the
 * CUDA backend once the process has loaded the CUDA driver (a library such as CuPy may
 * load it after MPI_Init), asked cheaply until it has. */
enum { UNSET, SIM, OFF, CUDA };
static int wanted = UNSET;
static const mpid_backend *active;

const mpid_backend *mpid_backend_active(void)
{
    if (active)
        return active;
    if (wanted == UNSET) {
        const char *v = getenv("MPICOMM_DEVICE");
        wanted = v && !strcasecmp(v, "sim") ? SIM : v && !strcasecmp(v, "off") ? OFF : CUDA;
    }
    if (wanted == SIM)
        active = &mpid_sim_backend;
    else if (wanted == CUDA && mpid_cuda_present())
        active = &mpid_cuda_backend;
    return active;
}

const char *mpid_backend_name(void)
{
    const mpid_backend *b = mpid_backend_active();
    return b ? b->name : "none";
}

int mpid_kind(const void *p)
{
    const mpid_backend *b = mpid_backend_active();
    return b && p ? b->kind(p) : MPID_HOST;
}

/* 2. Plans, widths, launch shapes. */
int mpid_plan(mpik_plan *out, int64_t *start, const mpic_desc *d, int64_t count)
{
    mpic_plan p;

    mpic_plan_make(&p, start, d, count);
    if (p.ndims > MPIK_MAX_LEVELS)
        return 0;
    out->ndims = p.ndims;
    out->block = p.block;
    out->outer = 1;
    for (int i = 0; i < p.ndims; i++) {
        out->counts[i] = p.counts[i];
        out->strides[i] = p.strides[i];
        if (i >= 2)
            out->outer *= p.counts[i];
    }
    return 1;
}

/* The largest width, up to 16, dividing both bases, the block and every stride: each
 * access of that width is aligned to it. */
int mpid_width(const mpik_plan *p, uintptr_t strided, uintptr_t packed)
{
    uint64_t bits = (uint64_t) strided | (uint64_t) packed | (uint64_t) p->block | 16;
    int wi = 0;

    for (int i = 1; i < p->ndims; i++)
        bits |= (uint64_t) p->strides[i];
    bits &= -bits;
    while (mpik_widths[wi] != (int) bits)
        wi++;
    return wi;
}

/* Are the blocks of count elements of d disjoint? Levels taken by stride: each must step
 * past everything the levels below it span. (Sufficient, not necessary: interleaved
 * layouts count as overlapping.) */
int mpid_disjoint(const mpic_desc *d, int64_t count)
{
    mpik_plan p;
    int64_t start, reach, stride[MPIK_MAX_LEVELS], n[MPIK_MAX_LEVELS];
    int used[MPIK_MAX_LEVELS] = { 0 };

    if (!mpid_plan(&p, &start, d, count))
        return 0;
    reach = p.block;
    for (int k = 1; k < p.ndims; k++) {
        int best = -1;
        for (int i = 1; i < p.ndims; i++) {
            stride[i] = p.strides[i] < 0 ? -p.strides[i] : p.strides[i];
            n[i] = p.counts[i];
            if (!used[i] && (best < 0 || stride[i] < stride[best]))
                best = i;
        }
        used[best] = 1;
        if (n[best] > 1 && stride[best] < reach)
            return 0;
        reach += (n[best] - 1) * stride[best];
    }
    return 1;
}

static int64_t pow2_at_least(int64_t n, int64_t cap)
{
    int64_t v = 1;
    while (v < n && v < cap)
        v <<= 1;
    return v;
}

static int64_t blocks_for(int64_t n, int64_t per, int64_t cap)
{
    int64_t g = (n + per - 1) / per;
    return g < 1 ? 1 : g > cap ? cap : g;
}

/* Words on x, blocks of the first level on y, the rest on z; grid-stride loops in the
 * kernels cover what the grid limits leave out. */
void mpid_shape(const mpik_plan *p, int wi, int64_t grid[3], int64_t block[3])
{
    int64_t nw = p->block / mpik_widths[wi];
    int64_t n1 = p->ndims >= 2 ? p->counts[1] : 1, outer = p->ndims >= 3 ? p->outer : 1;

    block[0] = pow2_at_least(nw, THREADS);
    block[1] = pow2_at_least(n1, THREADS / block[0]);
    block[2] = pow2_at_least(outer, THREADS / (block[0] * block[1]));
    if (block[2] > BLOCK_Z)
        block[2] = BLOCK_Z;
    grid[0] = blocks_for(nw, block[0], GRID_X);
    grid[1] = blocks_for(n1, block[1], GRID_YZ);
    grid[2] = blocks_for(outer, block[2], GRID_YZ);
}

/* 3. Pools: a few buffers of each memory kept for reuse. */
typedef struct pool {
    void *(*alloc)(size_t);
    void (*release)(void *);
    void *buf[POOL_SLOTS];
    size_t size[POOL_SLOTS];
    int used[POOL_SLOTS];
    pthread_mutex_t lock;
} pool;

static pool pinned = { .lock = PTHREAD_MUTEX_INITIALIZER };
static pool device = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *pool_get(pool *pl, void *(*alloc)(size_t), void (*release)(void *), size_t n)
{
    int best = -1, empty = -1;
    void *p = NULL;
    size_t size = (size_t) pow2_at_least((int64_t) n, INT64_MAX / 2);

    if (size < POOL_MIN)
        size = POOL_MIN;
    pthread_mutex_lock(&pl->lock);
    pl->alloc = alloc;
    pl->release = release;
    for (int i = 0; i < POOL_SLOTS; i++) {
        if (!pl->buf[i] && empty < 0)
            empty = i;
        else if (pl->buf[i] && !pl->used[i] && pl->size[i] >= n &&
                 (best < 0 || pl->size[i] < pl->size[best]))
            best = i;
    }
    if (best < 0 && empty >= 0 && (p = alloc(size))) {
        best = empty;
        pl->buf[best] = p;
        pl->size[best] = size;
    }
    if (best >= 0) {
        pl->used[best] = 1;
        p = pl->buf[best];
    }
    pthread_mutex_unlock(&pl->lock);
    return p ? p : alloc(n);             /* every slot busy: one of its own */
}

static void pool_put(pool *pl, void *p)
{
    int kept = 0;

    if (!p)
        return;
    pthread_mutex_lock(&pl->lock);
    for (int i = 0; i < POOL_SLOTS; i++)
        if (pl->buf[i] == p) {
            pl->used[i] = 0;
            kept = 1;
        }
    pthread_mutex_unlock(&pl->lock);
    if (!kept)
        pl->release(p);
}

static void pool_clear(pool *pl)
{
    pthread_mutex_lock(&pl->lock);
    for (int i = 0; i < POOL_SLOTS; i++)
        if (pl->buf[i] && !pl->used[i]) {
            pl->release(pl->buf[i]);
            pl->buf[i] = NULL;
        }
    pthread_mutex_unlock(&pl->lock);
}

void *mpid_pinned_get(size_t n)
{
    const mpid_backend *b = mpid_backend_active();
    return pool_get(&pinned, b->pinned_alloc, b->pinned_free, n);
}

void mpid_pinned_put(void *p)
{
    pool_put(&pinned, p);
}

void *mpid_device_get(size_t n)
{
    const mpid_backend *b = mpid_backend_active();
    return pool_get(&device, b->device_alloc, b->device_free, n);
}

void mpid_device_put(void *p)
{
    pool_put(&device, p);
}

void mpid_release(void)
{
    pool_clear(&pinned);
    pool_clear(&device);
}

/* 4. Synchronous operations. */
static int launch(const mpid_backend *b, int unpack, const mpik_plan *p, const char *src,
                  char *dst)
{
    int64_t grid[3], block[3];
    int wi = unpack ? mpid_width(p, (uintptr_t) dst, (uintptr_t) src)
                    : mpid_width(p, (uintptr_t) src, (uintptr_t) dst);

    mpid_shape(p, wi, grid, block);
    return b->launch(unpack, p, wi, grid, block, src, dst) ? fail("kernel launch failed") : 0;
}

int mpid_copy(void *dst, const void *src, size_t n)
{
    const mpid_backend *b = mpid_backend_active();

    if (!b)
        return fail("no device backend");
    if (b->copy(dst, src, n) || b->sync())
        return fail("copy between host and device failed");
    return 0;
}

void mpid_span(const mpic_typeinfo *t, int64_t count, int64_t *lo, int64_t *hi)
{
    int64_t last = (count - 1) * t->extent;

    *lo = t->true_lb + (last < 0 ? last : 0);
    *hi = t->true_lb + t->true_extent + (last > 0 ? last : 0);
}

/* Without kernels: the strided side's span through pinned host memory, packed or
 * unpacked there by the host kernels (an unpack copies the span back, gaps included). */
static int staged(const mpic_desc *d, int64_t count, void *strided, void *packed, int unpack)
{
    int64_t lo, hi, n = count * d->info.size;
    char *span, *bytes;
    int err;

    mpid_span(&d->info, count, &lo, &hi);
    if (!(span = mpid_pinned_get((size_t) (hi - lo))))
        return fail("no pinned host memory to stage the datatype's span");
    bytes = mpid_on_device(packed) ? mpid_pinned_get((size_t) n) : packed;
    err = !bytes || mpid_copy(span, (char *) strided + lo, (size_t) (hi - lo)) ||
          (unpack && bytes != packed && mpid_copy(bytes, packed, (size_t) n));
    if (!err && unpack) {
        mpic_unpack(d, count, bytes, span - lo);
        err = mpid_copy((char *) strided + lo, span, (size_t) (hi - lo));
    } else if (!err) {
        mpic_pack(d, count, span - lo, bytes);
        err = bytes != packed && mpid_copy(packed, bytes, (size_t) n);
    }
    if (bytes != packed)
        mpid_pinned_put(bytes);
    mpid_pinned_put(span);
    return err ? fail("staging a device datatype through host memory failed") : 0;
}

int mpid_pack(const mpic_desc *d, int64_t count, const void *in, void *packed)
{
    const mpid_backend *b = mpid_backend_active();
    int64_t start, n = count * d->info.size;
    mpik_plan p;
    const char *src;
    void *tmp;
    int err;

    /* 1. Pack where the strided side lives: on the host, or on the device by a kernel
     * for a plan (a type of the table form, or no kernels: its span through the host),
     * 2. bring the packed bytes to the packed side's memory, 3. wait for all of it. */
    if (!b)
        return fail("no device backend");
    if (!mpid_on_device(in)) {
        if (!(tmp = mpid_pinned_get((size_t) n)))
            return fail("no pinned host memory for the packed bytes");
        mpic_pack(d, count, in, tmp);
        err = b->copy(packed, tmp, (size_t) n) || b->sync();
        mpid_pinned_put(tmp);
        return err ? fail("copy of packed bytes to the device failed") : 0;
    }
    if (d->table || !b->kernels())
        return staged(d, count, (void *) in, packed, 0);
    if (!mpid_plan(&p, &start, d, count))
        return fail("datatype has more levels than the device kernels");
    src = (const char *) in + start;
    if (mpid_on_device(packed))
        return launch(b, 0, &p, src, packed) || (b->sync() && fail("device pack failed"));
    if (!(tmp = mpid_device_get((size_t) n)))
        return fail("no device memory for the packed bytes");
    err = launch(b, 0, &p, src, tmp) || b->copy(packed, tmp, (size_t) n) || b->sync();
    mpid_device_put(tmp);
    return err ? fail("device pack to host memory failed") : 0;
}

/* The kernel reads or writes the packed bytes in mapped pinned host memory itself. */
static int mapped(const mpic_desc *d, int64_t count, char *strided, char *pinned, int unpack)
{
    const mpid_backend *b = mpid_backend_active();
    int64_t start;
    mpik_plan p;

    if (!b || !mpid_plan(&p, &start, d, count))
        return fail(b ? "datatype has more levels than the device kernels" : "no device backend");
    if (unpack)
        return launch(b, 1, &p, pinned, strided + start) || (b->sync() && fail("device unpack "
                                                                               "failed"));
    return launch(b, 0, &p, strided + start, pinned) || (b->sync() && fail("device pack failed"));
}

int mpid_pack_mapped(const mpic_desc *d, int64_t count, const void *in, void *pinned)
{
    const mpid_backend *b = mpid_backend_active();

    if (!b || !b->kernels() || !mpid_on_device(in) || d->table)
        return mpid_pack(d, count, in, pinned);
    return mapped(d, count, (char *) in, pinned, 0);
}

int mpid_unpack_mapped(const mpic_desc *d, int64_t count, const void *pinned, void *out)
{
    const mpid_backend *b = mpid_backend_active();

    if (!b || !b->kernels() || !mpid_on_device(out) || d->table || !mpid_disjoint(d, count))
        return mpid_unpack(d, count, pinned, out);
    return mapped(d, count, out, (char *) pinned, 1);
}

int mpid_unpack(const mpic_desc *d, int64_t count, const void *packed, void *out)
{
    const mpid_backend *b = mpid_backend_active();
    int64_t start, n = count * d->info.size;
    mpik_plan p;
    char *dst;
    void *tmp;
    int err;

    /* 1. The packed bytes into the strided side's memory, 2. unpack there (a type of the
     * table form, or one whose blocks may overlap, or no kernels: through its span on the
     * host), 3. wait for all of it. */
    if (!b)
        return fail("no device backend");
    if (!mpid_on_device(out)) {
        if (!(tmp = mpid_pinned_get((size_t) n)))
            return fail("no pinned host memory for the packed bytes");
        err = b->copy(tmp, packed, (size_t) n) || b->sync();
        if (!err)
            mpic_unpack(d, count, tmp, out);
        mpid_pinned_put(tmp);
        return err ? fail("copy of packed bytes from the device failed") : 0;
    }
    if (d->table || !b->kernels() || !mpid_disjoint(d, count))
        return staged(d, count, out, (void *) packed, 1);
    if (!mpid_plan(&p, &start, d, count))
        return fail("datatype has more levels than the device kernels");
    dst = (char *) out + start;
    if (mpid_on_device(packed))
        return launch(b, 1, &p, packed, dst) || (b->sync() && fail("device unpack failed"));
    if (!(tmp = mpid_device_get((size_t) n)))
        return fail("no device memory for the packed bytes");
    err = b->copy(tmp, packed, (size_t) n) || launch(b, 1, &p, tmp, dst) || b->sync();
    mpid_device_put(tmp);
    return err ? fail("device unpack from host memory failed") : 0;
}

/* 5. For mpicomm.device and mpicomm info (Python, through ctypes). */
const char *mpicomm_device_backend(void)
{
    return mpid_backend_name();
}

/* A copy that completes before it returns, either way between host and device. */
int mpicomm_device_copy(void *dst, const void *src, size_t n)
{
    return mpid_copy(dst, src, n);
}

/* Pack or unpack count elements of a description on either side of host and device
 * memory (mpicomm.datatypes.pack and unpack with device arrays); 0 on success. */
int mpicomm_device_pack(const mpic_desc *d, int64_t count, const void *in, void *packed)
{
    return mpic_packable(d) && count >= 0 ? mpid_pack(d, count, in, packed) : 1;
}

int mpicomm_device_unpack(const mpic_desc *d, int64_t count, const void *packed, void *out)
{
    return mpic_packable(d) && count >= 0 ? mpid_unpack(d, count, packed, out) : 1;
}
