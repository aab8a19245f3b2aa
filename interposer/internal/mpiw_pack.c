/*
 * The packer behind MPI_Pack and MPI_Unpack. A call is done here only when every
 * argument is valid, the type is canonical or has the table form (host buffers) and the
 * model did not measure the MPI's own call faster; anything else is the MPI's to do, so
 * that errors (and their messages) stay the MPI's own. A device buffer on either side
 * is packed by the device layer, or, where the MPI must do it, handed to the MPI as a
 * host mirror (mpiw_device.c).
 */
#include "mpiw.h"

/* Why a call goes to the MPI, for MPICOMM_LOG=debug. */
static const char *refusal(MPI_Comm comm, int64_t count, const void *buf, int found, int faster)
{
    if (faster)
        return "the model measured the MPI's own faster";
    if (comm == MPI_COMM_NULL)
        return "MPI_COMM_NULL";
    if (count <= 0)
        return "count <= 0";
    if (!buf)
        return "NULL packed buffer";
    return found ? "does not fit between position and the buffer's end" :
                   "type not committed, or not canonical";
}

/* Room for incount elements of size bytes between position and the buffer's end? */
static int fits(int64_t count, int64_t size, int64_t position, int64_t total)
{
    return position >= 0 && position <= total && size > 0 && count <= (total - position) / size;
}

/* The type as the core packs it here: canonical, or the table form (on the device
 * through its span in host memory). Released by the caller. */
static int packable(MPI_Datatype dt, mpic_desc *d)
{
    return mpiw_types_lookup_packable(dt, d);
}

int mpiw_pack_try(const void *inbuf, int64_t incount, MPI_Datatype dt, void *outbuf,
                  int64_t outsize, int64_t *position, MPI_Comm comm, int *err)
{
    mpic_desc d = { 0 };
    int64_t n;
    int found = 0, faster = 0, device = mpid_either_on_device(inbuf, outbuf);

    if (comm == MPI_COMM_NULL || incount <= 0 || !outbuf ||
        !(found = packable(dt, &d)) || !fits(incount, d.info.size, *position, outsize) ||
        (!device && (faster = mpiw_model_mpi_packs(&d, incount, 0)))) {
        mpic_desc_release(&d);
        mpiw_count(MPIW_STAT_pack_fallback, 1);
        mpiw_log(MPIW_LOG_DEBUG, "MPI_Pack to the MPI: %s",
                 refusal(comm, incount, outbuf, found, faster));
        if (!device)
            return 0;
        *err = mpiw_device_mpi_pack(inbuf, incount, dt, outbuf, outsize, position, comm);
        return 1;
    }
    n = incount * d.info.size;
    *err = MPI_SUCCESS;
    if (!device)
        mpic_pack(&d, incount, inbuf, (char *) outbuf + *position);
    else if (mpid_pack(&d, incount, inbuf, (char *) outbuf + *position))
        return *err = mpiw_device_failed(comm, MPI_ERR_OTHER), 1;
    mpic_desc_release(&d);
    *position += n;
    mpiw_count(MPIW_STAT_pack_fast, 1);
    mpiw_count(MPIW_STAT_bytes_packed, n);
    return 1;
}

int mpiw_unpack_try(const void *inbuf, int64_t insize, int64_t *position, void *outbuf,
                    int64_t outcount, MPI_Datatype dt, MPI_Comm comm, int *err)
{
    mpic_desc d = { 0 };
    int64_t n;
    int found = 0, faster = 0, device = mpid_either_on_device(inbuf, outbuf);

    if (comm == MPI_COMM_NULL || outcount <= 0 || !inbuf ||
        !(found = packable(dt, &d)) || !fits(outcount, d.info.size, *position, insize) ||
        (!device && (faster = mpiw_model_mpi_packs(&d, outcount, 1)))) {
        mpic_desc_release(&d);
        mpiw_count(MPIW_STAT_unpack_fallback, 1);
        mpiw_log(MPIW_LOG_DEBUG, "MPI_Unpack to the MPI: %s",
                 refusal(comm, outcount, inbuf, found, faster));
        if (!device)
            return 0;
        *err = mpiw_device_mpi_unpack(inbuf, insize, position, outbuf, outcount, dt, comm);
        return 1;
    }
    n = outcount * d.info.size;
    *err = MPI_SUCCESS;
    if (!device)
        mpic_unpack(&d, outcount, (const char *) inbuf + *position, outbuf);
    else if (mpid_unpack(&d, outcount, (const char *) inbuf + *position, outbuf))
        return *err = mpiw_device_failed(comm, MPI_ERR_OTHER), 1;
    mpic_desc_release(&d);
    *position += n;
    mpiw_count(MPIW_STAT_unpack_fast, 1);
    mpiw_count(MPIW_STAT_bytes_unpacked, n);
    return 1;
}
