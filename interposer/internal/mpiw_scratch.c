/*
 * Scratch buffers for packed collectives. A large malloc is a fresh mapping whose
 * pages fault in on first touch and go back to the system on free: for the tens of
 * MiB of an all-to-all that costs more than packing them (the packed 256^3 transpose
 * of benchmarks/alltoall_bench.py: 0.39x the MPI's speed with new buffers, 0.80x
 * reusing them). Buffers of MPIW_SCRATCH_MIN bytes or more are kept when returned
 * (the MPIW_SCRATCH_SLOTS largest) and handed out again; all are freed at MPI_Finalize.
 */
#include <pthread.h>
#include <stdlib.h>
#include "mpiw.h"

#define MPIW_SCRATCH_MIN ((size_t) 1 << 20)
#define MPIW_SCRATCH_SLOTS 4
#define HEAD 64            /* a buffer's byte size is stored this far before it */

static char *slots[MPIW_SCRATCH_SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static size_t size_of(const char *p)
{
    return *(const size_t *) p;
}

void *mpiw_scratch_get(size_t size)
{
    size_t total = size + HEAD;
    char *p = NULL;
    int best = -1;

    /* 1. The smallest kept buffer large enough, 2. else a new one. */
    if (total >= MPIW_SCRATCH_MIN) {
        pthread_mutex_lock(&lock);
        for (int i = 0; i < MPIW_SCRATCH_SLOTS; i++)
            if (slots[i] && size_of(slots[i]) >= total &&
                (best < 0 || size_of(slots[i]) < size_of(slots[best])))
                best = i;
        if (best >= 0) {
            p = slots[best];
            slots[best] = NULL;
        }
        pthread_mutex_unlock(&lock);
    }
    if (!p) {
        if (!(p = malloc(total)))
            return NULL;
        *(size_t *) p = total;
    }
    return p + HEAD;
}

void mpiw_scratch_put(void *buf)
{
    char *p = buf ? (char *) buf - HEAD : NULL;
    int at = 0;

    if (!p || size_of(p) < MPIW_SCRATCH_MIN) {
        free(p);
        return;
    }
    /* An empty slot, else the smallest kept buffer if this one is larger. */
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MPIW_SCRATCH_SLOTS; i++)
        if (!slots[i] || (slots[at] && size_of(slots[i]) < size_of(slots[at])))
            at = i;
    if (slots[at] && size_of(slots[at]) >= size_of(p)) {
        pthread_mutex_unlock(&lock);
        free(p);
        return;
    }
    free(slots[at]);
    slots[at] = p;
    pthread_mutex_unlock(&lock);
}

void mpiw_scratch_release(void)
{
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MPIW_SCRATCH_SLOTS; i++) {
        free(slots[i]);
        slots[i] = NULL;
    }
    pthread_mutex_unlock(&lock);
}
