/*
 * The generated device kernels under the simulated device's grid-emulation harness,
 * without MPI (tests/test_device.py builds this with AddressSanitizer):
 *
 *   device_harness random N SEED   N random canonical plans (1 to 9 levels, any block,
 *                                  alignment and stride, negative strides too), packed and
 *                                  unpacked on the device with every mix of host and device
 *                                  sides, compared with the host kernels; prints "ok N"
 *   device_harness misaligned      a 16-byte kernel on 8-byte-aligned data
 *   device_harness limits          a block of 2048 threads
 *   device_harness twice           a one-level kernel on a grid two blocks high
 *   device_harness streams         CUDA's ordering rules among the legacy stream, a
 *                                  blocking and a non-blocking stream, and a launch on
 *                                  another device's stream (MPICOMM_SIM_DEVICES=2);
 *                                  prints "ok streams"
 *
 * misaligned, limits and twice must end in the harness's own abort, naming what broke.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mpic_internal.h"
#include "mpid.h"
#include "mpid_driver.h"

void *mpicomm_sim_alloc(int dev, size_t n);
void mpicomm_sim_free(void *p);
void mpid_sim_run_launch(int unpack, const mpik_plan *p, int wi, const int64_t grid[3],
                         const int64_t block[3], const char *src, char *dst);
int mpicomm_sim_copy_async(int dev, void *dst, const void *src, size_t n);
int mpicomm_sim_synchronize(int dev);

static uint64_t state;

static uint64_t next(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static int64_t pick(int64_t lo, int64_t hi)
{
    return lo + (int64_t) (next() % (uint64_t) (hi - lo + 1));
}

/* A random canonical description: a block, then levels whose strides step past the
 * levels below (overlaps allowed now and then), some negative. */
static void random_desc(mpic_desc *d)
{
    int64_t size, lo = 0, hi;
    static const int64_t blocks[] = { 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 40, 64, 100 };

    memset(d, 0, sizeof *d);
    d->canonical = 1;
    d->ndims = (int) pick(1, MPIC_MAX_DIMS);
    d->counts[0] = blocks[pick(0, 12)];
    size = d->counts[0];
    hi = d->counts[0];
    for (int i = 1; i < d->ndims; i++) {
        int64_t span = hi - lo, stride = span + pick(0, 3) * (int64_t) pick(1, 8);
        if (pick(0, 9) == 0)
            stride = pick(1, span);                 /* may overlap */
        if (pick(0, 4) == 0)
            stride = -stride;
        d->counts[i] = pick(1, d->ndims > 5 ? 2 : 4);
        d->strides[i] = stride;
        if (stride < 0)
            lo += (d->counts[i] - 1) * stride;
        else
            hi += (d->counts[i] - 1) * stride;
        size *= d->counts[i];
    }
    d->start = -lo + pick(0, 5);
    d->info.size = size;
    d->info.lb = 0;
    d->info.extent = d->start + hi + pick(0, 3);
    d->info.true_lb = d->start + lo;
    d->info.true_extent = hi - lo;
}

static void check(int ok, const char *what, int i)
{
    if (!ok) {
        fprintf(stderr, "plan %d: %s\n", i, what);
        exit(1);
    }
}

static void *device_copy_of(const char *host, size_t n)
{
    char *d = mpicomm_sim_alloc(0, n);
    check(d && !mpid_copy(d, host, n), "device copy", -1);
    return d;
}

static int random_plans(int n)
{
    for (int i = 0; i < n; i++) {
        mpic_desc d;
        int64_t count = pick(1, 3), span, packed, lo, hi, shift = pick(0, 15);
        char *src, *want, *got, *fill, *expect;

        random_desc(&d);
        mpid_span(&d.info, count, &lo, &hi);
        span = hi - lo + 32;
        packed = count * d.info.size;
        src = malloc((size_t) span);
        fill = malloc((size_t) span);
        expect = malloc((size_t) span);
        want = malloc((size_t) packed);
        got = malloc((size_t) packed + 16);
        for (int64_t k = 0; k < span; k++) {
            src[k] = (char) next();
            fill[k] = (char) next();
        }
        /* The buffer pointer: -lo bytes in, and shifted for any alignment. */
        int64_t at = 8 - lo + (shift & 7), pat = shift >> 3;
        mpic_pack(&d, count, src + at, want);
        for (int sides = 0; sides < 3; sides++) {
            int strided_dev = sides != 2, packed_dev = sides != 0;
            char *ds = strided_dev ? device_copy_of(src, (size_t) span) : src;
            char *dp = packed_dev ? mpicomm_sim_alloc(0, (size_t) packed + 16) : got;

            memset(got, 0, (size_t) packed + 16);

            check(!mpid_pack(&d, count, ds + at, dp + pat), mpid_error(), i);
            if (packed_dev)
                check(!mpid_copy(got + pat, dp + pat, (size_t) packed), "copy back", i);
            check(!memcmp(got + pat, want, (size_t) packed), "device pack differs from the host's",
                  i);

            memcpy(expect, fill, (size_t) span);
            mpic_unpack(&d, count, want, expect + at);
            if (strided_dev)
                check(!mpid_copy(ds, fill, (size_t) span), "refill", i);
            else
                memcpy(ds, fill, (size_t) span);
            if (packed_dev)
                check(!mpid_copy(dp + pat, want, (size_t) packed), "packed in", i);
            check(!mpid_unpack(&d, count, packed_dev ? dp + pat : want, ds + at), mpid_error(),
                  i);
            if (strided_dev) {
                char *back = malloc((size_t) span);
                check(!mpid_copy(back, ds, (size_t) span), "copy back", i);
                check(!memcmp(back, expect, (size_t) span), "device unpack differs", i);
                free(back);
                mpicomm_sim_free(ds);
            } else {
                check(!memcmp(ds, expect, (size_t) span), "unpack to host differs", i);
            }
            if (packed_dev)
                mpicomm_sim_free(dp);
        }
        free(src);
        free(fill);
        free(expect);
        free(want);
        free(got);
    }
    mpid_release();
    printf("ok %d\n", n);
    return 0;
}

