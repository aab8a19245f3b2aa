/*
 * The performance model behind MPICOMM_METHOD=auto.
 *
 * `mpicomm measure` times, on this system and MPI, a one-way message of a strided
 * type sent by the MPI itself (passthrough) and by the pack method, over a grid of
 * block lengths, strides (from cache lines to beyond a page; powers of two, as the rows
 * of arrays are, whose cache-set conflicts both methods meet) and total sizes, and
 * writes them to an HDF5 file. The MPI is
 * timed twice per point: the layout built as one long vector, and as a vector of
 * vectors of 64 blocks, since an MPI's time depends on how a type was built, not only
 * on its layout (MPICH sends a halo face built as nested short vectors several times
 * faster than the same bytes as one vector). At MPI_Init rank 0 reads the file
 * (MPICOMM_MODEL, else the per-user cache) and broadcasts it, so every rank holds the
 * same model. Each point is timed twice more: as a ping-pong (one message at a time,
 * the peer waiting: what a blocking send or receive sees, where the MPI overlaps its
 * sender's packing with its receiver's unpacking) and as an exchange (both ranks send
 * at once, as a halo exchange's nonblocking calls do, where no core is idle to overlap
 * with). A call then takes the method with the lower time at its (block bytes,
 * stride, total bytes) for its pattern, interpolated in log space, against the MPI's time for the
 * type's construction: between the nested and the long vector by the count of the
 * type's innermost repetition (mpic_desc.leaf_count). Without a model the built-in
 * defaults are the same rule on a table measured the same way (builtin_pack).
 *
 * The all-to-alls (MPI_Alltoall, Alltoallv, Alltoallw, MPI_Neighbor_alltoallv,
 * Neighbor_alltoallw) are timed as themselves, each side on its own (the other
 * contiguous), packed and left to the MPI, by block length, bytes per peer and the
 * communicator's size, both constructions, where the model has them: a side of such a
 * call takes the method with the lower time there (5% margin), under MPICH looked up at
 * the runs its type was built of (mpic_desc.leaf_bytes); a model without them (or
 * without that form) answers from the exchange tables, as for nonblocking calls.
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
#define MAXSTRIDES 8
#define MAXHOST 2048        /* cells of a host table: the grid is 13 x 5 x 8 */
#define MAXCOLL 256         /* cells of an all-to-all's table: blocks x ranks x sizes */
static const char *const coll_name[MPIW_ALLTOALL_FORMS] = {
    "alltoall", "alltoallv", "alltoallw", "neighbor_alltoallv", "neighbor_alltoallw"
};
/* The device methods a model may hold, in the order of the defaults' preference. */
#define DEVICE_METHODS 3
static const int device_method[DEVICE_METHODS] = {
    MPIW_METHOD_DEVICE, MPIW_METHOD_STAGED, MPIW_METHOD_ONESHOT
};
/* Pack only where the model expects it at least 5% faster: near a tie the MPI keeps it.
 * Nonblocking calls need 20% in the exchange tables: one message each way understates
 * the contention of a halo exchange's six (Open MPI's 8% there became a 13% loss in
 * benchmarks/p2p_bench.py's halo3d). */
#define MARGIN 0.04879      /* log(1.05) */
#define EXCHANGE_MARGIN 0.18232     /* log(1.2) */
/* The nested construction's inner count (mpicomm measure's NESTED), and the innermost
 * count from which a type moves as one long vector does: MPICH's time grows with it,
 * from as fast as nested at 124 to as slow as one vector near 1,000 (8-byte blocks
 * 512 B apart). */
#define NESTED 64
#define LONG 1024
/* The least gap measured between blocks (mpicomm measure's DENSE_GAP): rows of long
 * blocks nearly touch, as an array's interior does. */
#define DENSE_GAP 64

/* The host tables of one locality: between two ranks of one node, or of two nodes. */
typedef struct host {
    int nb, nst, ns;
    double lblock[MAXGRID], ltotal[MAXGRID];      /* log2 of the grid */
    double laxis[MAXGRID][MAXSTRIDES];   /* log2 of the strides row b was measured at:
                                          * max(b + DENSE_GAP, class) */
    double gain[2][MAXHOST];             /* log(passthrough / pack), [block][stride][total];
                                          * [0] ping-pong, [1] exchange */
    double nested_gain[2][MAXHOST];      /* the same, the MPI's time for nested vectors */
} host;

