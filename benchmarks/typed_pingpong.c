/*
 * Ping-pong of one strided face between ranks 0 and 1: an MPI_Type_vector of doubles
 * built and committed once, MPI_Send and MPI_Recv each way; the received bytes are
 * checked.
 *
 *   typed_pingpong [--blocks B] [--block-bytes L] [--stride-bytes S] [--iters N] [--reps R]
 *
 * L and S are multiples of 8, S >= L. Prints the best of R runs of N round trips:
 *   TIME <blocks> <block-bytes> <stride-bytes> <microseconds per round trip> <check>
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct { int blocks, block, stride, iters, reps; } options;

static int parse(int argc, char **argv, options *o)
{
    *o = (options) { 128, 1024, 1040, 200, 5 };
    for (int i = 1; i < argc; i++) {
        int *slot = !strcmp(argv[i], "--blocks") ? &o->blocks
                    : !strcmp(argv[i], "--block-bytes") ? &o->block
                    : !strcmp(argv[i], "--stride-bytes") ? &o->stride
                    : !strcmp(argv[i], "--iters") ? &o->iters
                    : !strcmp(argv[i], "--reps") ? &o->reps : NULL;
        if (!slot || i + 1 >= argc) {
            fprintf(stderr, "typed_pingpong: unknown or incomplete option %s\n", argv[i]);
            return 1;
        }
        *slot = atoi(argv[++i]);
    }
    if (o->blocks < 1 || o->block < 8 || o->block % 8 || o->stride % 8 ||
        o->stride < o->block || o->iters < 1 || o->reps < 1) {
        fprintf(stderr, "typed_pingpong: need --blocks >= 1, --block-bytes a multiple of 8, "
                        "--stride-bytes a multiple of 8 and >= it, --iters, --reps >= 1\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    options o;
    int rank, size, bad = 0, all_bad;
    double best = 1e30;
    MPI_Datatype face;

    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (parse(argc, argv, &o) || size != 2) {
        if (rank == 0 && size != 2)
            fprintf(stderr, "typed_pingpong: needs 2 ranks\n");
        MPI_Finalize();
        return 2;
    }
    size_t span = (size_t) (o.blocks - 1) * o.stride + o.block, n = span / 8;
    double *a = malloc(span), *b = malloc(span);
    int peer = 1 - rank;

    /* 1. The face type, and values that tell every element apart. */
    MPI_Type_vector(o.blocks, o.block / 8, o.stride / 8, MPI_DOUBLE, &face);
    MPI_Type_commit(&face);
    for (size_t i = 0; i < n; i++)
        a[i] = (double) (rank * n + i), b[i] = -1.0;

    /* 2. Round trips: rank 0 sends a and receives into b; rank 1 the other way. */
    for (int r = 0; r < o.reps + 1; r++) {
        MPI_Barrier(MPI_COMM_WORLD);
        double t = MPI_Wtime();
        for (int it = 0; it < o.iters; it++) {
            for (int leg = 0; leg < 2; leg++) {
                if (rank == leg)
                    MPI_Send(a, 1, face, peer, leg, MPI_COMM_WORLD);
                else
                    MPI_Recv(b, 1, face, peer, leg, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            }
        }
        t = (MPI_Wtime() - t) / o.iters;
        if (r > 0 && t < best)
            best = t;
    }

    /* 3. The received blocks hold the peer's values; the gaps are untouched. */
    for (size_t i = 0; i < n; i++) {
        int inside = (int) ((i * 8) % o.stride) < o.block;
        double want = inside ? (double) (peer * n + i) : -1.0;
        bad += b[i] != want;
    }
    MPI_Allreduce(&bad, &all_bad, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &best, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0)
        printf("TIME %d %d %d %.3f %s\n", o.blocks, o.block, o.stride, best * 1e6,
               all_bad ? "FAILED" : "OK");
    MPI_Type_free(&face);
    free(a);
    free(b);
    MPI_Finalize();
    return all_bad != 0;
}
