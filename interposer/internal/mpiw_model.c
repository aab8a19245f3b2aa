/*
 * The performance model behind MPICOMM_METHOD=auto.
 *
 * `mpicomm measure` times, on this system and MPI, a one-way message of a strided
 * type sent by the MPI itself (passthrough) and by the pack method, over a grid of
 * block lengths and total sizes, and writes them to an HDF5 file. At MPI_Init rank 0
 * reads the file (MPICOMM_MODEL, else the per-user cache) and broadcasts it, so every
 * rank holds the same model. A call then takes the method with the lower time at its
 * (innermost block bytes, total bytes), interpolated in log-log space. Without a model
 * the built-in defaults are conservative: pack only where the MPI's derived-type path
 * is known to be weak (MPICH, blocks of at most 64 bytes), pass through elsewhere.
 *
 * Where `mpicomm measure` ran with a device (a GPU, or the simulated device), the file
 * also holds the device methods' times (staged, oneshot; device over a CUDA-aware MPI)
 * for a device buffer of a strided type over a smaller grid, with the backend they were
 * measured on; a device buffer then takes the method with the lowest time at its point,
 * on that backend only.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "mpiw.h"

#define MAXGRID 32
/* The device methods a model may hold, in the order of the defaults' preference. */
#define DEVICE_METHODS 3
static const int device_method[DEVICE_METHODS] = {
    MPIW_METHOD_DEVICE, MPIW_METHOD_STAGED, MPIW_METHOD_ONESHOT
};
/* Pack only where the model expects it at least 5% faster: near a tie the MPI keeps it. */
#define MARGIN 0.04879      /* log(1.05) */

typedef struct model {
    int loaded;                          /* 0: built-in defaults */
    int nb, ns;
    double lblock[MAXGRID], ltotal[MAXGRID];      /* log2 of the grid */
    double gain[MAXGRID * MAXGRID];      /* log(passthrough / pack), [block][total] */
    int np;                              /* sizes the pipelined method was measured at */
    double lpipe[MAXGRID];               /* their log2 */
    double pipe_gain[MAXGRID];           /* mean over blocks of log(best other / pipelined) */
    int dnb, dns;                        /* the device grid; 0: no device tables */
    double dlblock[MAXGRID], dltotal[MAXGRID];
    double dtime[DEVICE_METHODS][MAXGRID * MAXGRID];   /* log seconds; +inf: not measured */
    char dbackend[16];                   /* the backend they were measured on */
    char source[1024];
} model;

static model m;

#if defined(MPICH_VERSION)
static const char vendor[] = "MPICH", vendor_key[] = "mpich";
#elif defined(OPEN_MPI)
static const char vendor[] = "Open MPI", vendor_key[] = "openmpi";
#else
static const char vendor[] = "unknown", vendor_key[] = "unknown";
#endif

/* The file to read: MPICOMM_MODEL, else <cache>/models/<mpi>.h5; NULL for builtin. */
static const char *model_path(char *buf, size_t size, int *explicit)
{
    const char *v = getenv("MPICOMM_MODEL"), *base = getenv("MPICOMM_CACHE_DIR"), *home;

    *explicit = v && *v;
    if (*explicit)
        return strcmp(v, "builtin") ? v : NULL;
    if (base && *base)
        snprintf(buf, size, "%s/models/%s.h5", base, vendor_key);
    else if ((base = getenv("XDG_CACHE_HOME")) && *base)
        snprintf(buf, size, "%s/mpicomm/models/%s.h5", base, vendor_key);
    else if ((home = getenv("HOME")) && *home)
        snprintf(buf, size, "%s/.cache/mpicomm/models/%s.h5", home, vendor_key);
    else
        return NULL;
    return buf;
}

static int ascending_positive(const double *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        if (!(v[i] > 0) || (i && !(v[i] > v[i - 1])))
            return 0;
    return 1;
}

/* The pipelined method's table from the open file f, optional (models from before
 * it have none): its sizes and times; how many sizes, 0 for none or malformed. */
static int64_t read_pipeline(int64_t f, int64_t nb, double *sizes, double *pipe)
{
    int64_t dz[2], dp[2], np = mpiw_h5_read(f, "pipeline_total_bytes", sizes, MAXGRID, dz);

    if (np < 1 || mpiw_h5_read(f, "method/pipeline", pipe, MAXGRID * MAXGRID, dp) != nb * np ||
        dp[0] != nb || !ascending_positive(sizes, np))
        return 0;
    return np;
}

/* The device methods' tables from the open file f, optional: their grid and log-times,
 * kept only when the grid and every table present are well formed. */
