/*
 * Settings from the environment, logging, counters, and the few symbols a
 * program (or the Python package) may call to control the interposer.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "mpiw.h"

mpiw_state mpiw_g = { .log_level = MPIW_LOG_WARN };

static const char *stat_names[] = {
#define MPIW_STAT_NAME(name) #name,
    MPIW_STATS(MPIW_STAT_NAME)
#undef MPIW_STAT_NAME
};

static const char *level_names[] = { "error", "warn", "info", "debug" };

void mpiw_log(int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int rank = -1, up = 0, down = 0, n;

    if (level > mpiw_g.log_level)
        return;
    PMPI_Initialized(&up);
    PMPI_Finalized(&down);
    if (up && !down)
        PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
    /* One write per message, so that ranks sharing a terminal do not interleave. */
    n = snprintf(line, sizeof line, "mpicomm[%d] %s: ", rank, level_names[level]);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t) n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}

/* A boolean setting: 1, 0, or dflt with a warning when the value is not understood. */
static int env_flag(const char *name, int dflt)
{
    const char *v = getenv(name);
    static const char *yes[] = { "1", "true", "yes", "on" }, *no[] = { "0", "false", "no", "off", "" };

    if (!v)
        return dflt;
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        if (!strcasecmp(v, yes[i]))
            return 1;
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        if (!strcasecmp(v, no[i]))
            return 0;
    mpiw_log(MPIW_LOG_WARN, "%s=%s is not understood (use 1 or 0); using %d", name, v, dflt);
    return dflt;
}

static int env_log_level(void)
{
    const char *v = getenv("MPICOMM_LOG");

    if (!v || !*v)
        return MPIW_LOG_WARN;
    for (int i = 0; i <= MPIW_LOG_DEBUG; i++)
        if (!strcasecmp(v, level_names[i]))
            return i;
    mpiw_log(MPIW_LOG_WARN, "MPICOMM_LOG=%s is not one of error, warn, info, debug; using warn", v);
    return MPIW_LOG_WARN;
}

static const char *method_names[] = { "auto", "passthrough", "pack", "pipeline" };

static int method_of(const char *v)
{
    for (int i = 0; i < (int) (sizeof method_names / sizeof *method_names); i++)
        if (!strcasecmp(v, method_names[i]))
            return i;
    return -1;
}

static int env_method(void)
{
    const char *v = getenv("MPICOMM_METHOD");

    if (!v || !*v)
        return MPIW_METHOD_AUTO;
    if (method_of(v) >= 0)
        return method_of(v);
    mpiw_log(MPIW_LOG_WARN,
             "MPICOMM_METHOD=%s is not one of auto, passthrough, pack, pipeline; using auto", v);
    return MPIW_METHOD_AUTO;
}

/* MPICOMM_PIPELINE_CHUNK: the pipelined method's smallest chunk, 4 KiB to 256 MiB (the
 * same on every rank, which chunk 0's header checks). */
static int64_t env_chunk(void)
{
    const char *v = getenv("MPICOMM_PIPELINE_CHUNK");
    char *end = NULL;
    long long n;

    if (!v || !*v)
        return MPIW_PIPE_CHUNK;
    n = strtoll(v, &end, 10);
    if (*end == 'k' || *end == 'K')
        n <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        n <<= 20, end++;
    if (*end || n < 4096 || n > (1LL << 28)) {
        mpiw_log(MPIW_LOG_WARN, "MPICOMM_PIPELINE_CHUNK=%s is not a size from 4096 bytes to "
                 "256 MiB (e.g. 131072, 128k, 1m); using %d", v, MPIW_PIPE_CHUNK);
        return MPIW_PIPE_CHUNK;
    }
    return n;
}

/* The library must run under the MPI it was compiled for. */
static int same_mpi(void)
{
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
#if defined(MPICH_VERSION)
    const char *expect = "MPICH";
#elif defined(OPEN_MPI)
    const char *expect = "Open MPI";
#else
    const char *expect = "";
#endif
    PMPI_Get_library_version(version, &len);
    if (strstr(version, expect))
        return 1;
    mpiw_log(MPIW_LOG_ERROR, "built for %s but running under \"%.40s\"; passing every call through",
             expect, version);
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

void mpiw_state_init(int thread_level)
{
    if (mpiw_g.initialized)
        return;
    mpiw_g.log_level = env_log_level();
    mpiw_g.disabled = env_flag("MPICOMM_DISABLE", 0) || !same_mpi();
    mpiw_g.stats = env_flag("MPICOMM_STATS", 0);
    mpiw_g.method = env_method();
    mpiw_g.pipe_chunk = env_chunk();
    mpiw_g.threaded = thread_level == MPI_THREAD_MULTIPLE;
    mpiw_g.initialized = 1;
    if (!mpiw_g.disabled &&
        (mpiw_g.method == MPIW_METHOD_AUTO || mpiw_g.method == MPIW_METHOD_PIPELINE))
        mpiw_model_load();
    mpiw_comms_init();
    if (!mpiw_g.disabled)
        check_launch();
    mpiw_log(MPIW_LOG_INFO, "interposer %s (%d generated kernels, thread level %d)",
             mpiw_g.disabled ? "disabled" : "enabled", mpic_kernel_count(), thread_level);
}

void mpiw_state_finalize(void)
{
    int rank = -1;

    if (!mpiw_g.initialized)
        return;
    if (mpiw_g.stats) {
        char line[2048];
        int n;
        PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
        n = snprintf(line, sizeof line, "mpicomm-stats {\"rank\": %d, \"enabled\": %d", rank,
                     !mpiw_g.disabled);
        for (int i = 0; i < MPIW_NSTATS; i++)
            n += snprintf(line + n, sizeof line - (size_t) n, ", \"%s\": %lld", stat_names[i],
                          (long long) mpiw_g.counters[i]);
        fprintf(stderr, "%s}\n", line);
        fflush(stderr);
    }
    mpiw_requests_clear();
    mpiw_types_clear();
    mpiw_comms_finalize();
    mpiw_scratch_release();
    mpiw_g.initialized = 0;
}

/* Public control symbols, looked up with dlsym or ctypes; absent when not preloaded. */
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
    int m = name ? method_of(name) : -1;
    const char *was = method_names[mpiw_g.method];

    if (m < 0)
        return NULL;
    mpiw_g.method = m;
    return was;
}

long long mpicomm_interposer_stat(const char *name)
{
    if (!strcmp(name, "requests_live"))     /* requests of ours not yet completed and freed */
        return __atomic_load_n(&mpiw_requests_live, __ATOMIC_RELAXED);
    for (int i = 0; i < MPIW_NSTATS; i++)
        if (!strcmp(name, stat_names[i]))
            return __atomic_load_n(&mpiw_g.counters[i], __ATOMIC_RELAXED);
    return -1;
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
