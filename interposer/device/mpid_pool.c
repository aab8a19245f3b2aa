/*
 * The device layer's pools: pinned and device buffers per device, and pageable host
 * buffers for the packed bytes of host messages, kept for reuse so that a program's
 * steady state allocates nothing. One list, up to MPICOMM_POOL bytes kept in
 * all; a buffer beyond it is its message's own (pool_overflows). Allocations are
 * counted (device_allocs from the driver, host_allocs from malloc).
 */
#include <pthread.h>
#include <stdlib.h>
#include "mpid.h"
#include "mpid_internal.h"

#define POOL_MIN 65536          /* pooled buffers are at least this, a power of two */
#define POOL_CAP (1LL << 30)    /* MPICOMM_POOL's default */

/* Every buffer handed out is an entry until it comes back: kept ones (within the cap)
 * are reused, the rest freed on return. The driver is never called under the lock. */
enum { PINNED, DEVICE, PAGEABLE };

typedef struct entry {
    void *p;
    size_t size;
    int dev, how, used, kept;
} entry;

typedef struct pool {
    entry *e;
    size_t n, cap, bytes;           /* entries, room, bytes kept */
    pthread_mutex_t lock;
} pool;

static pool pools = { .lock = PTHREAD_MUTEX_INITIALIZER };
static long long pool_cap = -1;

static long long env_pool_cap(void)
{
    const char *v = getenv("MPICOMM_POOL");
    long long n = 0;

    if (!v || !*v)
        return POOL_CAP;
    if (!mpic_parse_size(v, &n) || n < 0) {
        mpid_warn("MPICOMM_POOL=%s is not a size in bytes (e.g. 268435456, 256m, 1g); "
                  "using 1g", v);
        return POOL_CAP;
    }
    return n;
}

static void *raw_alloc(int dev, int how, size_t n)
{
    void *p;

    if (how != PAGEABLE)
        return mpid_cuda_alloc(dev, n, how == PINNED);
    if ((p = malloc(n ? n : 1)))
        mpid_count(MPID_STAT_host_allocs);
    return p;
}

static void raw_free(const entry *e)
{
    if (e->how == PAGEABLE)
        free(e->p);
    else
        mpid_cuda_free(e->dev, e->p, e->how == PINNED);
}

static int add(entry x)
{
    if (pools.n == pools.cap) {
        size_t more = pools.cap ? 2 * pools.cap : 32;
        entry *e = realloc(pools.e, more * sizeof *e);
        if (!e)
            return 1;
        pools.e = e;
        pools.cap = more;
    }
    pools.e[pools.n++] = x;
    if (x.kept)
        pools.bytes += x.size;
    return 0;
}

/* A buffer of at least n bytes of memory how for device dev. */
static void *get(int dev, int how, size_t n)
{
    size_t size = (size_t) mpid_pow2_at_least((int64_t) n, INT64_MAX / 2), nv = 0, cap;
    entry victims[16], x = { .dev = dev, .how = how, .used = 1 };
    int best = -1;

    if (size < POOL_MIN)
        size = POOL_MIN;
    if (dev < 0)
        dev = x.dev = 0;
    if (how != PAGEABLE)
        mpid_cuda_check(dev);
    pthread_mutex_lock(&pools.lock);
    if (pool_cap < 0)
        pool_cap = env_pool_cap();
    cap = (size_t) pool_cap;
    for (size_t i = 0; i < pools.n; i++) {
        entry *e = &pools.e[i];
        if (e->dev == dev && e->how == how && !e->used && e->size >= n &&
            (best < 0 || e->size < pools.e[best].size))
            best = (int) i;
    }
    if (best >= 0) {
        pools.e[best].used = 1;
        x.p = pools.e[best].p;
        pthread_mutex_unlock(&pools.lock);
        return x.p;
    }
    /* 1. Room within the cap: idle buffers of this kind freed (outside the lock), 2. the
     * new buffer, kept when it fits. */
    for (size_t i = 0; i < pools.n && pools.bytes + size > cap && nv < 16;) {
        entry *e = &pools.e[i];
        if (e->kept && !e->used && e->how == how) {
            pools.bytes -= e->size;
            victims[nv++] = *e;
            *e = pools.e[--pools.n];
        } else {
            i++;
        }
    }
    x.kept = pools.bytes + size <= cap;
    pthread_mutex_unlock(&pools.lock);
    for (size_t i = 0; i < nv; i++)
        raw_free(&victims[i]);
    x.size = x.kept ? size : n;
    if (!(x.p = raw_alloc(dev, how, x.size)))
        return NULL;
    if (!x.kept)
        mpid_count(MPID_STAT_pool_overflows);
    pthread_mutex_lock(&pools.lock);
    if (add(x)) {
        pthread_mutex_unlock(&pools.lock);
        raw_free(&x);
        return NULL;
    }
    pthread_mutex_unlock(&pools.lock);
    return x.p;
}

static void put(void *p)
{
    entry gone = { 0 };
    int drop = 0;

    if (!p)
        return;
    pthread_mutex_lock(&pools.lock);
    for (size_t i = 0; i < pools.n; i++)
        if (pools.e[i].p == p) {
            if (pools.e[i].kept) {
                pools.e[i].used = 0;
            } else {
                gone = pools.e[i];
                pools.e[i] = pools.e[--pools.n];
                drop = 1;
            }
            break;
        }
    pthread_mutex_unlock(&pools.lock);
    if (drop)
        raw_free(&gone);
}

void mpid_pools_forget(int dev)
{
    pthread_mutex_lock(&pools.lock);
    for (size_t i = 0; i < pools.n;) {
        entry *e = &pools.e[i];
        if (e->dev == dev && e->how != PAGEABLE) {
            if (e->kept)
                pools.bytes -= e->size;
            *e = pools.e[--pools.n];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&pools.lock);
}

void *mpid_pinned_get(int dev, size_t n)
{
    static int warned;
    void *p = get(dev, PINNED, n);

    if (p)
        return p;
    if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
        mpid_warn("%s: staging device buffers through pageable host memory (slower)",
                  mpid_error());
    mpid_count(MPID_STAT_host_fallbacks);
    return get(dev, PAGEABLE, n);
}

void mpid_pinned_put(void *p)
{
    put(p);
}

void *mpid_host_get(size_t n)
{
    return get(-1, PAGEABLE, n);
}

void mpid_host_put(void *p)
{
    put(p);
}

void *mpid_device_get(int dev, size_t n)
{
    return get(dev, DEVICE, n);
}

void mpid_device_put(void *p)
{
    put(p);
}

/* Idle buffers freed, in their devices' contexts, then the contexts let go of. */
void mpid_release(void)
{
    entry *idle;
    size_t n = 0;

    pthread_mutex_lock(&pools.lock);
    idle = malloc((pools.n ? pools.n : 1) * sizeof *idle);
    for (size_t i = 0; idle && i < pools.n;) {
        if (!pools.e[i].used) {
            if (pools.e[i].kept)
                pools.bytes -= pools.e[i].size;
            idle[n++] = pools.e[i];
            pools.e[i] = pools.e[--pools.n];
        } else {
            i++;
        }
    }
    pthread_mutex_unlock(&pools.lock);
    for (size_t i = 0; i < n; i++)
        raw_free(&idle[i]);
    free(idle);
    mpid_cuda_release();
}

