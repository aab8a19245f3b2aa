/*
 * The packed bytes of a message, wherever its method keeps them: pooled host memory
 * for the pack method (no allocation per message once the messages a program has in
 * flight have their buffers), device memory for the device method (a CUDA-aware MPI
 * sends them from there), pinned host memory for the staged and one-shot methods.
 * Packing and unpacking go through the host kernels or the device layer accordingly; a
 * device unpack of a short message unpacks only the bytes that came.
 */
#include <stdlib.h>
#include "mpiw.h"

void *mpiw_bytes_get(int method, int64_t n, const void *buf)
{
    size_t size = (size_t) (n > 0 ? n : 1);

    switch (method) {
    case MPIW_METHOD_DEVICE:
        return mpid_device_get(mpid_device_of(buf), size);
    case MPIW_METHOD_STAGED:
    case MPIW_METHOD_ONESHOT:
        return mpid_pinned_get(mpid_device_of(buf), size);
    default:
        return mpid_host_get(size);
    }
}

void mpiw_bytes_put(int method, void *bytes)
{
    switch (method) {
    case MPIW_METHOD_DEVICE:
        mpid_device_put(bytes);
        break;
    case MPIW_METHOD_STAGED:
    case MPIW_METHOD_ONESHOT:
        mpid_pinned_put(bytes);
        break;
    default:
        mpid_host_put(bytes);
    }
}

int mpiw_bytes_pack(int method, const mpic_desc *d, int64_t count, const void *buf,
                    void *bytes)
{
    int err = 0;

    if (method == MPIW_METHOD_PACK)
        mpic_pack(d, count, buf, bytes);
    else if (method == MPIW_METHOD_ONESHOT)
        err = mpid_pack_mapped(d, count, buf, bytes);
    else
        err = mpid_pack(d, count, buf, bytes);
    if (!err)
        mpiw_count(MPIW_STAT_bytes_packed, count * d->info.size);
    return err;
}

int mpiw_bytes_unpack(int method, const mpic_desc *d, int64_t nbytes, const void *bytes,
                      void *buf)
{
    int64_t whole = d->info.size ? nbytes / d->info.size : 0;
    int err = 0;

    if (method == MPIW_METHOD_PACK)
        mpic_unpack_bytes(d, nbytes, bytes, buf);
    else if (method == MPIW_METHOD_ONESHOT && whole * d->info.size == nbytes)
        err = whole ? mpid_unpack_mapped(d, whole, bytes, buf) : 0;
    else
        err = mpiw_device_unpack_bytes(d, nbytes, bytes, buf);
    if (!err)
        mpiw_count(MPIW_STAT_bytes_unpacked, nbytes);
    return err;
}