typedef struct model {
    int loaded;                          /* 0: built-in defaults */
    host h[2];                           /* [0] peers on this node, [1] on another node */
    int internode;                       /* h[1] was measured (else the built-in
                                          * inter-node rules answer for such peers) */
    int np;                              /* sizes the pipelined method was measured at */
    double lpipe[MAXGRID];               /* their log2 */
    double pipe_gain[MAXGRID];           /* mean over blocks of log(best other / pipelined) */
    int cnb, cnr, cns;                   /* the all-to-alls' grid; 0: no tables */
    double clblock[MAXGRID], clranks[MAXGRID], cltotal[MAXGRID];   /* log2 */
    int chas[MPIW_ALLTOALL_FORMS];       /* the form was measured */
    double cgain[MPIW_ALLTOALL_FORMS][2][2][MAXCOLL];  /* log(passthrough / pack) [send,
                                          * receive side][long, nested][block][ranks]
                                          * [bytes per peer] */
    int pk;                              /* MPI_Pack and MPI_Unpack timed both ways */
    double pkgain[2][MAXGRID * MAXGRID]; /* log(the MPI's / ours) [pack, unpack][block]
                                          * [total], the host grid at its least stride */
    int dnb, dns;                        /* the device grid; 0: no device tables */
    double dlblock[MAXGRID], dltotal[MAXGRID];
    double dtime[DEVICE_METHODS][MAXGRID * MAXGRID];   /* log seconds; +inf: not measured */
    char dbackend[16];                   /* the backend they were measured on */
    char source[1024];
} model;

static model m;

#if defined(MPICH_NUMVERSION) && MPICH_NUMVERSION >= 50000000
#define MPICH5 1
#else
#define MPICH5 0
#endif
#if defined(OMPI_MAJOR_VERSION) && OMPI_MAJOR_VERSION >= 5
#define OMPI5 1
#else
#define OMPI5 0
#endif
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
    int64_t dz[3], dp[3], np = mpiw_h5_read(f, "pipeline_total_bytes", sizes, MAXGRID, dz);

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
    int64_t db[3], dt[3], dm[3], nb, ns;
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

/* One gain per size, the mean over block lengths at the least stride, since both ends of
 * a message must decide alike and may hold different types of the same size. */
static void pipeline_gains(model *out, const double *sizes, const double *pipe, int64_t np,
                           const double *pass, const double *pack)
{
    const host *h = &out->h[0];

    for (int64_t j = 0; j < np; j++) {
        int col = -1;
        double sum = 0;
        for (int k = 0; k < h->ns; k++)
            if (fabs(h->ltotal[k] - log2(sizes[j])) < 1e-9)
                col = k;
        if (col < 0)
            return;                      /* not a size of the grid: no pipelined choice */
        for (int i = 0; i < h->nb; i++) {
            double t = pipe[i * np + j];
            int64_t at = (int64_t) i * h->nst * h->ns + col;
            double best = fmin(pass[at], pack[at]);
            if (!(t > 0) || !isfinite(t) || !isfinite(best))
                return;
            sum += log(best / t);
        }
        out->lpipe[j] = log2(sizes[j]);
        out->pipe_gain[j] = sum / h->nb;
    }
    out->np = (int) np;
}

/* log(pass / pack) per point, rows of ns sizes, nst rows per block. A point not
 * measured (NaN: its span was too large) takes the nearest measured size's gain of its
 * (block, stride) row, a row with none the row of the next smaller stride. NULL, or why
 * not. */
static const char *gains(double *gain, const double *pass, const double *pack, int nb,
                         int nst, int ns)
{
    for (int r = 0; r < nb * nst; r++) {
        const double *p = pass + (int64_t) r * ns, *k = pack + (int64_t) r * ns;
        double *g = gain + (int64_t) r * ns;
        int any = 0;
        for (int j = 0; j < ns; j++) {
            if (isnan(p[j]) || isnan(k[j]))
                continue;
            if (!(p[j] > 0) || !(k[j] > 0) || !isfinite(p[j]) || !isfinite(k[j]))
                return "its times are not all positive and finite";
            any = 1;
        }
        if (!any && r % nst == 0)
            return "a block length has no measured point at the least stride";
        for (int j = 0; j < ns; j++) {
            int near = -1;
            for (int d = 0; any && near < 0; d++) {
                if (j - d >= 0 && !isnan(p[j - d]) && !isnan(k[j - d]))
                    near = j - d;
                else if (j + d < ns && !isnan(p[j + d]) && !isnan(k[j + d]))
                    near = j + d;
            }
            g[j] = near >= 0 ? log(p[near] / k[near]) : g[j - ns];
        }
    }
    return NULL;
}

/* The all-to-alls' tables from the open file f, optional (models from before them have
 * none): their grid and, per form measured, its gains for both constructions; NULL, or
 * why not. */
