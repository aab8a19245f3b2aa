/*
 * The device layer's common part: which driver, the plan, width and launch shape of a
 * kernel, pools of pinned and device buffers per device, and the synchronous pack,
 * unpack, copy and merge the wrappers call, each on the device its buffers live on.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "mpic_internal.h"
#include "mpid.h"
#include "mpid_internal.h"

#define THREADS 256             /* threads per block */
#define GRID_YZ 65535           /* CUDA's limits on gridDim.y and gridDim.z */
#define GRID_X 2147483647LL
#define BLOCK_Z 64              /* and on blockDim.z */

/* 1. Errors, warnings, counters. */
static __thread char why[512];
static void (*log_fn)(const char *line);
static long long stats[MPID_NSTATS];
static const char *stat_names[] = {
#define MPID_STAT_NAME(name) #name,
    MPID_STATS(MPID_STAT_NAME)
#undef MPID_STAT_NAME
};

const char *mpid_error(void)
{
    return why;
}

int mpid_fail(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return 1;
}

void mpid_set_log(void (*fn)(const char *line))
{
    log_fn = fn;
}

void mpid_warn(const char *fmt, ...)
{
    char line[768];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (log_fn)
        log_fn(line);
    else
        fprintf(stderr, "mpicomm warn: %s\n", line);
}

void mpid_count(int stat)
{
    __atomic_fetch_add(&stats[stat], 1, __ATOMIC_RELAXED);
}

const char *mpid_stat_name(int i)
{
    return i >= 0 && i < MPID_NSTATS ? stat_names[i] : NULL;
}

long long mpid_stat_value(int i)
{
    return i >= 0 && i < MPID_NSTATS ? __atomic_load_n(&stats[i], __ATOMIC_RELAXED) : -1;
}

/* 2. Which driver: MPICOMM_DEVICE=sim the simulated one; off none; cuda or unset the
 * CUDA driver once the process has loaded it (a library such as CuPy may load it after
 * MPI_Init), asked cheaply until it has. */
enum { UNSET, SIM, OFF, CUDA };
static int wanted = UNSET;

static int active(void)
{
    int w = __atomic_load_n(&wanted, __ATOMIC_RELAXED);

    if (w == UNSET) {
        const char *v = getenv("MPICOMM_DEVICE");
        w = v && !strcasecmp(v, "sim") ? SIM : v && !strcasecmp(v, "off") ? OFF : CUDA;
        __atomic_store_n(&wanted, w, __ATOMIC_RELAXED);
    }
    if (w == SIM)
        return mpid_cuda_which() || mpid_cuda_start_sim();
    return w == CUDA && mpid_cuda_present();
}

const char *mpid_backend_name(void)
{
    if (!active())
        return "none";
    return mpid_cuda_which() == MPID_SIM ? "sim" : "cuda";
}

int mpid_backend_real(void)
{
    return active() && mpid_cuda_which() == MPID_REAL;
}

int mpid_where(const void *p, int *dev)
{
    *dev = -1;
    return p && active() ? mpid_cuda_where(p, dev) : MPID_HOST;
}

int mpid_either_on_device(const void *a, const void *b)
{
    int dev;

    return active() && ((a && mpid_kind_on_device(mpid_cuda_where(a, &dev))) ||
                        (b && mpid_kind_on_device(mpid_cuda_where(b, &dev))));
}

const char *mpid_kernels_status(void)
{
    return active() ? mpid_cuda_kernels_status() : "no device backend";
}

/* 3. Plans, widths, launch shapes. */
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

    block[0] = mpid_pow2_at_least(nw, THREADS);
    block[1] = mpid_pow2_at_least(n1, THREADS / block[0]);
    block[2] = mpid_pow2_at_least(outer, THREADS / (block[0] * block[1]));
    if (block[2] > BLOCK_Z)
        block[2] = BLOCK_Z;
    grid[0] = blocks_for(nw, block[0], GRID_X);
    grid[1] = blocks_for(n1, block[1], GRID_YZ);
    grid[2] = blocks_for(outer, block[2], GRID_YZ);
}

