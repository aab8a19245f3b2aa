/*
 * Settings from the environment, logging and counters. Start-up and shut-down are
 * init.c's and finalize.c's; the symbols a program may call are mpiw_controls.c's.
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

/* This process's rank: the MPI's once it is known to be the one the library was built
 * for (a handle of another MPI would crash it), before that the launcher's word. */
static int log_rank(void)
{
    static const char *vars[] = { "PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK",
                                  "SLURM_PROCID" };
    int rank = -1, up = 0, down = 0;

    if (mpiw_g.verified) {
        PMPI_Initialized(&up);
        PMPI_Finalized(&down);
        if (up && !down)
            PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
        return rank;
    }
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]))
            return atoi(getenv(vars[i]));
    return -1;
}

void mpiw_log(int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    int n;

    if (level > mpiw_g.log_level)
        return;
    /* One write per message, so that ranks sharing a terminal do not interleave. */
    n = snprintf(line, sizeof line, "mpicomm[%d] %s: ", log_rank(), level_names[level]);
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

static const char *method_names[] = { "auto", "passthrough", "pack", "pipeline",
                                       "device", "staged", "oneshot", "mirror" };
#define SETTABLE 7             /* the names MPICOMM_METHOD takes (not mirror) */

int mpiw_method_of(const char *v)
{
    if (!v)
        return -1;
    for (int i = 0; i < SETTABLE; i++)
        if (!strcasecmp(v, method_names[i]))
            return i;
    return -1;
}

static int env_method(void)
{
    const char *v = getenv("MPICOMM_METHOD");

    if (!v || !*v)
        return MPIW_METHOD_AUTO;
    if (mpiw_method_of(v) >= 0)
        return mpiw_method_of(v);
    mpiw_log(MPIW_LOG_WARN,
             "MPICOMM_METHOD=%s is not one of auto, passthrough, pack, pipeline, device, "
             "staged, oneshot; using auto", v);
    return MPIW_METHOD_AUTO;
}

/* MPICOMM_PIPELINE_CHUNK: the pipelined method's smallest chunk, 4 KiB to 256 MiB (the
 * same on every rank, which chunk 0's header checks). */
static int64_t env_chunk(void)
{
    const char *v = getenv("MPICOMM_PIPELINE_CHUNK");
    long long n = 0;

    if (!v || !*v)
        return MPIW_PIPE_CHUNK;
    if (!mpic_parse_size(v, &n) || n < 4096 || n > (1LL << 28)) {
        mpiw_log(MPIW_LOG_WARN, "MPICOMM_PIPELINE_CHUNK=%s is not a size from 4096 bytes to "
                 "256 MiB (e.g. 131072, 128k, 1m); using %d", v, MPIW_PIPE_CHUNK);
        return MPIW_PIPE_CHUNK;
    }
    return n;
}

/* MPICOMM_DEVICE is read by the device layer (interposer/device/mpid.c); here only
 * checked, so that a value it would not understand is reported. */
static void check_device(void)
{
    const char *v = getenv("MPICOMM_DEVICE");

    if (v && *v && strcasecmp(v, "cuda") && strcasecmp(v, "sim") && strcasecmp(v, "off"))
        mpiw_log(MPIW_LOG_WARN, "MPICOMM_DEVICE=%s is not one of cuda, sim, off; using cuda", v);
}

/* The device layer's warnings, as the interposer's own. */
static void device_log(const char *line)
{
    mpiw_log(MPIW_LOG_WARN, "%s", line);
}

void mpiw_state_init(int thread_level)
{
    mpid_set_log(device_log);
    check_device();
    mpiw_g.log_level = env_log_level();
    mpiw_g.disabled = env_flag("MPICOMM_DISABLE", 0);
    mpiw_g.stats = env_flag("MPICOMM_STATS", 0);
    mpiw_g.method = env_method();
    mpiw_g.pipe_chunk = env_chunk();
    mpiw_g.threaded = thread_level == MPI_THREAD_MULTIPLE;
}

const char *mpiw_method_name(int method)
{
    return method_names[method];
}

void mpiw_state_report(void)
{
    char line[2048];
    int n, rank = -1;

    if (!mpiw_g.stats)
        return;
    PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
    n = snprintf(line, sizeof line, "mpicomm-stats {\"rank\": %d, \"enabled\": %d", rank,
                 !mpiw_g.disabled);
    for (int i = 0; i < MPIW_NSTATS; i++)
        n += snprintf(line + n, sizeof line - (size_t) n, ", \"%s\": %lld", stat_names[i],
                      (long long) mpiw_g.counters[i]);
    for (int i = 0; mpid_stat_name(i); i++)
        n += snprintf(line + n, sizeof line - (size_t) n, ", \"%s\": %lld", mpid_stat_name(i),
                      mpid_stat_value(i));
    fprintf(stderr, "%s}\n", line);
    fflush(stderr);
}

long long mpiw_stat(const char *name)
{
    for (int i = 0; i < MPIW_NSTATS; i++)
        if (!strcmp(name, stat_names[i]))
            return __atomic_load_n(&mpiw_g.counters[i], __ATOMIC_RELAXED);
    for (int i = 0; mpid_stat_name(i); i++)
        if (!strcmp(name, mpid_stat_name(i)))
            return mpid_stat_value(i);
    return -1;
}
