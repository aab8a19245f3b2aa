/*
 * Per-thread state of the hot paths (the chooser's kept answers, the last type looked
 * up, the model's memo), on the heap behind one array of pointers of the initial-exec
 * TLS model. A thread-local of a shared library of the default model is reached through
 * __tls_get_addr, a call on every use (about 20 ns per intercepted call); pointers fit
 * the static TLS that even a dlopen-ed library is given, the tables themselves would
 * not. A thread's blocks are freed when it ends.
 */
#include <stdlib.h>
#include "mpiw.h"

__thread void *mpiw_tls[MPIW_TLS_COUNT] __attribute__((tls_model("initial-exec")));

static pthread_key_t key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int have_key;

/* At thread exit (in that thread): an MPI call from a later destructor makes new
 * blocks, which the key's next round frees. */
static void release(void *blocks)
{
    void **b = blocks;

    for (int i = 0; i < MPIW_TLS_COUNT; i++) {
        free(b[i]);
        mpiw_tls[i] = NULL;
    }
    free(b);
}

static void make_key(void)
{
    have_key = pthread_key_create(&key, release) == 0;
}

void *mpiw_tls_make(int which, size_t size)
{
    void **owned;

    pthread_once(&once, make_key);
    if (!have_key)
        return NULL;
    /* The thread's list of its blocks, handed to the key's destructor. */
    if (!(owned = pthread_getspecific(key))) {
        if (!(owned = calloc(MPIW_TLS_COUNT, sizeof *owned)))
            return NULL;
        if (pthread_setspecific(key, owned)) {
            free(owned);
            return NULL;
        }
    }
    if (!owned[which] && !(owned[which] = calloc(1, size)))
        return NULL;
    return mpiw_tls[which] = owned[which];
}
