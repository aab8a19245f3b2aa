/*
 * 3D halo exchange with MPI subarray datatypes, checked and timed (C version of
 * examples/halo3d.py; build with mpicc, run with `mpicomm run -n N -- ./halo3d`).
 *
 *   halo3d [--n N] [--ghost G] [--neighbors 6|26] [--iters I] [--warmup W]
 *
 * Each rank owns an N^3 block of a periodic global grid; owned cells hold
 * ((owner * E + gx) * E + gy) * E + gz for their global index, E the global
 * edge. After each exchange every ghost cell filled must equal its neighbour's
 * owned value. Rank 0 prints the median time per exchange and the check result.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int n, g, neighbors, iters, warmup; } options;

static int parse(int argc, char **argv, options *o)
{
    *o = (options) { 64, 1, 6, 20, 3 };
    for (int i = 1; i < argc; i++) {
        int *slot = !strcmp(argv[i], "--n") ? &o->n : !strcmp(argv[i], "--ghost") ? &o->g
                    : !strcmp(argv[i], "--neighbors") ? &o->neighbors
                    : !strcmp(argv[i], "--iters") ? &o->iters
                    : !strcmp(argv[i], "--warmup") ? &o->warmup : NULL;
        if (!slot || i + 1 >= argc) {
            fprintf(stderr, "halo3d: unknown or incomplete option %s\n", argv[i]);
            return 1;
        }
        *slot = atoi(argv[++i]);
    }
    if (o->g < 1 || o->n < o->g || (o->neighbors != 6 && o->neighbors != 26) || o->iters < 1) {
        fprintf(stderr, "halo3d: need 1 <= --ghost <= --n, --neighbors 6 or 26, --iters >= 1\n");
        return 1;
    }
    return 0;
}

/* Directions in the order halo3d.py uses: itertools.product((-1,0,1), repeat=3). */
static int directions(int neighbors, int dirs[26][3])
{
    int k = 0;
    for (int a = -1; a <= 1; a++)
        for (int b = -1; b <= 1; b++)
            for (int c = -1; c <= 1; c++) {
                int m = abs(a) + abs(b) + abs(c);
                if (m == 0 || (neighbors == 6 && m != 1))
                    continue;
                dirs[k][0] = a, dirs[k][1] = b, dirs[k][2] = c;
                k++;
            }
    return k;
}

static void region(const int d[3], int n, int g, int ghost, int sub[3], int start[3])
{
    for (int k = 0; k < 3; k++) {
        sub[k] = d[k] ? g : n;
        start[k] = !d[k] ? g : ghost ? (d[k] < 0 ? 0 : n + g) : (d[k] < 0 ? g : n);
    }
}