static void read_device(int64_t f, model *out)
{
    static double t[MAXGRID * MAXGRID];
    double block[MAXGRID], total[MAXGRID];
    int64_t db[2], dt[2], dm[2], nb, ns;
    char path[64];
    int any = 0;

    if (!mpiw_h5_attr(f, "device_backend", out->dbackend, sizeof out->dbackend) ||
        (nb = mpiw_h5_read(f, "device_block_bytes", block, MAXGRID, db)) < 1 ||
        (ns = mpiw_h5_read(f, "device_total_bytes", total, MAXGRID, dt)) < 1 ||
        !ascending_positive(block, nb) || !ascending_positive(total, ns))
        return;
    for (int k = 0; k < DEVICE_METHODS; k++) {
        snprintf(path, sizeof path, "device/%s", mpiw_method_name(device_method[k]));
        if (mpiw_h5_read(f, path, t, MAXGRID * MAXGRID, dm) != nb * ns || dm[0] != nb) {
            for (int64_t i = 0; i < nb * ns; i++)
                out->dtime[k][i] = INFINITY;
            continue;
        }
        for (int64_t i = 0; i < nb * ns; i++) {
            if (!(t[i] > 0) || !isfinite(t[i]))
                return;
            out->dtime[k][i] = log(t[i]);
        }
        any = 1;
    }
    if (!any)
        return;
    for (int64_t i = 0; i < nb; i++)
        out->dlblock[i] = log2(block[i]);
    for (int64_t i = 0; i < ns; i++)
        out->dltotal[i] = log2(total[i]);
    out->dnb = (int) nb;
    out->dns = (int) ns;
}

/* One gain per size, the mean over block lengths, since both ends of a message must
 * decide alike and may hold different types of the same size. */
static void pipeline_gains(model *out, const double *sizes, const double *pipe, int64_t np,
                           const double *pass, const double *pack)
{
    for (int64_t j = 0; j < np; j++) {
        int col = -1;
        double sum = 0;
        for (int k = 0; k < out->ns; k++)
            if (fabs(out->ltotal[k] - log2(sizes[j])) < 1e-9)
                col = k;
        if (col < 0)
            return;                      /* not a size of the grid: no pipelined choice */
        for (int i = 0; i < out->nb; i++) {
            double t = pipe[i * np + j];
            double best = fmin(pass[i * out->ns + col], pack[i * out->ns + col]);
            if (!(t > 0) || !isfinite(t))
                return;
            sum += log(best / t);
        }
        out->lpipe[j] = log2(sizes[j]);
        out->pipe_gain[j] = sum / out->nb;
    }
    out->np = (int) np;
}

/* The first line of the running MPI's library version, as `mpicomm measure` records
 * it: printable characters only, runs of white space as one space, trimmed. */
