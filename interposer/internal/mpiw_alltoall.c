/*
 * All-to-all over a whole communicator with derived types: MPI_Alltoall,
 * MPI_Alltoallv and MPI_Alltoallw (and their _c forms); MPI_Neighbor_alltoallv goes
 * the same way (mpiw_neighbor.c finds its blocks).
 *
 * Each side is packed whole or left as the program gave it (mpiw_sides.c): a packed
 * side travels as MPI_PACKED bytes, which match any type signature on the other side,
 * so ranks need not choose alike, and the call stays the one the program made (every
 * rank must make the same collective). MPI_IN_PLACE, intercommunicators and sides the
 * method does not pack go to the MPI untouched.
 */
#include <stdlib.h>
#include "mpiw.h"

/* What the MPI is given for one side: the program's arguments, or the packed bytes. */
typedef struct given {
    int packed;
    char *tmp;
    int64_t *c, *o;         /* bytes and offsets per block, when packed */
    int *ic, *io;           /* the same narrowed for the int forms */
    MPI_Count *cc;          /* ... and widened for the _c forms */
    MPI_Aint *ca;
    MPI_Datatype *types;    /* MPI_PACKED per block (w forms) */
} given;

static int given_alloc(given *g, int n)
{
    size_t k = (size_t) n + 1;

    g->c = malloc(2 * k * sizeof *g->c);
    g->ic = malloc(2 * k * sizeof *g->ic);
    g->cc = malloc(k * sizeof *g->cc);
    g->ca = malloc(k * sizeof *g->ca);
    g->types = malloc(k * sizeof *g->types);
    g->o = g->c ? g->c + k : NULL;
    g->io = g->ic ? g->ic + k : NULL;
    g->packed = 0;
    g->tmp = NULL;
    return g->c && g->ic && g->cc && g->ca && g->types;
}

static void given_free(given *g)
{
    mpiw_scratch_put(g->tmp);
    free(g->c);
    free(g->ic);
    free(g->cc);
    free(g->ca);
    free(g->types);
}

/* The packed side's arrays in every form the calls take. */
static void given_forms(given *g, int n)
{
    for (int i = 0; i < n; i++) {
        g->ic[i] = (int) g->c[i];
        g->io[i] = (int) g->o[i];
        g->cc[i] = (MPI_Count) g->c[i];
        g->ca[i] = (MPI_Aint) g->o[i];
        g->types[i] = MPI_PACKED;
    }
}

#define BUF(g, side) ((g)->packed ? (void *) (g)->tmp : (void *) (side)->buf)
#define ONE(g, side) ((g)->packed ? MPI_PACKED : (side)->type)

/* 3. The program's collective, packed sides given as bytes. */
static int collective(int form, int large, const mpiw_side *s, given *gs, const mpiw_side *r,
                      given *gr, MPI_Comm comm)
{
    /* MPI_Alltoallv and MPI_Neighbor_alltoallv take the same arguments. */
    int neighbor = form == MPIW_NEIGHBOR_ALLTOALLV;
    __typeof__(PMPI_Alltoallv) *v = neighbor ? PMPI_Neighbor_alltoallv : PMPI_Alltoallv;

#if MPIW_HAVE_LARGE_COUNT
    if (large) {
        __typeof__(PMPI_Alltoallv_c) *v_c =
            neighbor ? PMPI_Neighbor_alltoallv_c : PMPI_Alltoallv_c;
        switch (form) {
        case MPIW_ALLTOALL:
            return PMPI_Alltoall_c(BUF(gs, s), gs->packed ? gs->cc[0] : s->count, ONE(gs, s),
                                   BUF(gr, r), gr->packed ? gr->cc[0] : r->count, ONE(gr, r),
                                   comm);
        case MPIW_ALLTOALLV:
        case MPIW_NEIGHBOR_ALLTOALLV:
            return v_c(BUF(gs, s), gs->packed ? gs->cc : s->counts_c,
                       gs->packed ? gs->ca : s->displs_a, ONE(gs, s), BUF(gr, r),
                       gr->packed ? gr->cc : r->counts_c, gr->packed ? gr->ca : r->displs_a,
                       ONE(gr, r), comm);
        default:
            return PMPI_Alltoallw_c(BUF(gs, s), gs->packed ? gs->cc : s->counts_c,
                                    gs->packed ? gs->ca : s->displs_a,
                                    gs->packed ? gs->types : s->types, BUF(gr, r),
                                    gr->packed ? gr->cc : r->counts_c,
                                    gr->packed ? gr->ca : r->displs_a,
                                    gr->packed ? gr->types : r->types, comm);
        }
    }
#else
    (void) large;
#endif
    switch (form) {
    case MPIW_ALLTOALL:
        return PMPI_Alltoall(BUF(gs, s), gs->packed ? gs->ic[0] : (int) s->count, ONE(gs, s),
                             BUF(gr, r), gr->packed ? gr->ic[0] : (int) r->count, ONE(gr, r),
                             comm);
    case MPIW_ALLTOALLV:
    case MPIW_NEIGHBOR_ALLTOALLV:
        return v(BUF(gs, s), gs->packed ? gs->ic : s->counts, gs->packed ? gs->io : s->displs,
                 ONE(gs, s), BUF(gr, r), gr->packed ? gr->ic : r->counts,
                 gr->packed ? gr->io : r->displs, ONE(gr, r), comm);
    default:
        return PMPI_Alltoallw(BUF(gs, s), gs->packed ? gs->ic : s->counts,
                              gs->packed ? gs->io : s->displs, gs->packed ? gs->types : s->types,
                              BUF(gr, r), gr->packed ? gr->ic : r->counts,
                              gr->packed ? gr->io : r->displs, gr->packed ? gr->types : r->types,
                              comm);
    }
}