/* A launch the harness must refuse. */
static int bad_launch(const char *what)
{
    mpik_plan p = { .ndims = 1, .block = 64, .outer = 1, .counts = { 64 } };
    int64_t grid[3] = { 1, 1, 1 }, block[3] = { 4, 1, 1 };
    char *src = mpicomm_sim_alloc(0, 4096), *dst = mpicomm_sim_alloc(0, 4096);
    int wi = 1;                                      /* 8 bytes */

    if (!strcmp(what, "misaligned")) {
        wi = 0;                                      /* 16-byte accesses */
        src += 8;
    } else if (!strcmp(what, "limits")) {
        block[0] = 2048;
    } else {
        grid[1] = 2;                                 /* y is not this kernel's axis */
    }
    mpid_sim_run_launch(0, &p, wi, grid, block, src, dst);
    printf("the harness let a bad launch (%s) through\n", what);
    return 0;
}

/* What the simulated driver's streams must see, by CUDA's rules. */
static int streams(void)
{
    mpid_driver cu;
    CUcontext ctx, other;
    CUstream blocking, nonblocking, on1;
    char *a = mpicomm_sim_alloc(0, 64), *b = mpicomm_sim_alloc(1, 64), v1[64], v2[64],
         v3[64], out[64];
    mpik_plan p = { .ndims = 1, .block = 64, .outer = 1, .counts = { 64 } };
    int64_t one[3] = { 1, 1, 1 }, threads[3] = { 8, 1, 1 };

    mpid_sim_driver(&cu);
    memset(v1, 0x11, 64);
    memset(v2, 0x22, 64);
    memset(v3, 0x33, 64);
    check(a && b && !cu.primary_retain(&ctx, 0) && !cu.primary_retain(&other, 1) &&
          !cu.ctx_push(ctx) && !cu.stream_create(&blocking, CU_STREAM_DEFAULT) &&
          !cu.stream_create(&nonblocking, CU_STREAM_NON_BLOCKING), "streams", -1);
    /* 1. A blocking stream's work follows the legacy stream's earlier work. */
    mpicomm_sim_copy_async(0, a, v1, 64);
    check(!cu.copy((CUdeviceptr) (uintptr_t) out, (CUdeviceptr) (uintptr_t) a, 64, blocking) &&
          out[0] == 0x11, "a blocking stream did not wait for the legacy stream", -1);
    /* 2. A non-blocking stream's does not. */
    mpicomm_sim_copy_async(0, a, v2, 64);
    check(!cu.copy((CUdeviceptr) (uintptr_t) out, (CUdeviceptr) (uintptr_t) a, 64, nonblocking) &&
          out[0] == 0x11, "a non-blocking stream waited for the legacy stream", -1);
    mpicomm_sim_synchronize(0);
    /* 3. The legacy stream's later work follows a blocking stream's earlier work. */
    check(!cu.copy((CUdeviceptr) (uintptr_t) a, (CUdeviceptr) (uintptr_t) v3, 64, blocking),
          "copy", -1);
    check(!cu.copy((CUdeviceptr) (uintptr_t) out, (CUdeviceptr) (uintptr_t) a, 64,
                   CU_STREAM_LEGACY) && out[0] == 0x33,
          "the legacy stream did not wait for a blocking stream", -1);
    /* 4. A launch on device 1's stream with device 0's context current fails. */
    check(!cu.ctx_push(other) && !cu.stream_create(&on1, CU_STREAM_DEFAULT) &&
          !cu.ctx_pop(&other), "device 1", -1);
    check(cu.launch(0, 1, 1, one, threads, b, b, &p, on1) != 0,
          "a launch on another device's stream ran", -1);
    cu.ctx_pop(&ctx);
    printf("ok streams\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (strcmp(mpid_backend_name(), "sim")) {
        fprintf(stderr, "run with MPICOMM_DEVICE=sim\n");
        return 2;
    }
    if (argc == 4 && !strcmp(argv[1], "random")) {
        state = strtoull(argv[3], NULL, 10) * 2654435761ULL + 1;
        return random_plans(atoi(argv[2]));
    }
    if (argc == 2 && !strcmp(argv[1], "streams"))
        return streams();
    if (argc == 2)
        return bad_launch(argv[1]);
    fprintf(stderr, "usage: device_harness random N SEED | misaligned | limits | twice | "
            "streams\n");
    return 2;
}