/* 4. Synchronous operations, on the device their buffers live on. An error leaves
 * nothing queued that still uses a buffer going back to its pool. */
static int kernels(int dev)
{
    return mpid_cuda_kernels(dev);
}

static int launch(int dev, int unpack, const mpik_plan *p, const char *src, char *dst)
{
    int64_t grid[3], block[3];
    int wi = unpack ? mpid_width(p, (uintptr_t) dst, (uintptr_t) src)
                    : mpid_width(p, (uintptr_t) src, (uintptr_t) dst);

    mpid_shape(p, wi, grid, block);
    return mpid_cuda_launch(dev, unpack, p, wi, grid, block, src, dst);
}

/* The copy's device: that of the device side (dst first); -1 between host buffers. */
static int copy_dev(const void *dst, const void *src)
{
    int dev = mpid_device_of(dst);
    return dev >= 0 ? dev : mpid_device_of(src);
}

/* Queued, not waited for. */
static int copy(void *dst, const void *src, size_t n)
{
    int dev = copy_dev(dst, src);

    if (dev < 0) {
        memmove(dst, src, n);
        return 0;
    }
    return mpid_cuda_copy(dev, dst, src, n);
}

/* Before an operation on devices a and b (-1: none): whatever a reset of theirs took
 * is forgotten first. */
static void fresh(int a, int b)
{
    if (a >= 0)
        mpid_cuda_check(a);
    if (b >= 0 && b != a)
        mpid_cuda_check(b);
}

/* Wait for dev's stream; after an error, wait as well and keep the first reason. */
static int settle(int dev, int err)
{
    char first[sizeof why];

    if (dev < 0)
        return err;
    if (!err)
        return mpid_cuda_sync(dev);
    memcpy(first, why, sizeof why);
    mpid_cuda_sync(dev);
    memcpy(why, first, sizeof why);
    return err;
}

int mpid_copy(void *dst, const void *src, size_t n)
{
    int dev = copy_dev(dst, src);

    if (!active())
        return mpid_fail("no device backend");
    fresh(dev, -1);
    return settle(dev, copy(dst, src, n));
}

void mpid_span(const mpic_typeinfo *t, int64_t count, int64_t *lo, int64_t *hi)
{
    int64_t last = (count - 1) * t->extent;

    *lo = t->true_lb + (last < 0 ? last : 0);
    *hi = t->true_lb + t->true_extent + (last > 0 ? last : 0);
}

/* host into device memory where mask is set, by the merge kernel on dst's device, or
 * without kernels read, merged on the host and written back. */
int mpid_merge(void *dst, const void *host, const unsigned char *mask, size_t n)
{
    int dev = mpid_device_of(dst), err;
    char *tmp;

    if (dev < 0) {
        for (size_t i = 0; i < n; i++)
            if (mask[i])
                ((char *) dst)[i] = ((const char *) host)[i];
        return 0;
    }
    fresh(dev, -1);
    if (kernels(dev) && (tmp = mpid_device_get(dev, 2 * n))) {
        err = mpid_cuda_copy(dev, tmp, host, n) || mpid_cuda_copy(dev, tmp + n, mask, n) ||
              mpid_cuda_merge(dev, dst, tmp, (unsigned char *) tmp + n, (int64_t) n);
        err = settle(dev, err);
        mpid_device_put(tmp);
        return err;
    }
    if (!(tmp = mpid_pinned_get(dev, n)))
        return mpid_fail("no host memory to merge a device buffer");
    err = settle(dev, mpid_cuda_copy(dev, tmp, dst, n));
    if (!err) {
        for (size_t i = 0; i < n; i++)
            if (mask[i])
                tmp[i] = ((const char *) host)[i];
        err = settle(dev, mpid_cuda_copy(dev, dst, tmp, n));
    }
    mpid_pinned_put(tmp);
    return err;
}

