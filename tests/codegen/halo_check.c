/*
 * Checks a generated halo exchange (mpicomm codegen halo --lang c), written
 * independently of the generator: every owned cell holds 1 + its global index; after
 * the exchange every ghost cell must hold its owner's value if the generated code
 * serves its direction (faces: one nonzero offset; all: any) and a neighbour exists
 * there (periodic, or inside the grid), and must still hold 0 otherwise.
 *
 *   mpicc -DHALO_HEADER='"gen.h"' halo_check.c; mpiexec -n P ./a.out PERIODS N0 [N1 [N2]]
 *
 * PERIODS: one 0/1 per dimension. Rank 0 prints "halo_check OK <cells>" or FAILED.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include HALO_HEADER

#define D HALO_NDIMS
#define G HALO_GHOST

static long long global_value(const int glob[D], const int edge[D])
{
    long long v = 0;
    for (int k = 0; k < D; k++)
        v = v * edge[k] + glob[k];
    return v + 1;
}

int main(int argc, char **argv)
{
    int size, rank, dims[D] = { 0 }, periods[D], coords[D], n[D], e[D], edge[D];
    int faces_only = HALO_NEIGHBORS == 2 * D, bad = 0, all_bad, checked = 0, all_checked;
    size_t cells = 1;
    MPI_Comm cart;
    halo_plan plan;

    MPI_Init(&argc, &argv);
    if (argc != 2 + D || (int) strlen(argv[1]) != D) {
        fprintf(stderr, "usage: halo_check PERIODS(%d digits) N0..N%d\n", D, D - 1);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    for (int k = 0; k < D; k++) {
        periods[k] = argv[1][k] == '1';
        n[k] = atoi(argv[2 + k]);
        e[k] = n[k] + 2 * G;
        cells *= (size_t) e[k];
    }
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Dims_create(size, D, dims);
    MPI_Cart_create(MPI_COMM_WORLD, D, dims, periods, 0, &cart);
    MPI_Comm_rank(cart, &rank);
    MPI_Cart_coords(cart, rank, D, coords);
    for (int k = 0; k < D; k++)
        edge[k] = dims[k] * n[k];

    /* 1. Owned cells get 1 + their global index, ghosts 0. */
    halo_t *a = calloc(cells, sizeof *a);
    for (size_t at = 0; at < cells; at++) {
        int idx[D], glob[D], own = 1;
        size_t rest = at;
        for (int k = D - 1; k >= 0; k--) {
            idx[k] = (int) (rest % (size_t) e[k]);
            rest /= (size_t) e[k];
            own &= idx[k] >= G && idx[k] < n[k] + G;
            glob[k] = coords[k] * n[k] + idx[k] - G;
        }
        if (own)
            a[at] = (halo_t) global_value(glob, edge);
    }

    /* 2. The generated exchange, twice (the second must change nothing). */
    if (halo_create(cart, n, &plan) != MPI_SUCCESS || halo_exchange(&plan, a) != MPI_SUCCESS ||
        halo_exchange(&plan, a) != MPI_SUCCESS || halo_free(&plan) != MPI_SUCCESS) {
        fprintf(stderr, "halo_check: the generated code returned an error\n");
        MPI_Abort(cart, 3);
    }

    /* 3. Every cell against what it must hold. */
    for (size_t at = 0; at < cells; at++) {
        int idx[D], glob[D], moved = 0, served = 1;
        size_t rest = at;
        for (int k = D - 1; k >= 0; k--) {
            idx[k] = (int) (rest % (size_t) e[k]);
            rest /= (size_t) e[k];
            int d = idx[k] < G ? -1 : idx[k] >= n[k] + G ? 1 : 0;
            moved += d != 0;
            int there = coords[k] + d;
            if (!periods[k] && (there < 0 || there >= dims[k]))
                served = 0;
            glob[k] = ((coords[k] * n[k] + idx[k] - G) % edge[k] + edge[k]) % edge[k];
        }
        if (faces_only && moved > 1)
            served = 0;
        halo_t want = served ? (halo_t) global_value(glob, edge) : 0;
        bad += a[at] != want;
        checked += moved && served;
    }
    MPI_Allreduce(&bad, &all_bad, 1, MPI_INT, MPI_SUM, cart);
    MPI_Allreduce(&checked, &all_checked, 1, MPI_INT, MPI_SUM, cart);
    if (rank == 0) {
        if (all_bad)
            printf("halo_check FAILED %d cells wrong\n", all_bad);
        else
            printf("halo_check OK %d ghost cells filled\n", all_checked);
    }
    free(a);
    MPI_Comm_free(&cart);
    MPI_Finalize();
    return all_bad != 0;
}
