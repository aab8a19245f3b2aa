/*
 * A Slurm SPANK plugin: `srun --mpicomm[=METHOD]` (also sbatch and salloc, whose steps
 * inherit it) preloads the mpicomm interposer into every task of the step, so any MPI
 * program, C, Fortran or Python, launched with a plain srun goes through it.
 *
 * plugstack.conf:
 *     optional /path/mpicomm_spank.so lib=/path/libmpicomm.so [default=on]
 *
 * lib=      the interposer built for the site's MPI (`mpicomm preload-path`).
 * default=  on: every task gets it unless the job says --mpicomm=off (default: off).
 * METHOD    auto, pack, passthrough or pipeline: also sets MPICOMM_METHOD for the
 *           tasks; off: no preload.
 *
 * Build: make -C slurm (needs Slurm's spank.h: Debian's libslurm-dev).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdint.h>
#include <slurm/slurm.h>
#include <slurm/spank.h>

SPANK_PLUGIN(mpicomm, 1);

#define MPIS_ENV_MAX 4096

static char mpis_lib[1024];
static int mpis_default_on;

static const char *mpis_methods[] = { "auto", "pack", "passthrough", "pipeline", "off", NULL };

static int mpis_method_ok(const char *m)
{
    for (int i = 0; mpis_methods[i]; i++)
        if (!strcmp(m, mpis_methods[i]))
            return 1;
    return 0;
}

/* The option's argument, or NULL when it has none. An sbatch/salloc option reaches its
 * steps through the environment, and Slurm 22.05 writes a missing argument there as the
 * text "(null)". */
static const char *mpis_arg(const char *optarg)
{
    return optarg && *optarg && strcmp(optarg, "(null)") ? optarg : NULL;
}

static int mpis_check_option(int val, const char *optarg, int remote)
{
    optarg = mpis_arg(optarg);
    if (optarg && !mpis_method_ok(optarg)) {
        slurm_error("mpicomm: --mpicomm=%s is not a method: use auto, pack, passthrough, "
                    "pipeline or off", optarg);
        return -1;
    }
    return 0;
}

static struct spank_option mpis_option = {
    "mpicomm", "[method]",
    "Preload the mpicomm interposer into the tasks; method: auto, pack, passthrough, "
    "pipeline (sets MPICOMM_METHOD), or off",
    2, 0, mpis_check_option
};

/* 1. Read plugstack.conf's arguments, 2. offer the option to srun, sbatch and salloc. */
int slurm_spank_init(spank_t sp, int ac, char **av)
{
    for (int i = 0; i < ac; i++) {
        if (!strncmp(av[i], "lib=", 4)) {
            if (snprintf(mpis_lib, sizeof mpis_lib, "%s", av[i] + 4) >= (int) sizeof mpis_lib) {
                slurm_error("mpicomm: plugstack.conf lib= is longer than %d bytes",
                            (int) sizeof mpis_lib - 1);
                return ESPANK_BAD_ARG;
            }
        } else if (!strcmp(av[i], "default=on") || !strcmp(av[i], "default=off")) {
            mpis_default_on = !strcmp(av[i], "default=on");
        } else {
            slurm_error("mpicomm: unknown plugstack.conf argument '%s' (use lib=PATH and "
                        "default=on|off)", av[i]);
            return ESPANK_BAD_ARG;
        }
    }
    if (!mpis_lib[0]) {
        slurm_error("mpicomm: plugstack.conf gives no lib=PATH (the interposer: `mpicomm "
                    "preload-path`)");
        return ESPANK_BAD_ARG;
    }
    return spank_option_register(sp, &mpis_option);
}

/* In each task before it starts: put the interposer first in LD_PRELOAD. */
int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
    char *arg = NULL, old[MPIS_ENV_MAX], val[MPIS_ENV_MAX + sizeof mpis_lib + 1];
    int given = spank_option_getopt(sp, &mpis_option, &arg) == ESPANK_SUCCESS;
    const char *method = given ? mpis_arg(arg) : NULL;
    spank_err_t err;

    uint32_t step = SLURM_BATCH_SCRIPT;

    /* 1. Asked for (or on by default, and not turned off)? Only in the steps that run
     *    the program: never in a batch script, an interactive step or the extern step,
     *    whose srun and shell would otherwise carry it (and hand it to every step). */
    if (method && !strcmp(method, "off"))
        return ESPANK_SUCCESS;
    if (!given && !mpis_default_on)
        return ESPANK_SUCCESS;
    if (spank_get_item(sp, S_JOB_STEPID, &step) != ESPANK_SUCCESS ||
        step > SLURM_MAX_NORMAL_STEP_ID)
        return ESPANK_SUCCESS;
    /* 2. A library that is not there: say so in the job's output and run the task on
     *    the MPI alone (Slurm would run it anyway; a preload that cannot be opened only
     *    makes the loader warn, task by task). */
    if (access(mpis_lib, R_OK) != 0) {
        slurm_error("mpicomm: --mpicomm: the interposer %s is not readable on this node "
                    "(plugstack.conf lib=); the task runs without it", mpis_lib);
        return ESPANK_SUCCESS;
    }
    /* 3. Prepend it to the task's LD_PRELOAD, and set the method when one was named. */
    err = spank_getenv(sp, "LD_PRELOAD", old, sizeof old);
    if (err == ESPANK_NOSPACE) {
        slurm_error("mpicomm: --mpicomm: the task's LD_PRELOAD is longer than %d bytes",
                    MPIS_ENV_MAX - 1);
        return ESPANK_ERROR;
    }
    if (err != ESPANK_SUCCESS)
        old[0] = '\0';
    if (strstr(old, mpis_lib))
        snprintf(val, sizeof val, "%s", old);
    else if (old[0])
        snprintf(val, sizeof val, "%s:%s", mpis_lib, old);
    else
        snprintf(val, sizeof val, "%s", mpis_lib);
    if (spank_setenv(sp, "LD_PRELOAD", val, 1) != ESPANK_SUCCESS)
        return ESPANK_ERROR;
    if (method)
        return spank_setenv(sp, "MPICOMM_METHOD", method, 1);
    return ESPANK_SUCCESS;
}