unsigned char *mpid_mask(const mpic_desc *d, int64_t nbytes, int64_t lo, int64_t len)
{
    unsigned char *mask = calloc(1, (size_t) (len > 0 ? len : 1));
    char *ones = mask ? malloc((size_t) (nbytes > 0 ? nbytes : 1)) : NULL;

    if (!ones) {
        free(mask);
        return NULL;
    }
    memset(ones, 0xff, (size_t) nbytes);
    mpic_unpack_bytes(d, nbytes, ones, (char *) mask - lo);
    free(ones);
    return mask;
}

/* Through host memory: the strided side's span, packed or unpacked there by the host
 * kernels. An unpack changes only the type's bytes on the device (mpid_merge with the
 * type's own mask), never the gaps between them. */
static int staged(int dev, const mpic_desc *d, int64_t count, void *strided, void *packed,
                  int unpack)
{
    int64_t lo, hi, n = count * d->info.size, len;
    char *span, *bytes;
    unsigned char *mask = NULL;
    int err;

    mpid_span(&d->info, count, &lo, &hi);
    len = hi - lo;
    if (!(span = mpid_pinned_get(dev, (size_t) len)))
        return mpid_fail("no host memory to stage the datatype's span");
    bytes = mpid_on_device(packed) ? mpid_pinned_get(dev, (size_t) n) : packed;
    if (!bytes) {
        mpid_pinned_put(span);
        return mpid_fail("no host memory for the packed bytes");
    }
    if (!unpack) {
        err = mpid_copy(span, (char *) strided + lo, (size_t) len);
        if (!err)
            mpic_pack(d, count, span - lo, bytes);
        err = err || (bytes != packed && mpid_copy(packed, bytes, (size_t) n));
    } else {
        err = bytes != packed && mpid_copy(bytes, packed, (size_t) n);
        if (!err && !(mask = mpid_mask(d, n, lo, len)))
            err = mpid_fail("no host memory for the datatype's mask");
        if (!err) {
            mpic_unpack(d, count, bytes, span - lo);
            err = mpid_merge((char *) strided + lo, span, mask, (size_t) len);
        }
    }
    free(mask);
    if (bytes != packed)
        mpid_pinned_put(bytes);
    mpid_pinned_put(span);
    return err;
}

int mpid_pack(const mpic_desc *d, int64_t count, const void *in, void *packed)
{
    int64_t start, n = count * d->info.size;
    int dev = mpid_device_of(in), out = mpid_device_of(packed), err;
    mpik_plan p;
    void *tmp;

    /* 1. Nothing to do for no bytes, 2. pack where the strided side lives: on the host,
     * or on its device by a kernel (a type of the table form, or no kernels: its span
     * through the host), 3. bring the packed bytes to the packed side's memory, 4. wait
     * for all of it. */
    if (!active())
        return mpid_fail("no device backend");
    if (count <= 0 || n <= 0)
        return 0;
    fresh(dev, out);
    if (dev < 0) {
        if (out < 0) {
            mpic_pack(d, count, in, packed);
            return 0;
        }
        if (!(tmp = mpid_pinned_get(out, (size_t) n)))
            return mpid_fail("no host memory for the packed bytes");
        mpic_pack(d, count, in, tmp);
        err = settle(out, mpid_cuda_copy(out, packed, tmp, (size_t) n));
        mpid_pinned_put(tmp);
        return err;
    }
    if (d->table || !kernels(dev))
        return staged(dev, d, count, (void *) in, packed, 0);
    if (!mpid_plan(&p, &start, d, count))
        return mpid_fail("datatype has more levels than the device kernels");
    if (out == dev)
        return settle(dev, launch(dev, 0, &p, (const char *) in + start, packed));
    if (!(tmp = mpid_device_get(dev, (size_t) n)))
        return staged(dev, d, count, (void *) in, packed, 0);
    err = launch(dev, 0, &p, (const char *) in + start, tmp) ||
          mpid_cuda_copy(dev, packed, tmp, (size_t) n);
    err = settle(dev, err);
    mpid_device_put(tmp);
    return err;
}

