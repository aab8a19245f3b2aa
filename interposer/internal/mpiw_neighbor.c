/*
 * Neighbourhood all-to-all with derived types: MPI_Neighbor_alltoallw and
 * MPI_Neighbor_alltoallv (and their _c forms).
 *
 * Blocks whose type the method packs travel as MPI_PACKED bytes, which match any
 * type signature on the other side, so neighbours need not choose alike. The call
 * stays the one the program made (every rank must run the same collective):
 * alltoallw gets MPI_BOTTOM and absolute displacements, so packed and untouched
 * blocks mix freely; alltoallv has one type per side, so a side is packed whole or
 * not at all, decided for its largest block.
 */
#include <limits.h>
#include <stdlib.h>
#include "mpiw.h"

/* In- and out-degree of a communicator with a topology; 0 without one. */
int mpiw_neighbor_degrees(MPI_Comm comm, int *in, int *out)
{
    int topo = MPI_UNDEFINED, n = 0, rank, weighted;

    if (comm == MPI_COMM_NULL || PMPI_Topo_test(comm, &topo) != MPI_SUCCESS)
        return 0;
    if (topo == MPI_CART && PMPI_Cartdim_get(comm, &n) == MPI_SUCCESS) {
        *in = *out = 2 * n;
        return 1;
    }
    if (topo == MPI_GRAPH && PMPI_Comm_rank(comm, &rank) == MPI_SUCCESS &&
        PMPI_Graph_neighbors_count(comm, rank, &n) == MPI_SUCCESS) {
        *in = *out = n;
        return 1;
    }
    return topo == MPI_DIST_GRAPH &&
           PMPI_Dist_graph_neighbors_count(comm, in, out, &weighted) == MPI_SUCCESS;
}

/* Which in-neighbours are MPI_PROC_NULL (past the edge of a non-periodic Cartesian grid):
 * the MPI receives nothing from them and leaves those blocks as they are, so nothing may
 * be unpacked there. A malloc'd array of nin flags, NULL when out of memory. */
static char *null_sources(MPI_Comm comm, int nin)
{
    int topo = MPI_UNDEFINED, src, dst;
    char *null = calloc((size_t) nin + 1, 1);

    if (!null || PMPI_Topo_test(comm, &topo) != MPI_SUCCESS || topo != MPI_CART)
        return null;
    /* MPI's order of Cartesian neighbours: per dimension, the -1 side then the +1 side. */
    for (int k = 0; 2 * k + 1 < nin; k++)
        if (PMPI_Cart_shift(comm, k, 1, &src, &dst) == MPI_SUCCESS) {
            null[2 * k] = src == MPI_PROC_NULL;
            null[2 * k + 1] = dst == MPI_PROC_NULL;
        }
    return null;
}

/* Which blocks of a side to pack (how[i] = 1, desc in d[i]) and their packed offsets;
 * the number packed. Bytes of a block must fit an int unless the call is a _c one. */
static int choose_blocks(const mpiw_side *s, int n, int large, mpic_desc *d, int *how,
                         int64_t *off, int64_t *total, const mpiw_collective *k, int recv)
{
    int packed = 0;

    *total = 0;
    for (int i = 0; i < n; i++) {
        int64_t c = mpiw_side_count(s, i);
        how[i] = mpiw_side_packs(s->buf, c, mpiw_side_type(s, i), &d[i], k, recv) &&
                 (large || c * d[i].info.size <= INT_MAX);
        off[i] = *total;
        if (how[i]) {
            *total += c * d[i].info.size;
            packed++;
        }
    }
    return packed;
}

static MPI_Aint address(const void *p)
{
    MPI_Aint a;

    PMPI_Get_address(p, &a);
    return a;
}

/* The arrays of an alltoallw: per block its description, whether packed, its offset in
 * the packed bytes, and what the MPI is given. */
typedef struct plan {
    int n;                  /* entries of each array */
    mpic_desc *d;
    int *how;
    int64_t *off, *counts;
    MPI_Aint *displs;
    MPI_Datatype *types;
} plan;

static void plan_free(plan *p)
{
    if (p->d)
        mpiw_side_release(p->d, p->n);
    free(p->d);
    free(p->how);
    free(p->off);
    free(p->counts);
    free(p->displs);
    free(p->types);
}

static int plan_alloc(plan *p, int n)
{
    size_t k = (size_t) (n > 0 ? n : 1);

    p->n = (int) k;
    p->d = calloc(k, sizeof *p->d);
    p->how = malloc(k * sizeof *p->how);
    p->off = malloc(k * sizeof *p->off);
    p->counts = malloc(k * sizeof *p->counts);
    p->displs = malloc(k * sizeof *p->displs);
    p->types = malloc(k * sizeof *p->types);
    if (p->d && p->how && p->off && p->counts && p->displs && p->types)
        return 1;
    plan_free(p);
    return 0;
}