static void library_line(char *out, size_t size)
{
    char raw[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    size_t n = 0;

    out[0] = '\0';
    if (size == 0 || PMPI_Get_library_version(raw, &len) != MPI_SUCCESS)
        return;
    for (int i = 0; i < len && raw[i] && raw[i] != '\n' && n + 1 < size; i++) {
        unsigned char c = (unsigned char) raw[i];

        if (c == ' ' || c == '\t' || c == '\r') {
            if (n > 0 && out[n - 1] != ' ')
                out[n++] = ' ';
        } else if (c >= 0x20 && c < 0x7f) {
            out[n++] = (char) c;
        }
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

/* Read path into *out; NULL on success, else why not. */
static const char *read_model(const char *path, model *out)
{
    static double pass[MAXGRID * MAXGRID], pack[MAXGRID * MAXGRID], pipe[MAXGRID * MAXGRID];
    double block[MAXGRID], total[MAXGRID], piped[MAXGRID];
    int64_t db[2], dt[2], dp[2], dk[2], nb = 0, ns = 0, np = 0;
    const char *why = NULL;
    char got[MPI_MAX_LIBRARY_VERSION_STRING] = "", running[MPI_MAX_LIBRARY_VERSION_STRING];
    int64_t f;

    /* 1. Open it, 2. check it is a model for this MPI (its version too, where the file
     * records it), 3. read and check the tables (the pipelined one optional), 4. keep
     * them as log-gains. */
    library_line(running, sizeof running);
    if ((f = mpiw_h5_open(path, &why)) < 0)
        return why;
    if (!mpiw_h5_attr(f, "mpicomm_model", got, sizeof got))
        why = "not an mpicomm model (no mpicomm_model attribute)";
    else if (!mpiw_h5_attr(f, "mpi_vendor", got, sizeof got) || strcmp(got, vendor))
        why = "measured under another MPI";
    else if (mpiw_h5_attr(f, "mpi_library_version", got, sizeof got) && strcmp(got, running))
        why = "measured under another version of this MPI (run mpicomm measure again)";
    else if ((nb = mpiw_h5_read(f, "block_bytes", block, MAXGRID, db)) < 1 ||
             (ns = mpiw_h5_read(f, "total_bytes", total, MAXGRID, dt)) < 1 ||
             mpiw_h5_read(f, "method/passthrough", pass, MAXGRID * MAXGRID, dp) != nb * ns ||
             mpiw_h5_read(f, "method/pack", pack, MAXGRID * MAXGRID, dk) != nb * ns ||
             dp[0] != nb || dk[0] != nb)
        why = "its tables are missing or their shapes disagree";
    else if (!ascending_positive(block, nb) || !ascending_positive(total, ns))
        why = "its block_bytes or total_bytes are not positive and ascending";
    else
        np = read_pipeline(f, nb, piped, pipe);
    if (!why)
        read_device(f, out);
    mpiw_h5_close(f);
    if (why)
        return why;
    for (int64_t i = 0; i < nb * ns; i++)
        if (!(pass[i] > 0) || !(pack[i] > 0) || !isfinite(pass[i]) || !isfinite(pack[i]))
            return "its times are not all positive and finite";
    out->nb = (int) nb;
    out->ns = (int) ns;
    for (int64_t i = 0; i < nb; i++)
        out->lblock[i] = log2(block[i]);
    for (int64_t i = 0; i < ns; i++)
        out->ltotal[i] = log2(total[i]);
    for (int64_t i = 0; i < nb * ns; i++)
        out->gain[i] = log(pass[i] / pack[i]);
    out->loaded = 1;
    snprintf(out->source, sizeof out->source, "%s", path);
    pipeline_gains(out, piped, pipe, np, pass, pack);
    return NULL;
}

void mpiw_model_load(void)
{
    char buf[1024];
    int rank = 0, explicit = 0;
    const char *path, *why;

    PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
    memset(&m, 0, sizeof m);
    if (rank == 0 && (path = model_path(buf, sizeof buf, &explicit))) {
        if (access(path, R_OK) != 0)
            mpiw_log(explicit ? MPIW_LOG_WARN : MPIW_LOG_INFO,
                     "no model at %s (%s); using the built-in defaults", path, strerror(errno));
        else if ((why = read_model(path, &m))) {
            mpiw_log(explicit ? MPIW_LOG_WARN : MPIW_LOG_INFO,
                     "model %s not used: %s; using the built-in defaults", path, why);
            memset(&m, 0, sizeof m);
        }
    }
    PMPI_Bcast(&m, (int) sizeof m, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (m.loaded)
        mpiw_log(MPIW_LOG_INFO, "model %s (%d block lengths x %d sizes, pipelined at %d; "
                 "device methods at %d x %d, on %s)", m.source, m.nb, m.ns, m.np, m.dnb,
                 m.dns, m.dnb ? m.dbackend : "none");
}

/* Where x falls on the grid g[0..n-1]: lower index and weight of the upper one. */
static void locate(const double *g, int n, double x, int *i, double *w)
{
    *i = 0;
    *w = 0;
    if (n == 1 || x <= g[0])
        return;
    if (x >= g[n - 1]) {
        *i = n - 2;
        *w = 1;
        return;
    }
    while (*i < n - 2 && x > g[*i + 1])
        (*i)++;
    *w = (x - g[*i]) / (g[*i + 1] - g[*i]);
}

/* A table v[nb][ns] on the grid (lb, lt) at (log2 block, log2 total), bilinear. */
static double interpolate(const double *v, const double *lb, int nb, const double *lt, int ns,
                          double x, double y)
{
    double wx, wy;
    int i, j, i1, j1;

    locate(lb, nb, x, &i, &wx);
    locate(lt, ns, y, &j, &wy);
    i1 = nb > 1 ? i + 1 : i;
    j1 = ns > 1 ? j + 1 : j;
    return (1 - wx) * ((1 - wy) * v[i * ns + j] + wy * v[i * ns + j1]) +
           wx * ((1 - wy) * v[i1 * ns + j] + wy * v[i1 * ns + j1]);
}

int mpiw_model_pack(const mpic_desc *d, int64_t count)
{
    int64_t block = mpic_block_bytes(d);

    if (!m.loaded)
        return !strcmp(vendor, "MPICH") && block <= 64;
    return interpolate(m.gain, m.lblock, m.nb, m.ltotal, m.ns, log2((double) block),
                       log2((double) count * (double) d->info.size)) > MARGIN;
}

int mpiw_model_device(const mpic_desc *d, int64_t count, int aware)
{
    double x, y, best = INFINITY;
    int method = MPIW_METHOD_AUTO;

    if (!m.dnb || strcmp(m.dbackend, mpid_backend_name()))
        return MPIW_METHOD_AUTO;
    x = log2((double) mpic_block_bytes(d));
    y = log2((double) count * (double) d->info.size);
    for (int k = 0; k < DEVICE_METHODS; k++) {
        double t;
        if (device_method[k] == MPIW_METHOD_DEVICE && !aware)
            continue;
        t = interpolate(m.dtime[k], m.dlblock, m.dnb, m.dltotal, m.dns, x, y);
        if (t < best) {
            best = t;
            method = device_method[k];
        }
    }
    return method;
}

/* Should a message of this many bytes on a communicator that allows it be pipelined?
 * Only where the model measured the pipelined method at least 5% faster. */
int mpiw_model_pipeline(int64_t bytes)
{
    double w;
    int j;

    if (!m.loaded || m.np == 0)
        return 0;
    locate(m.lpipe, m.np, log2((double) bytes), &j, &w);
    if (m.np == 1)
        return m.pipe_gain[0] > MARGIN;
    return (1 - w) * m.pipe_gain[j] + w * m.pipe_gain[j + 1] > MARGIN;
}

const char *mpiw_model_source(void)
{
    return m.loaded ? m.source : "builtin";
}
