/*
 * Device buffers where the MPI must see host memory.
 *
 * An MPI that is not CUDA-aware cannot be handed a device pointer (the PyPI wheels
 * segfault on one). What the generated kernels pack goes through the device layer
 * (interposer/device); everything else a call carries from or to device memory (a
 * contiguous buffer, a type that is not canonical) travels through a mirror: the bytes
 * the elements span, copied to pinned host memory, given to the MPI with the program's
 * own count and type, and copied back after a receive. Errors of the device layer are
 * reported through the communicator's error handler, as the MPI reports its own.
 */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "mpiw.h"

/* The MPI's own view of a type: size, bounds, extent. 0 when it does not know it. */
int mpiw_type_info(MPI_Datatype dt, mpic_typeinfo *t)
{
    MPI_Count size, lb, extent, tlb, textent;

    if (dt == MPI_DATATYPE_NULL || PMPI_Type_size_x(dt, &size) != MPI_SUCCESS ||
        PMPI_Type_get_extent_x(dt, &lb, &extent) != MPI_SUCCESS ||
        PMPI_Type_get_true_extent_x(dt, &tlb, &textent) != MPI_SUCCESS)
        return 0;
    *t = (mpic_typeinfo) { size, lb, extent, tlb, textent };
    return 1;
}

/* MPI_Pack_size in whichever form the MPI has. */
static int pack_bound(int64_t count, MPI_Datatype dt, MPI_Comm comm, int64_t *bound)
{
#if MPIW_HAVE_LARGE_COUNT
    MPI_Count n = 0;
    int err = PMPI_Pack_size_c(count, dt, comm, &n);
#else
    int n = 0, err = count > INT_MAX ? MPI_ERR_COUNT : PMPI_Pack_size((int) count, dt, comm, &n);
#endif
    *bound = n;
    return err == MPI_SUCCESS && n > 0;
}

int mpiw_device_failed(MPI_Comm comm, int code)
{
    mpiw_log(MPIW_LOG_ERROR, "device buffer: %s", mpid_error());
    if (comm != MPI_COMM_NULL)
        PMPI_Comm_call_errhandler(comm, code);
    return code;
}

int mpiw_mirror_open(mpiw_mirror *m, const void *buf, int64_t count, MPI_Datatype dt, int in)
{
    mpic_typeinfo t;

    m->dev = (char *) buf;
    m->host = NULL;
    m->mask = NULL;
    m->lo = m->hi = 0;
    if (count <= 0 || !mpid_on_device(buf) || !mpiw_type_info(dt, &t) || t.size == 0)
        return 0;
    mpid_span(&t, count, &m->lo, &m->hi);
    if (!(m->host = mpid_pinned_get(mpid_device_of(buf), (size_t) (m->hi - m->lo))))
        return 1;
    if (in && mpid_copy(m->host, m->dev + m->lo, (size_t) (m->hi - m->lo))) {
        mpid_pinned_put(m->host);
        m->host = NULL;
        return 1;
    }
    return 0;
}

int mpiw_mirror_open_span(mpiw_mirror *m, const void *buf, int64_t lo, int64_t hi)
{
    m->dev = (char *) buf;
    m->host = NULL;
    m->mask = NULL;
    m->lo = lo;
    m->hi = hi;
    if (hi <= lo || !mpid_on_device(buf))
        return 0;
    if (!(m->host = mpid_pinned_get(mpid_device_of(buf), (size_t) (hi - lo))))
        return 1;
    if (mpid_copy(m->host, m->dev + lo, (size_t) (hi - lo))) {
        mpid_pinned_put(m->host);
        m->host = NULL;
        return 1;
    }
    return 0;
}

void *mpiw_mirror_at(const mpiw_mirror *m)
{
    return m->host ? m->host - m->lo : m->dev;
}

int mpiw_mirror_close(mpiw_mirror *m, int64_t first, int64_t bytes)
{
    int err = 0;

    if (!m->host)
        return 0;
    if (bytes > 0 && m->mask)
        err = mpid_merge(m->dev + first, m->host + (first - m->lo), m->mask + (first - m->lo),
                         (size_t) bytes);
    else if (bytes > 0)
        err = mpid_copy(m->dev + first, m->host + (first - m->lo), (size_t) bytes);
    mpid_pinned_put(m->host);
    free(m->mask);
    m->host = NULL;
    m->mask = NULL;
    return err;
}

/* A communicator of this process alone, for the masks' messages to itself. */
static MPI_Comm self = MPI_COMM_NULL;
static pthread_mutex_t self_lock = PTHREAD_MUTEX_INITIALIZER;

void mpiw_device_finalize(void)
{
    if (self != MPI_COMM_NULL)
        PMPI_Comm_free(&self);
}