int mpiw_alltoall_packed(const mpiw_side *s, int nout, const mpiw_side *r, int nin,
                         const char *skip, MPI_Comm comm, int form, int large, int *err)
{
    int (*pack)(const mpiw_side *, int, int, int, mpic_desc *, int64_t *, int64_t *, char **,
                const mpiw_collective *) =
        form == MPIW_ALLTOALLW ? mpiw_side_pack_w : mpiw_side_pack;
    mpiw_collective k = { form, 0 };
    mpic_desc *d;
    given gs, gr;

    /* 1. Room for both sides' arrays (nothing to do in place). */
    if ((void *) s->buf == MPI_IN_PLACE || PMPI_Comm_size(comm, &k.ranks) != MPI_SUCCESS)
        return 0;
    k.remote = mpiw_locality_spans(comm);
    d = calloc((size_t) nout + nin + 1, sizeof *d);
    if (!given_alloc(&gs, nout) + !given_alloc(&gr, nin) || !d) {
        free(d);
        given_free(&gs);
        given_free(&gr);
        return 0;
    }

    /* 2. Which sides to pack; the sending one is packed now. */
    gs.packed = pack(s, nout, large, 1, d, gs.c, gs.o, &gs.tmp, &k);
    gr.packed = pack(r, nin, large, 0, d + nout, gr.c, gr.o, &gr.tmp, &k);
    if (!gs.packed && !gr.packed) {
        mpiw_side_release(d, nout + nin);
        free(d);
        given_free(&gs);
        given_free(&gr);
        return 0;
    }
    given_forms(&gs, gs.packed ? nout : 0);
    given_forms(&gr, gr.packed ? nin : 0);

    /* 3. The collective, 4. unpack what arrived. */
    *err = collective(form, large, s, &gs, r, &gr, comm);
    if (gr.packed && *err == MPI_SUCCESS)
        mpiw_side_unpack(r, nin, d + nout, form != MPIW_ALLTOALLW, gr.tmp, gr.c, gr.o, skip);
    mpiw_count(MPIW_STAT_method_pack, gs.packed + gr.packed);
    mpiw_side_release(d, nout + nin);
    free(d);
    given_free(&gs);
    given_free(&gr);
    return 1;
}

int mpiw_alltoall_try(const mpiw_side *s, const mpiw_side *r, MPI_Comm comm, int form,
                      int large, int *err)
{
    int n, inter = 1;

    /* Only an intracommunicator's all-to-all: n blocks each way. */
    if (comm == MPI_COMM_NULL || PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter ||
        PMPI_Comm_size(comm, &n) != MPI_SUCCESS)
        return 0;
    if (mpiw_alltoall_packed(s, n, r, n, NULL, comm, form, large, err)) {
        mpiw_count(MPIW_STAT_alltoall_fast, 1);
        return 1;
    }
    mpiw_count(MPIW_STAT_alltoall_fallback, 1);
    return 0;
}
