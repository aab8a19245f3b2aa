/*
 * What every interposed call with a buffer pays to ask whether the buffer is device
 * memory (mpid_on_device on a host pointer), best of 7 runs of a million calls: with no
 * device backend (a process that never loaded CUDA), with the simulated device, and with
 * the CUDA driver loaded first (--cuda: cuInit, then the driver is asked per call).
 * Built and run by benchmarks/kind_cost.py.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "mpid.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double) t.tv_sec + (double) t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    static char buf[64];
    int hits = 0;
    double best = 1e9;

    if (argc > 1 && !strcmp(argv[1], "--cuda")) {
        void *cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
        int (*init)(unsigned) = cuda ? (int (*)(unsigned)) dlsym(cuda, "cuInit") : NULL;
        if (!init || init(0)) {
            printf("cuda: no CUDA driver here\n");
            return 0;
        }
    }
    for (int r = 0; r < 7; r++) {
        double t = now();
        for (int i = 0; i < 1000000; i++)
            hits += mpid_on_device(buf + (i & 7));
        t = now() - t;
        best = t < best ? t : best;
    }
    printf("%s: %.1f ns per call (host pointer; %d taken for device)\n", mpid_backend_name(),
           best * 1e3, hits);
    return 0;
}
