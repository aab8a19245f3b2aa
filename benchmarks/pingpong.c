/*
 * Ping-pong between ranks 0 and 1 with MPI_Send/MPI_Recv of a contiguous buffer.
 *   pingpong [--bytes B] [--iters N] [--reps R] [--proc-null 1]
 * Prints the best of R runs of N round trips, in microseconds per round trip.
 * With --proc-null 1 every rank sends to and receives from MPI_PROC_NULL, which
 * the MPI completes at once: what is left is the cost of the calls themselves.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    int bytes = 8, iters = 100000, reps = 5, null = 0, rank, size;
    double best = 1e30;
    char *buf;

    MPI_Init(&argc, &argv);
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--bytes"))
            bytes = v;
        else if (!strcmp(argv[i], "--iters"))
            iters = v;
        else if (!strcmp(argv[i], "--reps"))
            reps = v;
        else if (!strcmp(argv[i], "--proc-null"))
            null = v;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if ((size != 2 && !null) || bytes < 0 || iters < 1 || reps < 1) {
        if (rank == 0)
            fprintf(stderr, "pingpong: needs 2 ranks (or --proc-null 1), --bytes >= 0, "
                            "--iters >= 1, --reps >= 1\n");
        MPI_Finalize();
        return 2;
    }
    buf = calloc(1, (size_t) bytes + 1);
    for (int r = 0; r < reps; r++) {
        double t;
        MPI_Barrier(MPI_COMM_WORLD);
        t = MPI_Wtime();
        for (int i = 0; i < iters; i++) {
            if (null) {
                MPI_Send(buf, bytes, MPI_BYTE, MPI_PROC_NULL, 0, MPI_COMM_WORLD);
                MPI_Recv(buf, bytes, MPI_BYTE, MPI_PROC_NULL, 0, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE);
            } else if (rank == 0) {
                MPI_Send(buf, bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
                MPI_Recv(buf, bytes, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            } else {
                MPI_Recv(buf, bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Send(buf, bytes, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
            }
        }
        t = MPI_Wtime() - t;
        if (t < best)
            best = t;
    }
    if (rank == 0)
        printf("pingpong: %d bytes, %d round trips: %.3f us per round trip\n", bytes, iters,
               best / iters * 1e6);
    free(buf);
    MPI_Finalize();
    return 0;
}
