/*
 * Public control symbols, looked up with dlsym or ctypes (mpicomm.interposer); absent
 * when the interposer is not preloaded.
 */
#include <string.h>
#include "mpiw.h"

int mpicomm_interposer_set_enabled(int on)
{
    int was = !mpiw_g.bypass;
    mpiw_g.bypass = !on;
    return was;
}

/* Set the point-to-point method by name (auto, passthrough, pack, pipeline); returns the
 * previous one's name, or NULL (and changes nothing) for an unknown name. */
const char *mpicomm_interposer_set_method(const char *name)
{
    int m = mpiw_method_of(name);
    const char *was = mpiw_method_name(mpiw_g.method);

    if (m < 0)
        return NULL;
    mpiw_g.method = m;
    return was;
}

long long mpicomm_interposer_stat(const char *name)
{
    if (!strcmp(name, "requests_live"))     /* requests of ours not yet completed and freed */
        return __atomic_load_n(&mpiw_requests_live, __ATOMIC_RELAXED);
    return mpiw_stat(name);
}

/* The model file MPICOMM_METHOD=auto uses, or "builtin". */
const char *mpicomm_interposer_model(void)
{
    return mpiw_model_source();
}

/* The pipelined method's smallest chunk in bytes (MPICOMM_PIPELINE_CHUNK as read). */
long long mpicomm_interposer_pipeline_chunk(void)
{
    return mpiw_g.pipe_chunk;
}

int mpicomm_interposer_active(void)
{
    return mpiw_active();
}

/* Does the MPI take CUDA device pointers (MPIX_Query_cuda_support at MPI_Init)? */
int mpicomm_interposer_cuda_aware(void)
{
    return mpiw_g.cuda_aware;
}

/* The interposer's own decoding of a datatype, what MPI_Type_commit records (mpicomm's
 * Python decoder is tested against it): handle points at an MPI_Datatype (mpi4py's
 * MPI._addressof). */
void mpicomm_interposer_describe(const void *handle, mpic_desc *out)
{
    MPI_Datatype dt;

    memcpy(&dt, handle, sizeof dt);
    mpiw_types_decode(dt, out);
}