static const char *read_collective(int64_t f, model *out)
{
    static double pass[MAXCOLL], nested[MAXCOLL], pack[MAXCOLL];
    double block[MAXGRID], ranks[MAXGRID], total[MAXGRID];
    int64_t db[3], dr[3], dt[3], dp[3], nb, nr, ns;
    char path[96];
    const char *why;

    if (!mpiw_h5_has(f, "collective/block_bytes"))
        return NULL;
    if ((nb = mpiw_h5_read(f, "collective/block_bytes", block, MAXGRID, db)) < 1 ||
        (nr = mpiw_h5_read(f, "collective/ranks", ranks, MAXGRID, dr)) < 1 ||
        (ns = mpiw_h5_read(f, "collective/total_bytes", total, MAXGRID, dt)) < 1 ||
        nb * nr * ns > MAXCOLL || !ascending_positive(block, nb) ||
        !ascending_positive(ranks, nr) || !ascending_positive(total, ns))
        return "its all-to-all grid is missing, too large or not ascending";
    for (int k = 0; k < MPIW_ALLTOALL_FORMS; k++) {
        static const char *const side[2] = { "send", "recv" };
        static const char *const table[3] = { "passthrough", "passthrough_nested", "pack" };
        double *dst[3] = { pass, nested, pack };
        snprintf(path, sizeof path, "collective/send/%s/pack", coll_name[k]);
        if (!mpiw_h5_has(f, path))
            continue;
        for (int s = 0; s < 2; s++) {
            for (int t = 0; t < 3; t++) {
                snprintf(path, sizeof path, "collective/%s/%s/%s", side[s], coll_name[k],
                         table[t]);
                if (mpiw_h5_read(f, path, dst[t], MAXCOLL, dp) != nb * nr * ns ||
                    dp[0] != nb || dp[1] != nr)
                    return "an all-to-all's tables disagree with their grid";
            }
            if ((why = gains(out->cgain[k][s][0], pass, pack, (int) nb, (int) nr, (int) ns)) ||
                (why = gains(out->cgain[k][s][1], nested, pack, (int) nb, (int) nr, (int) ns)))
                return why;
        }
        out->chas[k] = 1;
    }
    for (int64_t i = 0; i < nb; i++)
        out->clblock[i] = log2(block[i]);
    for (int64_t i = 0; i < nr; i++)
        out->clranks[i] = log2(ranks[i]);
    for (int64_t i = 0; i < ns; i++)
        out->cltotal[i] = log2(total[i]);
    out->cnb = (int) nb;
    out->cnr = (int) nr;
    out->cns = (int) ns;
    return NULL;
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

/* The host tables of the open file f (in group: "" or "internode/") into *out; NULL, or
 * why not. A model from before
 * the stride axis has 2-D tables (measured at max(2b, 128 B)) and no nested
 * construction; one from before the exchange tables has the ping-pong ones alone. */
static const char *read_host(int64_t f, const char *group, host *out, double *pass,
                             double *pack, double *nested, double *ex)
{
    double block[MAXGRID], total[MAXGRID], classes[MAXSTRIDES] = { 128 };
    int64_t db[3], dt[3], dc[3], dp[3], dk[3], dn[3], nb, ns, nst = 1, cells;
    static const char *names[9] = { "block_bytes", "total_bytes", "stride_bytes",
                                    "method/passthrough", "method/pack",
                                    "method/passthrough_nested", "exchange/passthrough",
                                    "exchange/passthrough_nested", "exchange/pack" };
    char at[9][96];     /* the names in group */
    int strided;

    for (int k = 0; k < 9; k++)
        snprintf(at[k], sizeof at[k], "%s%s", group, names[k]);
    strided = mpiw_h5_has(f, at[2]);
    if ((nb = mpiw_h5_read(f, at[0], block, MAXGRID, db)) < 1 ||
        (ns = mpiw_h5_read(f, at[1], total, MAXGRID, dt)) < 1 ||
        (strided && (nst = mpiw_h5_read(f, at[2], classes, MAXSTRIDES, dc)) < 1))
        return "its grid is missing or too large";
    cells = nb * nst * ns;
    if (mpiw_h5_read(f, at[3], pass, MAXHOST, dp) != cells ||
        mpiw_h5_read(f, at[4], pack, MAXHOST, dk) != cells ||
        dp[0] != nb || dk[0] != nb || dp[1] != (strided ? nst : ns) || dk[1] != dp[1])
        return "its tables are missing or their shapes disagree";
    if (!ascending_positive(block, nb) || !ascending_positive(total, ns) ||
        !ascending_positive(classes, nst))
        return "its block_bytes, stride_bytes or total_bytes are not positive and ascending";
    if (mpiw_h5_has(f, at[5])) {
        if (mpiw_h5_read(f, at[5], nested, MAXHOST, dn) != cells ||
            dn[0] != nb || dn[1] != dp[1])
            return "its method/passthrough_nested disagrees with the other tables";
    } else {
        memcpy(nested, pass, sizeof(double) * (size_t) cells);
    }
    if (mpiw_h5_has(f, at[8])) {
        for (int k = 0; k < 3; k++)
            if (mpiw_h5_read(f, at[6 + k], ex + k * MAXHOST, MAXHOST, dn) != cells ||
                dn[0] != nb || dn[1] != dp[1])
                return "its exchange tables disagree with the other tables";
    } else {
        memcpy(ex, pass, sizeof(double) * (size_t) cells);
        memcpy(ex + MAXHOST, nested, sizeof(double) * (size_t) cells);
        memcpy(ex + 2 * MAXHOST, pack, sizeof(double) * (size_t) cells);
    }
    out->nb = (int) nb;
    out->nst = (int) nst;
    out->ns = (int) ns;
    for (int64_t i = 0; i < nb; i++)
        out->lblock[i] = log2(block[i]);
    for (int64_t i = 0; i < nb; i++)
        for (int64_t k = 0; k < nst; k++)
            out->laxis[i][k] = log2(fmax(block[i] + DENSE_GAP, classes[k]));
    for (int64_t i = 0; i < ns; i++)
        out->ltotal[i] = log2(total[i]);
    return NULL;
}

/* A locality's host tables as log-gains (read_host's tables); NULL, or why not. */
static const char *host_gains(host *h, const double *pass, const double *pack,
                              const double *nested, const double *ex)
{
    const char *why;

    if ((why = gains(h->gain[0], pass, pack, h->nb, h->nst, h->ns)) ||
        (why = gains(h->nested_gain[0], nested, pack, h->nb, h->nst, h->ns)) ||
        (why = gains(h->gain[1], ex, ex + 2 * MAXHOST, h->nb, h->nst, h->ns)))
        return why;
    return gains(h->nested_gain[1], ex + MAXHOST, ex + 2 * MAXHOST, h->nb, h->nst, h->ns);
}

/* MPI_Pack and MPI_Unpack, the MPI's own and ours, on the host grid (optional: models
 * from before them pack everything here). */
static void read_pack_calls(int64_t f, model *out)
{
    const host *h = &out->h[0];
    static const char *names[2][2] = { { "pack_call/mpi", "pack_call/mpicomm" },
                                       { "unpack_call/mpi", "unpack_call/mpicomm" } };
    static double theirs[MAXGRID * MAXGRID], ours[MAXGRID * MAXGRID];
    int64_t cells = (int64_t) h->nb * h->ns, d1[3], d2[3];

    for (int k = 0; k < 2; k++) {
        if (!mpiw_h5_has(f, names[k][0]) ||
            mpiw_h5_read(f, names[k][0], theirs, MAXGRID * MAXGRID, d1) != cells ||
            mpiw_h5_read(f, names[k][1], ours, MAXGRID * MAXGRID, d2) != cells ||
            d1[0] != h->nb || d2[0] != h->nb)
            return;
        for (int64_t i = 0; i < cells; i++) {
            if (!(theirs[i] > 0) || !(ours[i] > 0))
                return;
            out->pkgain[k][i] = log(theirs[i] / ours[i]);
        }
    }
    out->pk = 1;
}

/* Read path into *out; NULL on success, else why not. */
static const char *read_model(const char *path, model *out)
{
    static double pass[MAXHOST], pack[MAXHOST], nested[MAXHOST], ex[3 * MAXHOST],
        pipe[MAXGRID * MAXGRID];
    double piped[MAXGRID];
    int64_t np = 0;
    const char *why = NULL;
    char got[MPI_MAX_LIBRARY_VERSION_STRING] = "", running[MPI_MAX_LIBRARY_VERSION_STRING];
    int64_t f;

    /* 1. Open it, 2. check it is a model for this MPI (its version too, where the file
     * records it), 3. read and check the tables (the pipelined and device ones
     * optional), 4. keep them as log-gains, 5. the same for peers on other nodes. */
    library_line(running, sizeof running);
    if ((f = mpiw_h5_open(path, &why)) < 0)
        return why;
    if (!mpiw_h5_attr(f, "mpicomm_model", got, sizeof got))
        why = "not an mpicomm model (no mpicomm_model attribute)";
    else if (!mpiw_h5_attr(f, "mpi_vendor", got, sizeof got) || strcmp(got, vendor))
        why = "measured under another MPI";
    else if (mpiw_h5_attr(f, "mpi_library_version", got, sizeof got) && strcmp(got, running))
        why = "measured under another version of this MPI (run mpicomm measure again)";
    else if (!(why = read_host(f, "", &out->h[0], pass, pack, nested, ex)) &&
             !(why = host_gains(&out->h[0], pass, pack, nested, ex)))
        np = read_pipeline(f, out->h[0].nb, piped, pipe);
    if (!why) {
        pipeline_gains(out, piped, pipe, np, pass, pack);
        read_device(f, out);
        read_pack_calls(f, out);
        why = read_collective(f, out);
    }
    /* 5. Between nodes, where it was measured there too (optional). */
    if (!why && mpiw_h5_has(f, "internode/block_bytes")) {
        if (read_host(f, "internode/", &out->h[1], pass, pack, nested, ex) ||
            host_gains(&out->h[1], pass, pack, nested, ex))
            why = "its inter-node tables (internode/) are missing a table or malformed";
        out->internode = 1;
    }
    mpiw_h5_close(f);
    if (why)
        return why;
    out->loaded = 1;
    snprintf(out->source, sizeof out->source, "%s", path);
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
        mpiw_log(MPIW_LOG_INFO, "model %s (%d block lengths x %d strides x %d sizes, "
                 "pipelined at %d; all-to-alls at %d x %d ranks x %d; device methods at "
                 "%d x %d, on %s; between nodes: %s)", m.source, m.h[0].nb, m.h[0].nst,
                 m.h[0].ns, m.np, m.cnb, m.cnr, m.cns, m.dnb, m.dns,
                 m.dnb ? m.dbackend : "none", m.internode ? "measured" : "built-in rules");
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

/* A table v[nb][nz][ns] at (x, z, y) on the grid lb[nb] x (a middle axis per block
 * row: mid + row * mid_step) x lt[ns]: per block row bilinear, then between the two
 * rows; or, with lowest, the lower of the two rows: an MPI changes its method at block
 * lengths it was never measured at (in a 64 KiB message MPICH 5 loses 10x to packing on
 * 64-byte blocks and nothing on 32-byte ones), so a length between two measured ones
 * gains only what both gain. */
static double table_value(const double *v, const double *lb, int nb, const double *mid,
                          int mid_step, int nz, const double *lt, int ns, double x, double z,
                          double y, int lowest)
{
    double wx, value[2];
    int i;

    locate(lb, nb, x, &i, &wx);
    for (int r = 0; r < 2; r++) {
        int row = nb > 1 ? i + r : i;
        value[r] = interpolate(v + (int64_t) row * nz * ns, mid + row * mid_step, nz, lt, ns,
                               z, y);
    }
    return lowest && wx > 0 && wx < 1 ? fmin(value[0], value[1])
                                      : (1 - wx) * value[0] + wx * value[1];
}

/* A host table v[nb][nst][ns] at (log2 block, log2 stride, log2 total): each block row
 * over the strides it was measured at (max(b + DENSE_GAP, class): repeated ones first). */
static double host_value(const host *h, const double *v, double x, double z, double y)
{
    return table_value(v, h->lblock, h->nb, h->laxis[0], MAXSTRIDES, h->nst, h->ltotal, h->ns,
                       x, z, y, 1);
}

/* The construction's table: nested for an innermost repetition of at most NESTED
 * blocks (or a message of no more), one long vector from LONG on; between, the MPI may
 * move it as either, so packing must beat both. */
enum { NESTED_ONLY, LONG_ONLY, BOTH };
static int construction(int64_t leaf, int64_t blocks)
{
    return leaf <= NESTED || blocks <= NESTED ? NESTED_ONLY : leaf >= LONG ? LONG_ONLY : BOTH;
}

/* The built-in rules for a peer on another node, read off `mpicomm measure` between
 * two nodes (network namespaces of one machine joined by a bridge: TCP, MPICH's UCX
 * with UCX_TLS=tcp,self) and a second sweep of the same points, keeping what won by a
 * wide margin in both. MPICH hands a derived type to its network module in pieces:
 * packed whole it went 1.3-3.2x faster from 8 KiB, for blocks of 8 B to 512 B at every
 * size measured (to 16 MiB), for longer ones to 1 MiB in blocking calls and to 256 KiB
 * in an exchange (a tie beyond; a 128^3 halo's 128 KiB faces of 1 KiB rows between the
 * nodes: 1.15x packed, benchmarks/internode_bench.py); blocks under 8 B only built as one
 * long vector.
 * Open MPI: no rule for vectors. Between the nodes packing won on some of DDTBench's
 * patterns (MG y's 4 KiB rows, SPECFEM3D's coordinates: 1.6-2.3x) and lost on others of
 * the same sizes and a C ping-pong (WRF x, 8-byte cells at 128 KiB: 0.78-0.92x), and the
 * grid's wins at 64 KiB in one run were 0.87-0.92x at the same points in the next: no
 * rule of block, size or construction separates them; a model measured between the
 * nodes decides per point. Index lists of short blocks are packed before any model is
 * asked (mpiw_model_pack). */
static int builtin_internode(int64_t block, double bytes, int built, int alone)
{
    if (strcmp(vendor, "MPICH") || bytes < 8192)
        return 0;
    if (block < 8)
        return built == LONG_ONLY;
    return block <= 512 || bytes <= (alone ? 1 << 20 : 1 << 18);
}

static int power_of_two(int64_t x)
{
    return x > 0 && !(x & (x - 1));
}

/* Open MPI 5's messages of 8 to 64 KiB of blocks of 24 to 63 B at most 1.5 KiB apart,
 * blocking or not: packed 1.1-1.9x faster in a sweep of 24-48 B blocks at strides of
 * 192 B to 1.5 KiB (a 32^3 interior's 40-byte points, 1,360 B apart: 1.2-1.3x;
 * MILC's 24-byte sites 192 B apart at 12 KiB: 1.3x, benchmarks/ddt_bench.py), but
 * at strides of a power of two from 512 B in messages over 32 KiB (from 1 KiB, over
 * 16 KiB) the cache-set conflicts of the copy lose it (0.54-0.96x), as do 16-byte
 * blocks and 4 KiB strides. */
static int ompi_short_blocks(int64_t block, int64_t stride, double bytes)
{
    int pow2 = power_of_two(stride);

    return block >= 24 && block < 64 && bytes > 8192 && bytes <= 65536 && stride <= 1536 &&
           !(pow2 && ((stride >= 512 && bytes > 32768) || (stride >= 1024 && bytes > 16384)));
}

/* The built-in defaults, read off the same measurement `mpicomm measure` makes
 * (benchmarks/model_map.py, results/model-*.json) and the C programs of
 * benchmarks/c_bench.py, keeping only what wins by a wide margin, since they serve MPIs
 * and machines never measured. MPICH: messages of 8 KiB or more of blocks of at most 64 B
 * less than 8 KiB apart in a type built as a long vector (2-16x there); built of short
 * nested vectors, or a page or more apart, MPICH moves them as fast itself in a
 * ping-pong, but not in an exchange: there they are packed from 16 KiB, and at page
 * strides from 8 KiB (a 64^3 halo's 8-byte faces: 1.4x; a 2-D halo's columns 8 KiB
 * apart: 3-4x, benchmarks/codegen_bench.py). MPICH 5 also loses to packing on
 * blocks of 65 B to 2 KiB in messages of 8 KiB to 1 MiB sent alone (2.4x on 256-byte
 * rows), and to 3 KiB in messages of at most 256 KiB (1.3x on NAS LU's 2480-byte rows,
 * benchmarks/ddt_bench.py; 4 KiB rows gain nothing there), 8 to 64 KiB in an exchange (1.4x on a 64^3 halo's faces; a 128^3 halo's
 * 128 KiB faces it moves faster itself), and on the small point-to-point messages of
 * an exchange (a 26-neighbour halo's edges: 1.1-1.4x). MPICH 4.0's pack path lost 8x
 * on 2 KiB rows (benchmarks/fortran_bench.py): left to a measured model. Open MPI's
 * derived-type sends pipeline: passed through, but for Open MPI 5's messages sent alone
 * of 8 to 32 KiB of blocks of 128 to 512 B, where packing measured 1.1-1.5x faster at
 * every stride (between its eager limit and the sizes its pipeline overlaps); of 8 to
 * 64 KiB of blocks of 64 to 127 B at most 512 B apart, and to 16 KiB at most 2 KiB
 * apart (1.15-1.6x in the measurement, 1.4-2.3x in the C ping-pong; a page apart Open
 * MPI's own is faster); of 32 to 64 KiB of blocks of 192 to 319 B at most 1 KiB apart
 * (1.1-1.3x in the C ping-pong, a sweep from mpi4py and the measurement's own points
 * rerun alone, though one full grid found Open MPI's own faster at 64 KiB; 128-byte
 * and 384-512-byte blocks, 4 KiB apart, or over 64 KiB: Open MPI's own at least as
 * fast); and of 512 B to 2 KiB of 8-byte blocks (1.25-1.4x in the C ping-pong at
 * strides of 16 B to 528 B; from 4 KiB Open MPI's own is faster); blocking or not,
 * blocks of 24 to 63 B (ompi_short_blocks). Those rules are for
 * regular layouts: irregular ones (the table form) are Open MPI's here but for the
 * small blocks mpiw_model_pack packs before any model is asked. */
static int builtin_pack(int64_t block, int64_t stride, double bytes, int built, int table,
                        const mpiw_call *c)
{
    int alone = c->alone, coll = c->coll;

    if (c->remote)
        return builtin_internode(block, bytes, built, alone);
    if (strcmp(vendor, "MPICH"))
        return OMPI5 && !coll && !table &&
               (ompi_short_blocks(block, stride, bytes) ||
                (alone && ((block >= 128 && block <= 512 && bytes >= 8192 && bytes <= 32768) ||
                           (block >= 192 && block < 320 && bytes > 32768 && bytes <= 65536 &&
                            stride <= 1024) ||
                           (block >= 64 && block < 128 && bytes >= 8192 &&
                            (stride <= 512 ? bytes <= 65536 : stride <= 2048 && bytes <= 16384)) ||
                           (block == 8 && bytes >= 512 && bytes <= 2048))));
    if (bytes < 8192)
        return MPICH5 && !alone && !coll;
    if (block > 64)
        return MPICH5 && (alone ? (block <= 2048 && bytes <= 1 << 20) ||
                                      (block <= 3072 && bytes <= 1 << 18)
                                : block <= 2048 && bytes <= 65536);
    if (!alone)
        return built == LONG_ONLY || bytes >= 16384 || stride >= 8192;
    return built == LONG_ONLY && stride < 8192;
}

/* The rows of mpiw_model_pack's MPICH 5 rule for blocks in rows 2 to 8 KiB apart. */
static int mpich_wide_rows(int64_t block, int64_t stride, int64_t leaf, int64_t bytes)
{
    if (block < 12 || block > 64 || stride < 2048 || stride >= 8192 || leaf < 2 * NESTED ||
        leaf >= LONG || bytes > 4 << 20)
        return 0;
    return bytes >= 512 << 10 || (block >= 32 && leaf >= 256 && bytes >= 64 << 10);
}

/* An all-to-all's table v[cnb][cnr][cns] at (log2 block, log2 ranks, log2 bytes per
 * peer). */
static double coll_value(const double *v, double x, double r, double y)
{
    return table_value(v, m.clblock, m.cnb, m.clranks, 0, m.cnr, m.cltotal, m.cns, x, r, y,
                       0);
}

/* The tables' answer for a (block, stride, leaf count, bytes), interpolated once: a
 * program sends the same few messages again and again. Per thread (its block
 * MPIW_TLS_MEMO), a few entries, the oldest replaced; the model does not change after
 * MPI_Init. Kept for the tables only: the rules mpiw_model_pack asks before them read
 * more of the type than the key holds (its depth, its runs, a transpose's shape). */
#define MEMO 8
typedef struct memo {
    int64_t block, stride, leaf, bytes;
    int table, alone, coll, ranks, recv, remote, pack;
} memo;
typedef struct memos {
    memo e[MEMO];
    unsigned next;
} memos;

static int measured_pack(int64_t block, int64_t stride, double bytes, int built,
                         const mpiw_call *c)
{
    double x = log2((double) block), y = log2(bytes);
    double z = log2(stride > 1 ? (double) stride : 1.0);
    double nested, flat, g, margin;
    int k = c->coll - 1;

    /* An all-to-all the model timed as itself (on one node): its own table; else the
     * exchange's of the peer's locality. Open MPI 5's neighbour all-to-alls are such
     * exchanges (an isend and an irecv per neighbour, its single-copy path reading a
     * strided side where it lies), and their own tables, timed with the other side
     * contiguous, misled: on a ring of 2, blocks of 8 B to 2 KiB 2 KiB apart or at the
     * least stride, 64 KiB to 1 MiB a neighbour, packing ran at 0.68-0.90x the MPI's
     * speed where both sides were strided, as a halo's are (a 256^3 halo's faces:
     * 0.70x), and at 0.80-1.07x with a contiguous receive side (1.29x for 8-byte blocks
     * at the least stride, 512 KiB), where the table had 1.07-1.42x at 1 MiB. */
    if (k >= 0 && k < MPIW_ALLTOALL_FORMS && m.cnb && m.chas[k] && !c->remote &&
        !(OMPI5 && (k == MPIW_NEIGHBOR_ALLTOALLV || k == MPIW_NEIGHBOR_ALLTOALLW))) {
        double r = log2(c->ranks > 1 ? (double) c->ranks : 1.0);
        nested = coll_value(m.cgain[k][c->recv != 0][1], x, r, y);
        flat = coll_value(m.cgain[k][c->recv != 0][0], x, r, y);
        margin = MARGIN;
    } else {
        const host *h = &m.h[c->remote != 0];
        nested = host_value(h, h->nested_gain[!c->alone], x, z, y);
        flat = host_value(h, h->gain[!c->alone], x, z, y);
        margin = c->alone ? MARGIN : EXCHANGE_MARGIN;
    }
    g = built == NESTED_ONLY ? nested : built == LONG_ONLY ? flat : fmin(nested, flat);
    return g > margin;
}

int mpiw_model_pack(const mpic_desc *d, int64_t count, const mpiw_call *c)
{
    int64_t block = mpic_block_bytes(d), stride = mpic_block_stride(d);
    int64_t bytes = count * d->info.size;
    int64_t shapes = 0;
    /* An index list: the table form, its pieces contiguous runs (no strided members);
     * table: 2 for a list, 1 for another table form (the memo tells them apart). */
    int list = !d->canonical && mpic_table_pieces(d, &shapes) > 0 && shapes == 0;
    int table = list ? 2 : !d->canonical && d->table;
    memos *ms = mpiw_tls_get(MPIW_TLS_MEMO, sizeof *ms);
    memo *e, *seen = ms ? ms->e : NULL, fresh;
    int built;

    /* Under MPICH an all-to-all's side is looked up at the runs its type was built of,
     * where they are shorter than its merged blocks: MPICH moves a subarray's rows one by
     * one even where they are adjacent (the pencil transposes' 1 KiB rows, 32 KiB
     * merged), where Open MPI merges them when the type is committed. */
    if (c->coll && d->leaf_bytes > 0 && d->leaf_bytes < block && !strcmp(vendor, "MPICH"))
        block = d->leaf_bytes;

    if (block <= 0)
        return 0;
    /* MPICH 5 hands a message of 8 KiB or more of at most 1024 contiguous runs (as the
     * type was built; its iovec limit) to its single-copy path, which reads it run by
     * run from the sender, 0.1-0.25 us a run whatever their stride: with runs of at most
     * 64 B packing was 3-29x faster, blocking or not (1024 runs of 16 B: 158 us against
     * 8 us packed; MILC's t face at 8^4 built as vectors of vectors: 12x; NAS MG's and
     * LU's x faces of a 32^3 interior: 17-26x, benchmarks/ddt_bench.py), at 1025 runs
     * MPICH packs itself and that gain is gone. Only a type it can describe to the
     * receiver in its header goes that way: vectors of vectors, three constructors deep
     * at most (a subarray of three dimensions is four). A measured model's grid has no
     * point at that edge, so its sizes are read at 8 KiB, inside it (where single copy
     * is off, 8 KiB measured no gain either). */
    if (MPICH5 && !c->remote && !c->coll && !d->table && block <= 64 && d->levels <= 3 &&
        bytes >= 8192 && bytes <= 1024 * (d->leaf_bytes > 0 && d->leaf_bytes < block
                                              ? d->leaf_bytes : block))
        return !m.loaded ||
               measured_pack(block, stride, 8192.0, construction(d->leaf_count, 8192 / block),
                             c);
    /* A transpose moves by tiles of columns here, where MPICH walks it column by column,
     * re-reading every line (a 2-D FFT's 2 MiB transpose: 1.9x packed, DDTBench's FFT2
     * in benchmarks/ddt_bench.py); a measured model's vectors never have that shape. */
    if (!strcmp(vendor, "MPICH") && bytes >= 8192 && mpic_transposes(d, count))
        return 1;
    /* Rows of short blocks (12-64 B) 2 to 8 KiB apart, nested in an innermost vector of
     * 128 to 1023 of them (a 3-D subarray's face of a few elements), MPICH 5 sends alone
     * as slowly as one long vector: packed 1.2-2.1x faster with blocks of 32-64 B from
     * 64 KiB where that vector holds 256 or more, and 1.1-1.6x with blocks of 12-31 B
     * from 512 KiB, at every stride of 2, 3, 4 and 6 KiB, to 2 MiB (3-D subarray sweep
     * from mpi4py; benchmarks/p2p_bench.py's a[:,:,0:2] 1.4x, int a[:,:,0:3] 1.1-1.2x).
     * With 64 in the innermost vector, or 512 B apart, MPICH's own was faster; 8-byte
     * blocks were a tie. A measured model's vectors never have that shape (64 or 1024
     * in the innermost vector). */
    if (MPICH5 && c->alone && !c->coll && !c->remote && !d->table &&
        mpich_wide_rows(block, stride, d->leaf_count, bytes))
        return 1;
    /* Open MPI 5's short blocks (ompi_short_blocks) with a measured model too where the
     * stride is no power of two: its grid's strides all are, and the gain is at the
     * strides between (MILC's 8^4 face, 192 B apart: 1.2-1.3x packed, where a measured
     * model left it; NAS LU's x face of a 32^3 interior, 1,360 B apart: 0.95-1.3x from
     * one run to the next, benchmarks/ddt_bench.py). */
    if (OMPI5 && m.loaded && !c->coll && !c->remote && !table && !power_of_two(stride) &&
        ompi_short_blocks(block, stride, (double) bytes))
        return 1;
    /* A struct of members of different shapes (the table form) MPICH copies run by run
     * on one node, at the speed of memcpy where the runs are long (WRF's halo, 232-byte
     * rows of several fields: packed 0.86-0.94x, benchmarks/ddt_bench.py), where the
     * same rows built as vectors it moves 3-4x slower than packing: no vector measured
     * says so. Between nodes packing wins there too (1.5-2x, internode_bench.py). */
    if (!strcmp(vendor, "MPICH") && d->table && block >= 128 && !c->remote)
        return 0;
    /* Index lists (indexed types, structs of them) of short blocks Open MPI 5 walks
     * entry by entry: with blocks of at most 32 B on average, blocking messages of 2 to
     * 96 KiB packed 1.05-2.4x faster on one node (indexed blocks of 4 to 24 B at random
     * places; LAMMPS's border atoms as DDTBench builds them: 1.8-1.9x,
     * benchmarks/ddt_bench.py), and to 160 KiB with blocks of at most 16 B on average
     * (ints or doubles at random places: 1.1-1.3x at 128-160 KiB; LAMMPS's atoms, 9 B on
     * average, 1.3x at 144 KiB; 24-byte blocks there 0.9-1.0x), while from 192 KiB on
     * its own is as fast or faster, and indexed blocks of 64 B gain nothing (0.8x at
     * 8 KiB); between nodes 1.4-1.7x
     * on LAMMPS's at 144-192 KiB (benchmarks/internode_bench.py). Structs of strided
     * members it moves with its vector loops (WRF's x halo: packed 0.55x on one node,
     * 0.94x between nodes). A measured model's vectors never have that shape. */
    if (OMPI5 && list && block <= 32 && c->alone && !c->coll &&
        (c->remote ? bytes >= 8192 && bytes <= 262144
                   : bytes >= 2048 && (bytes <= 98304 || (bytes <= 163840 && block <= 16))))
        return 1;
    for (int i = 0; seen && i < MEMO; i++)
        if (seen[i].bytes == bytes && seen[i].block == block && seen[i].stride == stride &&
            seen[i].leaf == d->leaf_count && seen[i].table == table &&
            seen[i].alone == c->alone && seen[i].coll == c->coll && seen[i].ranks == c->ranks &&
            seen[i].recv == c->recv && seen[i].remote == c->remote)
            return seen[i].pack;
    built = construction(d->leaf_count, bytes / block);
    e = seen ? &seen[ms->next++ % MEMO] : &fresh;
    *e = (memo) { block, stride, d->leaf_count, bytes, table, c->alone, c->coll, c->ranks,
                  c->recv, c->remote,
                  m.loaded && (!c->remote || m.internode)
                      ? measured_pack(block, stride, (double) bytes, built, c)
                      : builtin_pack(block, stride, (double) bytes, built, table, c) };
    return e->pack;
}

int mpiw_model_mpi_packs(const mpic_desc *d, int64_t count, int unpack)
{
    int64_t block = mpic_block_bytes(d);
    double bytes = (double) count * (double) d->info.size, g;

    if (!m.loaded || !m.pk || block <= 0 || bytes <= 0)
        return 0;
    g = interpolate(m.pkgain[unpack != 0], m.h[0].lblock, m.h[0].nb, m.h[0].ltotal, m.h[0].ns,
                    log2((double) block), log2(bytes));
    return g < -MARGIN;
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