/* The bytes the MPI writes when count elements of dt take the first `bytes` bytes of a
 * message, as the mirror's mask: 0xff bytes sent to this process as MPI_PACKED and
 * received with the program's own type (partial elements too), so that closing the
 * mirror changes those bytes of the device buffer and no other. 0 on success; 1 leaves
 * no mask (the whole span is copied back). */
int mpiw_mirror_mask(mpiw_mirror *m, int64_t count, MPI_Datatype dt, int64_t bytes)
{
    static int tags;
    int tag = __atomic_fetch_add(&tags, 1, __ATOMIC_RELAXED) & 0x7fff, err;
    unsigned char *ones;
    MPI_Request req;

    if (!m->host || bytes <= 0)
        return 0;
    pthread_mutex_lock(&self_lock);
    if (self == MPI_COMM_NULL)
        PMPI_Comm_dup(MPI_COMM_SELF, &self);
    pthread_mutex_unlock(&self_lock);
    if (self == MPI_COMM_NULL || !(m->mask = calloc(1, (size_t) (m->hi - m->lo))))
        return 1;
    if (!(ones = malloc((size_t) bytes))) {
        free(m->mask);
        m->mask = NULL;
        return 1;
    }
    memset(ones, 0xff, (size_t) bytes);
    /* The send is waited for even when the receive failed: ones is freed after it. */
#if MPIW_HAVE_LARGE_COUNT
    err = PMPI_Isend_c(ones, bytes, MPI_PACKED, 0, tag, self, &req) != MPI_SUCCESS;
    if (!err) {
        err = PMPI_Recv_c(m->mask - m->lo, count, dt, 0, tag, self, MPI_STATUS_IGNORE) !=
              MPI_SUCCESS;
        err = PMPI_Wait(&req, MPI_STATUS_IGNORE) != MPI_SUCCESS || err;
    }
#else
    err = bytes > INT_MAX || count > INT_MAX ||
          PMPI_Isend(ones, (int) bytes, MPI_PACKED, 0, tag, self, &req) != MPI_SUCCESS;
    if (!err) {
        err = PMPI_Recv(m->mask - m->lo, (int) count, dt, 0, tag, self, MPI_STATUS_IGNORE) !=
              MPI_SUCCESS;
        err = PMPI_Wait(&req, MPI_STATUS_IGNORE) != MPI_SUCCESS || err;
    }
#endif
    free(ones);
    if (err) {
        free(m->mask);
        m->mask = NULL;
    }
    return err;
}

/* The span of a mirror, for a close that copies all of it back. */
int64_t mpiw_mirror_len(const mpiw_mirror *m)
{
    return m->hi - m->lo;
}

#if MPIW_HAVE_LARGE_COUNT
#define POSITION MPI_Count
#else
#define POSITION int
#endif

/* A position outside a packed device buffer: an MPI may write or read before or past a
 * host buffer there (MPICH 5 packs at position -1), never outside device memory. */
static int outside(const void *packed, int64_t size, int64_t position)
{
    if (!mpid_on_device(packed) || (position >= 0 && position <= size))
        return 0;
    mpiw_log(MPIW_LOG_ERROR, "position %lld is outside the packed device buffer of %lld bytes",
             (long long) position, (long long) size);
    return 1;
}

static int arg_error(MPI_Comm comm)
{
    if (comm != MPI_COMM_NULL)
        PMPI_Comm_call_errhandler(comm, MPI_ERR_ARG);
    return MPI_ERR_ARG;
}

/* MPI_Pack where either side is on the device and the MPI packs: between mirrors. */
int mpiw_device_mpi_pack(const void *inbuf, int64_t incount, MPI_Datatype dt, void *outbuf,
                         int64_t outsize, int64_t *position, MPI_Comm comm)
{
    mpiw_mirror in;
    POSITION pos = (POSITION) *position, start = pos;
    int64_t bound = 0;
    char *tmp = NULL;
    int err;

    /* 1. The elements' bytes to host, 2. room on the host for what is packed (written at
     * tmp + position: the MPI is handed tmp - position), 3. the MPI packs, 4. its bytes
     * to the device. */
    if (outside(outbuf, outsize, *position))
        return arg_error(comm);
    if (mpiw_mirror_open(&in, inbuf, incount, dt, 1))
        return mpiw_device_failed(comm, MPI_ERR_NO_MEM);
    if (mpid_on_device(outbuf) && incount > 0 && dt != MPI_DATATYPE_NULL &&
        comm != MPI_COMM_NULL && pack_bound(incount, dt, comm, &bound) &&
        !(tmp = mpid_pinned_get(mpid_device_of(outbuf), (size_t) bound))) {
        mpiw_mirror_close(&in, 0, 0);
        return mpiw_device_failed(comm, MPI_ERR_NO_MEM);
    }
#if MPIW_HAVE_LARGE_COUNT
    err = PMPI_Pack_c(mpiw_mirror_at(&in), incount, dt, tmp ? tmp - pos : outbuf, outsize, &pos,
                      comm);
#else
    err = PMPI_Pack(mpiw_mirror_at(&in), (int) incount, dt, tmp ? tmp - pos : outbuf,
                    (int) outsize, &pos, comm);
#endif
    mpiw_mirror_close(&in, 0, 0);
    if (tmp) {
        /* MPICH may pack past outsize when position == outsize: never past the buffer. */
        POSITION end = pos < outsize ? pos : (POSITION) outsize;
        if (err == MPI_SUCCESS && end > start &&
            mpid_copy((char *) outbuf + start, tmp, (size_t) (end - start)))
            err = mpiw_device_failed(comm, MPI_ERR_OTHER);
        mpid_pinned_put(tmp);
    }
    *position = pos;
    return err;
}