static double value_at(MPI_Comm cart, const int dims[3], const int coords[3], int n, int g,
                       const int idx[3])
{
    int glob[3], owner_coords[3], owner;
    long long E = (long long) n * (dims[0] > dims[1] ? (dims[0] > dims[2] ? dims[0] : dims[2])
                                                     : (dims[1] > dims[2] ? dims[1] : dims[2]));
    for (int k = 0; k < 3; k++) {
        int edge = dims[k] * n;
        glob[k] = ((coords[k] * n + idx[k] - g) % edge + edge) % edge;
        owner_coords[k] = glob[k] / n;
    }
    MPI_Cart_rank(cart, owner_coords, &owner);
    return (double) (((owner * E + glob[0]) * E + glob[1]) * E + glob[2]);
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    options o;
    int size, rank, dims[3] = { 0, 0, 0 }, periods[3] = { 1, 1, 1 }, coords[3], dirs[26][3];
    int nd, bad = 0, all_bad;
    MPI_Comm cart;

    MPI_Init(&argc, &argv);
    if (parse(argc, argv, &o)) {
        MPI_Finalize();
        return 2;
    }
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Dims_create(size, 3, dims);
    MPI_Cart_create(MPI_COMM_WORLD, 3, dims, periods, 0, &cart);
    MPI_Comm_rank(cart, &rank);
    MPI_Cart_coords(cart, rank, 3, coords);

    int n = o.n, g = o.g, e = n + 2 * g, shape[3] = { e, e, e };
    size_t cells = (size_t) e * e * e;
    double *a = malloc(cells * sizeof *a), *times = malloc((size_t) o.iters * sizeof *times);
    char *filled = calloc(cells, 1);
    MPI_Datatype send[26], recv[26];
    int peer[26], back[26];
    MPI_Request reqs[52];

    /* 1. Owned cells get their encoded values, ghosts -1. */
    for (int i = 0; i < e; i++)
        for (int j = 0; j < e; j++)
            for (int k = 0; k < e; k++) {
                int idx[3] = { i, j, k }, own = i >= g && i < n + g && j >= g && j < n + g &&
                                                k >= g && k < n + g;
                a[((size_t) i * e + j) * e + k] = own ? value_at(cart, dims, coords, n, g, idx)
                                                      : -1.0;
                filled[((size_t) i * e + j) * e + k] = (char) own;
            }

    /* 2. One send and one receive subarray per neighbour. */
    nd = directions(o.neighbors, dirs);
    for (int q = 0; q < nd; q++) {
        int sub[3], start[3], there[3];
        for (int k = 0; k < 3; k++)
            there[k] = coords[k] + dirs[q][k];
        MPI_Cart_rank(cart, there, &peer[q]);
        region(dirs[q], n, g, 0, sub, start);
        MPI_Type_create_subarray(3, shape, sub, start, MPI_ORDER_C, MPI_DOUBLE, &send[q]);
        MPI_Type_commit(&send[q]);
        region(dirs[q], n, g, 1, sub, start);
        MPI_Type_create_subarray(3, shape, sub, start, MPI_ORDER_C, MPI_DOUBLE, &recv[q]);
        MPI_Type_commit(&recv[q]);
        for (int i = start[0]; i < start[0] + sub[0]; i++)
            for (int j = start[1]; j < start[1] + sub[1]; j++)
                memset(filled + ((size_t) i * e + j) * e + start[2], 1, (size_t) sub[2]);
        for (int r = 0; r < nd; r++)
            if (dirs[r][0] == -dirs[q][0] && dirs[r][1] == -dirs[q][1] &&
                dirs[r][2] == -dirs[q][2])
                back[q] = r;
    }

    /* 3. Exchange: warm-up, then timed. */
    for (int it = 0; it < o.warmup + o.iters; it++) {
        double t;
        MPI_Barrier(cart);
        t = MPI_Wtime();
        for (int q = 0; q < nd; q++)
            MPI_Irecv(a, 1, recv[q], peer[q], back[q], cart, &reqs[q]);
        for (int q = 0; q < nd; q++)
            MPI_Isend(a, 1, send[q], peer[q], q, cart, &reqs[nd + q]);
        MPI_Waitall(2 * nd, reqs, MPI_STATUSES_IGNORE);
        if (it >= o.warmup)
            times[it - o.warmup] = MPI_Wtime() - t;
    }

    /* 4. Every filled cell must hold its owner's value. */
    for (int i = 0; i < e; i++)
        for (int j = 0; j < e; j++)
            for (int k = 0; k < e; k++) {
                int idx[3] = { i, j, k };
                size_t at = ((size_t) i * e + j) * e + k;
                if (filled[at] && a[at] != value_at(cart, dims, coords, n, g, idx))
                    bad++;
            }
    qsort(times, (size_t) o.iters, sizeof *times, cmp);
    double med = times[o.iters / 2], worst;
    MPI_Allreduce(&bad, &all_bad, 1, MPI_INT, MPI_SUM, cart);
    MPI_Allreduce(&med, &worst, 1, MPI_DOUBLE, MPI_MAX, cart);
    if (rank == 0)
        printf("halo3d: %d ranks [%d, %d, %d], %d^3 per rank, ghost %d, %d neighbours: "
               "%.4f ms per exchange; check %s\n", size, dims[0], dims[1], dims[2], n, g,
               o.neighbors, worst * 1e3, all_bad ? "FAILED" : "OK");
    for (int q = 0; q < nd; q++) {
        MPI_Type_free(&send[q]);
        MPI_Type_free(&recv[q]);
    }
    free(a);
    free(times);
    free(filled);
    MPI_Comm_free(&cart);
    MPI_Finalize();
    return all_bad != 0;
}
