/*
 * Where a peer is: on this node or on another. The chooser asks for each point-to-point
 * message (its peer) and each all-to-all (whether its communicator reaches another
 * node); the model answers from the table of that locality (mpiw_model.c).
 *
 * At MPI_Init the ranks of MPI_COMM_WORLD that share this node are found once, as the
 * MPI itself groups them (MPI_Comm_split_type, MPI_COMM_TYPE_SHARED). A communicator's
 * map, from its ranks (an intercommunicator's remote ones) to "on another node", is
 * built at its first use from its group alone (a group translation: no communication,
 * so a point-to-point call may build it), kept as a cached attribute and freed with the
 * communicator. A job on one node builds no map: every peer is on this node. A rank
 * outside MPI_COMM_WORLD (a spawned or connected job's) counts as on another node.
 */
#include <stdlib.h>
#include "mpiw.h"

typedef struct place {
    int size;
    int spans;                  /* some rank is on another node */
    unsigned char remote[];     /* per rank: on another node */
} place;

static int keyval = MPI_KEYVAL_INVALID;
static place *world;            /* NULL: the job is on one node */
static unsigned gone;           /* maps freed so far: a thread's last lookup holds while
                                 * it is unchanged (a freed handle may come back) */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* This thread's last lookup; a few bytes of static TLS (initial-exec: no __tls_get_addr
 * on each call, see mpiw_thread.c). */
#define LAST __thread __attribute__((tls_model("initial-exec")))
static LAST MPI_Comm last_comm;
static LAST const place *last_place;
static LAST unsigned last_gone = (unsigned) -1;

static int forget(MPI_Comm comm, int key, void *value, void *extra)
{
    free(value);
    __atomic_fetch_add(&gone, 1, __ATOMIC_RELEASE);
    return MPI_SUCCESS;
}

/* The MPI_COMM_WORLD rank of each of group g's n ranks (MPI_UNDEFINED: not in it), or
 * NULL without memory. */
static int *world_ranks(MPI_Group g, int n)
{
    MPI_Group wg;
    int *ranks = malloc(sizeof *ranks * (size_t) (n ? n : 1));
    int *out = malloc(sizeof *out * (size_t) (n ? n : 1));

    if (ranks && out) {
        for (int i = 0; i < n; i++)
            ranks[i] = i;
        PMPI_Comm_group(MPI_COMM_WORLD, &wg);
        PMPI_Group_translate_ranks(g, n, ranks, wg, out);
        PMPI_Group_free(&wg);
    } else {
        free(out);
        out = NULL;
    }
    free(ranks);
    return out;
}

/* 1. The ranks of this node, 2. on one node: nothing more, 3. the world's map and the
 * number of nodes (collective over MPI_COMM_WORLD, as MPI_Init is). */
void mpiw_locality_init(void)
{
    MPI_Comm node;
    MPI_Group ng;
    int wsize = 0, nsize = 0, nrank = 0, leader, nodes = 1;
    int *in_world = NULL;

    if (PMPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) !=
        MPI_SUCCESS)
        return;
    PMPI_Comm_size(MPI_COMM_WORLD, &wsize);
    PMPI_Comm_size(node, &nsize);
    PMPI_Comm_rank(node, &nrank);
    if (nsize == wsize) {
        PMPI_Comm_free(&node);
        return;
    }
    leader = nrank == 0;
    PMPI_Allreduce(&leader, &nodes, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    PMPI_Comm_group(node, &ng);
    world = malloc(sizeof *world + (size_t) wsize);
    if (world && (in_world = world_ranks(ng, nsize))) {
        world->size = wsize;
        world->spans = 1;
        for (int i = 0; i < wsize; i++)
            world->remote[i] = 1;
        for (int i = 0; i < nsize; i++)
            if (in_world[i] >= 0 && in_world[i] < wsize)
                world->remote[in_world[i]] = 0;
        PMPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, forget, &keyval, NULL);
    } else {
        free(world);
        world = NULL;
        mpiw_log(MPIW_LOG_WARN, "no memory for the map of nodes; every peer is taken as on "
                 "this node");
    }
    PMPI_Group_free(&ng);
    free(in_world);
    PMPI_Comm_free(&node);
    mpiw_log(MPIW_LOG_INFO, "%d nodes; %d of %d ranks on this one", nodes, nsize, wsize);
}

void mpiw_locality_finalize(void)
{
    if (keyval != MPI_KEYVAL_INVALID)
        PMPI_Comm_free_keyval(&keyval);
    free(world);
    world = NULL;
    last_place = NULL;
}

/* A communicator's map from its group (an intercommunicator: the remote group). */
static place *build(MPI_Comm comm)
{
    MPI_Group g;
    int inter = 0, n = 0, *in_world = NULL;
    place *p;

    PMPI_Comm_test_inter(comm, &inter);
    if ((inter ? PMPI_Comm_remote_group(comm, &g) : PMPI_Comm_group(comm, &g)) !=
        MPI_SUCCESS)
        return NULL;
    PMPI_Group_size(g, &n);
    p = malloc(sizeof *p + (size_t) n);
    if (p && (in_world = world_ranks(g, n))) {
        p->size = n;
        p->spans = 0;
        for (int i = 0; i < n; i++) {
            int w = in_world[i];
            p->remote[i] = w < 0 || w >= world->size || world->remote[w];
            p->spans |= p->remote[i];
        }
    } else {
        free(p);
        p = NULL;
    }
    free(in_world);
    PMPI_Group_free(&g);
    return p;
}

/* comm's map: the world's, the thread's last, the cached one, or built now (NULL: none
 * could be had; its peers count as on this node). */
static const place *map_of(MPI_Comm comm)
{
    unsigned now = __atomic_load_n(&gone, __ATOMIC_ACQUIRE);
    const place *p = NULL;
    void *v = NULL;
    int flag = 0;

    if (comm == MPI_COMM_WORLD)
        return world;
    if (last_place && comm == last_comm && now == last_gone)
        return last_place;
    MPIW_LOCKED(&lock, {
        if (PMPI_Comm_get_attr(comm, keyval, &v, &flag) == MPI_SUCCESS && flag)
            p = v;
        else if ((p = build(comm)) && PMPI_Comm_set_attr(comm, keyval, (void *) p) !=
                                          MPI_SUCCESS) {
            free((void *) p);
            p = NULL;
        }
    });
    last_comm = comm;
    last_place = p;
    last_gone = now;
    return p;
}

int mpiw_locality_remote(MPI_Comm comm, int peer)
{
    const place *p;

    if (!world || comm == MPI_COMM_NULL || peer < 0)
        return 0;
    p = map_of(comm);
    return p && peer < p->size && p->remote[peer];
}

int mpiw_locality_spans(MPI_Comm comm)
{
    const place *p;

    if (!world || comm == MPI_COMM_NULL)
        return 0;
    p = map_of(comm);
    return p && p->spans;
}