/* The collective on the plan's arrays (MPI_BOTTOM plus absolute addresses). */
static int alltoallw(plan *p, int nout, int n, int large, MPI_Comm comm)
{
#if MPIW_HAVE_LARGE_COUNT
    if (large) {
        MPI_Count *cc = malloc((size_t) (n > 0 ? n : 1) * sizeof *cc);
        int err;
        if (!cc)
            return MPI_ERR_NO_MEM;
        for (int i = 0; i < n; i++)
            cc[i] = p->counts[i];
        err = PMPI_Neighbor_alltoallw_c(MPI_BOTTOM, cc, p->displs, p->types, MPI_BOTTOM,
                                        cc + nout, p->displs + nout, p->types + nout, comm);
        free(cc);
        return err;
    }
#endif
    /* Narrow the counts in place: int i overlays bytes of int64 i/2, already read. */
    int *ic = (int *) p->counts;
    for (int i = 0; i < n; i++)
        ic[i] = (int) p->counts[i];
    return PMPI_Neighbor_alltoallw(MPI_BOTTOM, ic, p->displs, p->types, MPI_BOTTOM, ic + nout,
                                   p->displs + nout, p->types + nout, comm);
}

int mpiw_neighbor_alltoallw_try(const mpiw_side *s, const mpiw_side *r, MPI_Comm comm,
                                int large, int *err)
{
    int nin, nout, ns, nr, n;
    int64_t stotal, rtotal;
    char *stmp = NULL, *rtmp = NULL, *null = NULL;
    mpiw_collective k = { MPIW_NEIGHBOR_ALLTOALLW, 0 };
    plan p;

    /* 1. Which blocks to pack. */
    if (!mpiw_neighbor_degrees(comm, &nin, &nout) ||
        PMPI_Comm_size(comm, &k.ranks) != MPI_SUCCESS || !plan_alloc(&p, nin + nout))
        return 0;
    k.remote = mpiw_locality_spans(comm);
    n = nin + nout;
    ns = choose_blocks(s, nout, large, p.d, p.how, p.off, &stotal, &k, 0);
    nr = choose_blocks(r, nin, large, p.d + nout, p.how + nout, p.off + nout, &rtotal, &k, 1);
    if ((!ns && !nr) || (nr && !(null = null_sources(comm, nin))) ||
        !(stmp = mpiw_scratch_get((size_t) stotal)) ||
        !(rtmp = mpiw_scratch_get((size_t) rtotal))) {
        mpiw_scratch_put(stmp);
        free(null);
        plan_free(&p);
        mpiw_count(MPIW_STAT_neighbor_fallback, 1);
        return 0;
    }

    /* 2. Pack, and give every block by its absolute address. */
    for (int i = 0; i < n; i++) {
        const mpiw_side *side = i < nout ? s : r;
        int j = i < nout ? i : i - nout;
        char *tmp = (i < nout ? stmp : rtmp) + p.off[i];
        p.counts[i] = mpiw_side_count(side, j);
        p.types[i] = mpiw_side_type(side, j);
        p.displs[i] = address(mpiw_side_block(side, j, 0));
        if (p.how[i]) {
            if (i < nout)
                mpic_pack(&p.d[i], p.counts[i], mpiw_side_block(side, j, 0), tmp);
            p.counts[i] *= p.d[i].info.size;
            p.types[i] = MPI_PACKED;
            p.displs[i] = address(tmp);
        }
    }
    mpiw_count(MPIW_STAT_bytes_packed, stotal);

    /* 3. The program's collective, 4. unpack what arrived. */
    *err = alltoallw(&p, nout, n, large, comm);
    for (int i = nout; i < n && *err == MPI_SUCCESS; i++)
        if (p.how[i] && !null[i - nout])
            mpic_unpack(&p.d[i], mpiw_side_count(r, i - nout), rtmp + p.off[i],
                        mpiw_side_block(r, i - nout, 0));
    mpiw_count(MPIW_STAT_bytes_unpacked, *err == MPI_SUCCESS ? rtotal : 0);
    mpiw_scratch_put(stmp);
    mpiw_scratch_put(rtmp);
    free(null);
    plan_free(&p);
    mpiw_count(MPIW_STAT_neighbor_fast, 1);
    mpiw_count(MPIW_STAT_method_pack, ns + nr);
    return 1;
}

int mpiw_neighbor_alltoallv_try(const mpiw_side *s, const mpiw_side *r, MPI_Comm comm,
                                int large, int *err)
{
    int nin, nout, done;
    char *null;

    /* One type per side: a side is packed whole or not at all (mpiw_alltoall.c); a packed
     * receive side leaves its MPI_PROC_NULL blocks as they are. */
    if (!mpiw_neighbor_degrees(comm, &nin, &nout))
        return 0;
    null = null_sources(comm, nin);
    done = null && mpiw_alltoall_packed(s, nout, r, nin, null, comm, MPIW_NEIGHBOR_ALLTOALLV,
                                        large, err);
    free(null);
    mpiw_count(done ? MPIW_STAT_neighbor_fast : MPIW_STAT_neighbor_fallback, 1);
    return done;
}