/* MPI_Unpack where either side is on the device and the MPI unpacks: between mirrors. */
int mpiw_device_mpi_unpack(const void *inbuf, int64_t insize, int64_t *position, void *outbuf,
                           int64_t outcount, MPI_Datatype dt, MPI_Comm comm)
{
    mpiw_mirror out;
    POSITION pos = (POSITION) *position, start = pos;
    int64_t bound = 0;
    char *tmp = NULL;
    int err;

    /* 1. The packed bytes to host (those the elements may take, up to insize), 2. the
     * elements' span to host (gaps and all), 3. the MPI unpacks, 4. the span back. */
    if (outside(inbuf, insize, *position))
        return arg_error(comm);
    if (mpid_on_device(inbuf) && outcount > 0 && dt != MPI_DATATYPE_NULL &&
        comm != MPI_COMM_NULL && pack_bound(outcount, dt, comm, &bound) && start >= 0 &&
        start < insize) {
        int64_t n = insize - start < bound ? insize - start : bound;
        tmp = mpid_pinned_get(mpid_device_of(inbuf), (size_t) n);
        if (!tmp || mpid_copy(tmp, (const char *) inbuf + start, (size_t) n)) {
            mpid_pinned_put(tmp);
            return mpiw_device_failed(comm, MPI_ERR_NO_MEM);
        }
    }
    if (mpiw_mirror_open(&out, outbuf, outcount, dt, 1)) {
        mpid_pinned_put(tmp);
        return mpiw_device_failed(comm, MPI_ERR_NO_MEM);
    }
#if MPIW_HAVE_LARGE_COUNT
    err = PMPI_Unpack_c(tmp ? tmp - pos : inbuf, insize, &pos, mpiw_mirror_at(&out), outcount,
                        dt, comm);
#else
    err = PMPI_Unpack(tmp ? tmp - pos : inbuf, (int) insize, &pos, mpiw_mirror_at(&out),
                      (int) outcount, dt, comm);
#endif
    if (err == MPI_SUCCESS)
        mpiw_mirror_mask(&out, outcount, dt, (int64_t) (pos - start));
    if (mpiw_mirror_close(&out, out.lo, err == MPI_SUCCESS ? mpiw_mirror_len(&out) : 0))
        err = mpiw_device_failed(comm, MPI_ERR_OTHER);
    mpid_pinned_put(tmp);
    *position = pos;
    return err;
}

/* The first nbytes of a packed stream into count's worth of elements of d on the device:
 * whole elements by the kernels, a partial last one through its span on the host. */
int mpiw_device_unpack_bytes(const mpic_desc *d, int64_t nbytes, const void *packed, void *out)
{
    int64_t whole = nbytes / d->info.size, left = nbytes - whole * d->info.size;
    mpic_desc one = *d;
    mpiw_mirror m = { 0 };
    char *host;

    if (whole && mpid_unpack(d, whole, packed, out))
        return 1;
    if (!left)
        return 0;
    mpid_span(&d->info, 1, &m.lo, &m.hi);
    m.dev = (char *) out + whole * d->info.extent;
    if (!(host = m.host = mpid_pinned_get(mpid_device_of(m.dev), (size_t) (m.hi - m.lo))) ||
        mpid_copy(host, m.dev + m.lo, (size_t) (m.hi - m.lo))) {
        mpid_pinned_put(host);
        return 1;
    }
    if (mpid_on_device(packed)) {
        char *tail = mpid_pinned_get(mpid_device_of(packed), (size_t) left);
        int err = !tail || mpid_copy(tail, (const char *) packed + whole * d->info.size,
                                     (size_t) left);
        if (!err)
            mpic_unpack_bytes(&one, left, tail, host - m.lo);
        mpid_pinned_put(tail);
        if (err) {
            mpid_pinned_put(host);
            return 1;
        }
    } else {
        mpic_unpack_bytes(&one, left, (const char *) packed + whole * d->info.size, host - m.lo);
    }
    /* Only the bytes of the partial element (without memory for its mask, its span). */
    m.mask = mpid_mask(&one, left, m.lo, m.hi - m.lo);
    return mpiw_mirror_close(&m, m.lo, m.hi - m.lo);
}