int mpid_unpack(const mpic_desc *d, int64_t count, const void *packed, void *out)
{
    int64_t start, n = count * d->info.size;
    int dev = mpid_device_of(out), in = mpid_device_of(packed), err;
    mpik_plan p;
    void *tmp;

    /* 1. Nothing to do for no bytes, 2. the packed bytes into the strided side's device,
     * 3. unpack there (a type of the table form, or one whose blocks may overlap, or no
     * kernels: through its span on the host), 4. wait for all of it. */
    if (!active())
        return mpid_fail("no device backend");
    if (count <= 0 || n <= 0)
        return 0;
    fresh(dev, in);
    if (dev < 0) {
        if (in < 0) {
            mpic_unpack(d, count, packed, out);
            return 0;
        }
        if (!(tmp = mpid_pinned_get(in, (size_t) n)))
            return mpid_fail("no host memory for the packed bytes");
        err = settle(in, mpid_cuda_copy(in, tmp, packed, (size_t) n));
        if (!err)
            mpic_unpack(d, count, tmp, out);
        mpid_pinned_put(tmp);
        return err;
    }
    if (d->table || !kernels(dev) || !mpid_disjoint(d, count))
        return staged(dev, d, count, out, (void *) packed, 1);
    if (!mpid_plan(&p, &start, d, count))
        return mpid_fail("datatype has more levels than the device kernels");
    if (in == dev)
        return settle(dev, launch(dev, 1, &p, packed, (char *) out + start));
    if (!(tmp = mpid_device_get(dev, (size_t) n)))
        return staged(dev, d, count, out, (void *) packed, 1);
    err = mpid_cuda_copy(dev, tmp, packed, (size_t) n) ||
          launch(dev, 1, &p, tmp, (char *) out + start);
    err = settle(dev, err);
    mpid_device_put(tmp);
    return err;
}

/* The one-shot forms: the kernel reads or writes the packed bytes in mapped pinned host
 * memory itself, with no copy between; anything else is mpid_pack or mpid_unpack. */
static int mapped_ok(const mpic_desc *d, int dev, const void *pinned)
{
    return dev >= 0 && !d->table && mpid_kind(pinned) == MPID_PINNED && kernels(dev);
}

int mpid_pack_mapped(const mpic_desc *d, int64_t count, const void *in, void *pinned)
{
    int dev = mpid_device_of(in);
    int64_t start;
    mpik_plan p;

    if (count <= 0 || !active() || !mapped_ok(d, dev, pinned) ||
        !mpid_plan(&p, &start, d, count))
        return mpid_pack(d, count, in, pinned);
    fresh(dev, -1);
    return settle(dev, launch(dev, 0, &p, (const char *) in + start, pinned));
}

int mpid_unpack_mapped(const mpic_desc *d, int64_t count, const void *pinned, void *out)
{
    int dev = mpid_device_of(out);
    int64_t start;
    mpik_plan p;

    if (count <= 0 || !active() || !mapped_ok(d, dev, pinned) || !mpid_disjoint(d, count) ||
        !mpid_plan(&p, &start, d, count))
        return mpid_unpack(d, count, pinned, out);
    fresh(dev, -1);
    return settle(dev, launch(dev, 1, &p, pinned, (char *) out + start));
}

/* 5. For mpicomm.device, mpicomm.datatypes and mpicomm info (Python, through ctypes). */
const char *mpicomm_device_backend(void)
{
    return mpid_backend_name();
}

const char *mpicomm_device_kernels(void)
{
    return mpid_kernels_status();
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
