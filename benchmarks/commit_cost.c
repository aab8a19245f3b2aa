/*
 * Commit and free, through the interposer and around it, in one process (run preloaded
 * by benchmarks/commit_bench.py): MPI_Type_dup + MPI_Type_commit + MPI_Type_free of each
 * type, n times, with the MPI_ entry points (the interposer's wrappers) and with the
 * PMPI_ ones (the MPI alone), alternating, reps rounds; prints the median microseconds
 * per round trip of each as "name alone wrapped".
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

static double loop(MPI_Datatype base, int n, int wrapped)
{
    double t = now();
    MPI_Datatype d;

    for (int i = 0; i < n; i++) {
        if (wrapped) {
            MPI_Type_dup(base, &d);
            MPI_Type_commit(&d);
            MPI_Type_free(&d);
        } else {
            PMPI_Type_dup(base, &d);
            PMPI_Type_commit(&d);
            PMPI_Type_free(&d);
        }
    }
    return (now() - t) / n * 1e6;
}

static void measure(const char *name, MPI_Datatype base, int n, int reps)
{
    double *a = malloc(sizeof(double) * reps), *w = malloc(sizeof(double) * reps);

    for (int r = 0; r < reps; r++) {
        if (r % 2) {
            a[r] = loop(base, n, 0);
            w[r] = loop(base, n, 1);
        } else {
            w[r] = loop(base, n, 1);
            a[r] = loop(base, n, 0);
        }
    }
    qsort(a, reps, sizeof *a, cmp);
    qsort(w, reps, sizeof *w, cmp);
    printf("%s|%.3f|%.3f\n", name, a[reps / 2], w[reps / 2]);
    free(a);
    free(w);
    PMPI_Type_free(&base);
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 2000, reps = argc > 2 ? atoi(argv[2]) : 9;
    int sizes[3] = { 64, 64, 64 }, sub[3] = { 64, 64, 1 }, start[3] = { 0, 0, 1 };
    MPI_Datatype t, faces[3], xyz, pos, vel;

    MPI_Init(&argc, &argv);

    /* 1. A face of a 3-D grid (subarray), 2. the same face as a vector (NAS MG x). */
    PMPI_Type_create_subarray(3, sizes, sub, start, MPI_ORDER_C, MPI_DOUBLE, &t);
    measure("x face (subarray)", t, n, reps);
    PMPI_Type_vector(64 * 64, 1, 64, MPI_DOUBLE, &t);
    measure("x face (vector, NAS MG)", t, n, reps);

    /* 3. Three fields' faces in one struct (WRF). */
    for (int k = 0; k < 3; k++)
        PMPI_Type_create_subarray(3, sizes, sub, start, MPI_ORDER_C,
                                  k == 2 ? MPI_FLOAT : MPI_DOUBLE, &faces[k]);
    PMPI_Type_create_struct(3, (int[]) { 1, 1, 1 },
                            (MPI_Aint[]) { 0, 64 * 64 * 64 * 8, 2 * 64 * 64 * 64 * 8 }, faces,
                            &t);
    for (int k = 0; k < 3; k++)
        PMPI_Type_free(&faces[k]);
    measure("grid fields struct (WRF)", t, n, reps);

    /* 4. Positions and velocities of every third of 30,000 particles (LAMMPS). */
    {
        int np = 10000;
        MPI_Aint *dp = malloc(sizeof(MPI_Aint) * np), *dv = malloc(sizeof(MPI_Aint) * np);
        for (int i = 0; i < np; i++) {
            dp[i] = (MPI_Aint) (3 * i) * 24;
            dv[i] = (MPI_Aint) 30000 * 24 + (MPI_Aint) (3 * i) * 24;
        }
        PMPI_Type_contiguous(3, MPI_DOUBLE, &xyz);
        PMPI_Type_create_hindexed_block(np, 1, dp, xyz, &pos);
        PMPI_Type_create_hindexed_block(np, 1, dv, xyz, &vel);
        PMPI_Type_create_struct(2, (int[]) { 1, 1 }, (MPI_Aint[]) { 0, 0 },
                                (MPI_Datatype[]) { pos, vel }, &t);
        PMPI_Type_free(&xyz);
        PMPI_Type_free(&pos);
        PMPI_Type_free(&vel);
        free(dp);
        free(dv);
        measure("particle list (LAMMPS)", t, n, reps);
    }

    /* 5. 5,000 runs of 1 to 8 floats at irregular offsets (SPECFEM3D). */
    {
        int nr = 5000, *len = malloc(sizeof(int) * nr), *disp = malloc(sizeof(int) * nr), at = 0;
        for (int i = 0; i < nr; i++) {
            len[i] = 1 + (i * 7919) % 8;
            disp[i] = at;
            at += len[i] + 1 + (i * 104729) % 37;
        }
        PMPI_Type_indexed(nr, len, disp, MPI_FLOAT, &t);
        free(len);
        free(disp);
        measure("mesh boundary (SPECFEM3D)", t, n, reps);
    }
    MPI_Finalize();
    return 0;
}
