/*
 * A plain C MPI program, run with the interposer preloaded: packs and unpacks a
 * few derived types with MPI_Pack/MPI_Unpack (interposed) and with PMPI_Pack/
 * PMPI_Unpack (the MPI itself), and checks the bytes agree. With --expect-fast it
 * also checks, through the interposer's counters, that the fast path ran.
 * Prints "pack_check OK <n> types" on rank 0.
 */
#include <dlfcn.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 24

static int failures;

static void check(const char *name, MPI_Datatype dt, int count, const void *src)
{
    int size, pos1 = 3, pos2 = 3, upos1 = 3, upos2 = 3;
    MPI_Aint lb, extent;
    char *out1, *out2, *back1, *back2;

    MPI_Type_commit(&dt);
    MPI_Pack_size(count, dt, MPI_COMM_WORLD, &size);
    MPI_Type_get_extent(dt, &lb, &extent);
    out1 = calloc(1, (size_t) size + 3);
    out2 = calloc(1, (size_t) size + 3);
    MPI_Pack(src, count, dt, out1, size + 3, &pos1, MPI_COMM_WORLD);
    PMPI_Pack(src, count, dt, out2, size + 3, &pos2, MPI_COMM_WORLD);
    if (pos1 != pos2 || memcmp(out1, out2, (size_t) size + 3)) {
        fprintf(stderr, "%s: MPI_Pack differs from PMPI_Pack\n", name);
        failures++;
    }
    back1 = calloc(1, (size_t) (extent * count + 4096));
    back2 = calloc(1, (size_t) (extent * count + 4096));
    MPI_Unpack(out1, size + 3, &upos1, back1 + 2048, count, dt, MPI_COMM_WORLD);
    PMPI_Unpack(out1, size + 3, &upos2, back2 + 2048, count, dt, MPI_COMM_WORLD);
    if (upos1 != upos2 || memcmp(back1, back2, (size_t) (extent * count + 4096))) {
        fprintf(stderr, "%s: MPI_Unpack differs from PMPI_Unpack\n", name);
        failures++;
    }
    free(out1);
    free(out2);
    free(back1);
    free(back2);
    MPI_Type_free(&dt);
}

int main(int argc, char **argv)
{
    static double a[N][N][N];
    int sizes[3] = { N, N, N }, sub[3], start[3] = { 0, 0, 0 }, rank, ntypes = 0;
    MPI_Datatype t, inner;
    long long (*stat)(const char *);

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    for (int i = 0; i < N * N * N; i++)
        (&a[0][0][0])[i] = i + 0.25 * rank;

    sub[0] = N, sub[1] = N, sub[2] = 1;                  /* a[:,:,0] */
    MPI_Type_create_subarray(3, sizes, sub, start, MPI_ORDER_C, MPI_DOUBLE, &t);
    check("x-face", t, 1, a), ntypes++;
    sub[0] = N, sub[1] = 1, sub[2] = N;                  /* a[:,0,:] */
    MPI_Type_create_subarray(3, sizes, sub, start, MPI_ORDER_C, MPI_DOUBLE, &t);
    check("y-face", t, 1, a), ntypes++;
    MPI_Type_vector(N, 3, 7, MPI_INT, &t);
    check("int vector x2", t, 2, a), ntypes++;
    MPI_Type_vector(4, 2, 5, MPI_DOUBLE, &inner);
    MPI_Type_create_hvector(3, 1, 1000, inner, &t);
    MPI_Type_free(&inner);
    check("hvector of vector", t, 1, a), ntypes++;
    MPI_Type_create_struct(2, (int[]) { 1, 1 }, (MPI_Aint[]) { 0, 12 },
                           (MPI_Datatype[]) { MPI_INT, MPI_DOUBLE }, &t);
    check("irregular struct", t, 3, a), ntypes++;

    stat = (long long (*)(const char *)) dlsym(RTLD_DEFAULT, "mpicomm_interposer_stat");
    if (argc > 1 && !strcmp(argv[1], "--expect-fast")) {
        if (!stat) {
            fprintf(stderr, "interposer not preloaded\n");
            failures++;
        } else if (stat("pack_fast") < 4 || stat("unpack_fast") < 4) {
            fprintf(stderr, "fast path not taken: pack_fast %lld unpack_fast %lld\n",
                    stat("pack_fast"), stat("unpack_fast"));
            failures++;
        }
    }
    MPI_Allreduce(MPI_IN_PLACE, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf(failures ? "pack_check FAILED %d\n" : "pack_check OK %d types\n",
               failures ? failures : ntypes);
    MPI_Finalize();
    return failures != 0;
}
