/*
 * Times a generated halo exchange (mpicomm codegen halo --lang c) under the
 * interposer's methods in one run: passthrough (the MPI's own derived-type path),
 * pack, and auto, switched through the library's mpicomm_interposer_set_method and
 * taken in rotating order; every rank in step. Rank 0 prints one line:
 *   HALOTIME {"passthrough": s, "pack": s, "auto": s}   (median seconds per exchange)
 *
 *   mpicc -DHALO_HEADER='"gen.h"' halo_time.c -ldl; mpicomm run -n P ./a.out N ROUNDS
 */
#include <dlfcn.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include HALO_HEADER

#define D HALO_NDIMS
#define G HALO_GHOST
#define REPS 10

static const char *modes[] = { "passthrough", "pack", "auto" };

static int cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int size, dims[D] = { 0 }, periods[D], n[D], rounds, rank;
    size_t cells = 1;
    MPI_Comm cart;
    halo_plan plan;
    const char *(*set_method)(const char *);

    MPI_Init(&argc, &argv);
    set_method = (const char *(*)(const char *)) dlsym(RTLD_DEFAULT,
                                                        "mpicomm_interposer_set_method");
    if (argc != 3 || !set_method) {
        fprintf(stderr, "usage: mpicomm run -n P halo_time N ROUNDS (with the interposer)\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    rounds = atoi(argv[2]);
    for (int k = 0; k < D; k++) {
        n[k] = atoi(argv[1]);
        periods[k] = 1;
        cells *= (size_t) (n[k] + 2 * G);
    }
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Dims_create(size, D, dims);
    MPI_Cart_create(MPI_COMM_WORLD, D, dims, periods, 0, &cart);
    MPI_Comm_rank(cart, &rank);
    halo_t *field = calloc(cells, sizeof *field);
    double *times[3];
    for (int m = 0; m < 3; m++)
        times[m] = malloc((size_t) rounds * sizeof(double));
    halo_create(cart, n, &plan);

    /* Each round: every mode, in rotating order, REPS exchanges after one warm-up. */
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < 3; i++) {
            int m = (r + i) % 3;
            set_method(modes[m]);
            halo_exchange(&plan, field);
            MPI_Barrier(cart);
            double t = MPI_Wtime();
            for (int k = 0; k < REPS; k++)
                halo_exchange(&plan, field);
            t = (MPI_Wtime() - t) / REPS;
            MPI_Allreduce(MPI_IN_PLACE, &t, 1, MPI_DOUBLE, MPI_MAX, cart);
            times[m][r] = t;
        }
    if (rank == 0) {
        printf("HALOTIME {");
        for (int m = 0; m < 3; m++) {
            qsort(times[m], (size_t) rounds, sizeof(double), cmp);
            printf("%s\"%s\": %.9f", m ? ", " : "", modes[m], times[m][rounds / 2]);
        }
        printf("}\n");
    }
    halo_free(&plan);
    free(field);
    MPI_Comm_free(&cart);
    MPI_Finalize();
    return 0;
}
