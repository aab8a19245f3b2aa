/*
 * MPI_Init, MPI_Init_thread: start the MPI, then the interposer (mpiw_init, which the
 * Fortran start-up entry points call too).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "mpiw.h"

/* The library must run under the MPI it was compiled for. Another MPI of the same ABI
 * (Intel MPI under an MPICH build) gets every call passed through; one of another ABI
 * (Open MPI's handles are pointers, MPICH's integers) cannot be served at all, not even
 * passed through, and the user is told so before the program fails in it. */
static int same_mpi(void)
{
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
#if defined(MPICH_VERSION)
    const char *expect = "MPICH", *other = "Open MPI";
#elif defined(OPEN_MPI)
    const char *expect = "Open MPI", *other = "MPICH";
#else
    const char *expect = "", *other = NULL;
#endif
    PMPI_Get_library_version(version, &len);
    if (strstr(version, expect))
        return 1;
    if (other && strstr(version, other))
        mpiw_log(MPIW_LOG_ERROR, "built for %s but running under \"%.40s\", whose handles "
                 "it cannot pass on: the program will fail in its MPI calls. Run it without "
                 "the interposer (mpicomm run --no-interposer), or build one for this MPI "
                 "(mpicomm build --mpicc <its mpicc>)", expect, version);
    else
        mpiw_log(MPIW_LOG_ERROR, "built for %s but running under \"%.40s\"; passing every "
                 "call through (mpicomm build --mpicc <its mpicc> builds one for it)", expect,
                 version);
    return 0;
}

/* srun without the MPI's PMI plugin starts every task as an MPI job of its own: each is
 * rank 0 of 1 and the job silently runs N copies. Tasks 1.. of such a step say so (task 0
 * stays quiet, so mpiexec -n 1 in an allocation whose daemons srun started is not named). */
static void check_launch(void)
{
    const char *tasks = getenv("SLURM_STEP_NUM_TASKS"), *task = getenv("SLURM_PROCID");
    int size = 0;

    if (!tasks || !task || atoi(tasks) < 2 || atoi(task) == 0)
        return;
    PMPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size == 1)
        mpiw_log(MPIW_LOG_WARN, "MPI_COMM_WORLD has 1 rank, but this is task %s of a Slurm step "
                 "of %s: srun started each task as an MPI job of its own (start MPICH with "
                 "srun --mpi=pmi2, Open MPI with srun --mpi=pmix; `mpicomm run` does)",
                 task, tasks);
}

/* Does the MPI take CUDA device pointers? Its own answer (MPICH answers only after
 * MPI_Init), looked up by name: not every MPI has the call. */
static int cuda_aware(void)
{
    int (*query)(void) = (int (*)(void)) dlsym(RTLD_DEFAULT, "MPIX_Query_cuda_support");
    int aware = query && query();

    if (mpiw_g.method == MPIW_METHOD_DEVICE && !aware)
        mpiw_log(MPIW_LOG_WARN, "MPICOMM_METHOD=device needs a CUDA-aware MPI, and this one "
                 "says it is not (MPIX_Query_cuda_support); device buffers go staged");
    return aware;
}

/* 1. Settings, 2. the MPI it runs under (another MPI: nothing more, every call passes
 * through without the interposer touching a handle of its own) and whether it takes
 * device pointers, 3. the model and the ranks of this node (collective over
 * MPI_COMM_WORLD), 4. communicator hints, 5. the launch. */
void mpiw_init(int thread_level)
{
    if (mpiw_g.initialized)
        return;
    mpiw_state_init(thread_level);
    if (!same_mpi()) {
        mpiw_g.disabled = 1;
        return;
    }
    mpiw_g.verified = 1;
    mpiw_g.cuda_aware = cuda_aware();
    mpiw_g.initialized = 1;
    if (!mpiw_g.disabled && mpiw_g.method != MPIW_METHOD_PASSTHROUGH &&
        mpiw_g.method != MPIW_METHOD_PACK) {
        mpiw_model_load();
        mpiw_locality_init();
    }
    mpiw_comms_init();
    if (!mpiw_g.disabled)
        check_launch();
    mpiw_log(MPIW_LOG_INFO, "interposer %s (%d generated kernels, thread level %d)",
             mpiw_g.disabled ? "disabled" : "enabled", mpic_kernel_count(), thread_level);
}

int MPI_Init(int *argc, char ***argv)
{
    int err = PMPI_Init(argc, argv), provided = MPI_THREAD_SINGLE;

    if (err == MPI_SUCCESS) {
        PMPI_Query_thread(&provided);
        mpiw_init(provided);
    }
    return err;
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
    int err = PMPI_Init_thread(argc, argv, required, provided);

    if (err == MPI_SUCCESS)
        mpiw_init(*provided);
    return err;
}
