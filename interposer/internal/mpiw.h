/*
 * mpiw: the layer that sees MPI. Wrappers (interposer/wrap/, one file per MPI function
 * family, and the generated entry points in gen/) check "active?" and dispatch; the
 * work lives in these internal modules: mpiw_state.c (settings, logs, counters),
 * mpiw_types.c (decoding and the type cache), mpiw_choose.c (the chooser: how each call
 * travels), mpiw_model.c (the measured times the chooser asks), mpiw_locality.c (which
 * peers are on this node), the senders (mpiw_p2p.c,
 * mpiw_pipeline.c, mpiw_alltoall.c, mpiw_neighbor.c), device buffers (mpiw_device.c,
 * mpiw_bytes.c, mpiw_pending.c, mpiw_coll*.c), mpiw_requests.c and mpiw_complete.c
 * (requests of ours through every completion call) and mpiw_pack.c.
 */
#ifndef MPIW_H
#define MPIW_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <mpi.h>
#include "mpic.h"
#include "mpid.h"

#if MPI_VERSION >= 4
#define MPIW_HAVE_LARGE_COUNT 1
#else
#define MPIW_HAVE_LARGE_COUNT 0
#endif

enum { MPIW_LOG_ERROR = 0, MPIW_LOG_WARN, MPIW_LOG_INFO, MPIW_LOG_DEBUG };

/* How a buffer of a call travels (mpiw_choose.c). The first seven are MPICOMM_METHOD's
 * values: pack and pipeline for host buffers, device, staged and oneshot for device
 * buffers; mirror is what the chooser does with a device buffer it does not pack. */
enum {
    MPIW_METHOD_AUTO = 0, MPIW_METHOD_PASSTHROUGH, MPIW_METHOD_PACK, MPIW_METHOD_PIPELINE,
    MPIW_METHOD_DEVICE, MPIW_METHOD_STAGED, MPIW_METHOD_ONESHOT, MPIW_METHOD_MIRROR
};

/* A send's mode: MPI_Send, MPI_Ssend, MPI_Rsend (and their nonblocking and persistent forms). */
enum { MPIW_MODE_STANDARD = 0, MPIW_MODE_SYNC, MPIW_MODE_READY };

/* The pipelined method's smallest chunk (MPICOMM_PIPELINE_CHUNK's default), and the
 * most chunks a message is cut into before its chunks grow. */
#define MPIW_PIPE_CHUNK 131072
#define MPIW_PIPE_CHUNKS 16

/* Counters printed by MPICOMM_STATS=1, in this order. */
#define MPIW_STATS(X)                                                                    \
    X(types_committed) X(types_canonical) X(pack_fast) X(pack_fallback) X(unpack_fast)    \
    X(unpack_fallback) X(bytes_packed) X(bytes_unpacked) X(send_fast) X(send_fallback)    \
    X(recv_fast) X(recv_fallback) X(method_pack) X(method_passthrough) X(neighbor_fast)       \
    X(neighbor_fallback) X(method_pipeline) X(alltoall_fast) X(alltoall_fallback)          \
    X(method_device) X(method_staged) X(method_oneshot) X(method_mirror) X(types_table)      \
    X(remote_calls)

enum {
#define MPIW_STAT_ENUM(name) MPIW_STAT_##name,
    MPIW_STATS(MPIW_STAT_ENUM)
#undef MPIW_STAT_ENUM
    MPIW_NSTATS
};

typedef struct mpiw_state {
    int initialized;
    int verified;          /* the MPI that runs is the one the library was built for */
    int disabled;          /* MPICOMM_DISABLE: every wrapper passes through */
    int bypass;            /* set at run time by mpicomm_interposer_set_enabled(0) */
    int log_level;
    int stats;             /* MPICOMM_STATS */
    int threaded;          /* MPI_THREAD_MULTIPLE: lock the type cache */
    int method;            /* MPICOMM_METHOD */
    int cuda_aware;        /* the MPI takes CUDA device pointers (MPIX_Query_cuda_support) */
    int64_t pipe_chunk;    /* MPICOMM_PIPELINE_CHUNK */
    int64_t counters[MPIW_NSTATS];
} mpiw_state;

extern mpiw_state mpiw_g;

/* Settings from the environment (mpiw_state.c); the counters as one line for MPICOMM_STATS. */
void mpiw_state_init(int thread_level);
void mpiw_state_report(void);
long long mpiw_stat(const char *name);          /* a counter by name, -1 if none */
const char *mpiw_method_name(int method);
int mpiw_method_of(const char *name);           /* MPIW_METHOD_*, -1 if none */
/* Start-up after the MPI's own (init.c), shut-down before it (finalize.c). */
void mpiw_init(int thread_level);
void mpiw_finalize(void);
void mpiw_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline int mpiw_disabled(void) { return mpiw_g.disabled; }
static inline int mpiw_active(void)
{
    return mpiw_g.initialized && !mpiw_g.disabled && !mpiw_g.bypass;
}
/* Per-thread state of the hot paths (mpiw_thread.c): the block `which` of this thread,
 * zeroed when first made; NULL without memory (the caller then keeps nothing). */
enum { MPIW_TLS_KEPT, MPIW_TLS_TYPES, MPIW_TLS_MEMO, MPIW_TLS_COUNT };
extern __thread void *mpiw_tls[MPIW_TLS_COUNT] __attribute__((tls_model("initial-exec")));
void *mpiw_tls_make(int which, size_t size);
static inline void *mpiw_tls_get(int which, size_t size)
{
    void *p = mpiw_tls[which];
    return __builtin_expect(p != NULL, 1) ? p : mpiw_tls_make(which, size);
}
/* The block if this thread has made it, else NULL. */
static inline void *mpiw_tls_peek(int which) { return mpiw_tls[which]; }

/* Counters need atomics only when several threads may call MPI at once. */
static inline void mpiw_count(int stat, int64_t n)
{
    if (mpiw_g.threaded)
        __atomic_fetch_add(&mpiw_g.counters[stat], n, __ATOMIC_RELAXED);
    else
        mpiw_g.counters[stat] += n;
}

/* Run a block under lock when several threads may call MPI at once. */
#define MPIW_LOCKED(mutex, ...)                                                          \
    do {                                                                                 \
        if (mpiw_g.threaded)                                                             \
            pthread_mutex_lock(mutex);                                                   \
        __VA_ARGS__;                                                                     \
        if (mpiw_g.threaded)                                                             \
            pthread_mutex_unlock(mutex);                                                 \
    } while (0)

/* A map from handles to pointers (mpiw_map.c). */
typedef struct mpiw_map {
    uintptr_t *keys;       /* 0: empty slot */
    void **values;
    size_t capacity, used, live;
} mpiw_map;

void *mpiw_map_get(const mpiw_map *m, uintptr_t key);
int mpiw_map_put(mpiw_map *m, uintptr_t key, void *value);
void *mpiw_map_remove(mpiw_map *m, uintptr_t key);
void mpiw_map_clear(mpiw_map *m, void (*release)(void *));

/* The bits of a handle (an int in MPICH, a pointer in Open MPI), never 0. */
#define MPIW_KEY(handle) mpiw_key(&(handle), sizeof(handle))
static inline uintptr_t mpiw_key(const void *handle, size_t size)
{
    uintptr_t k = 0;
    __builtin_memcpy(&k, handle, size < sizeof k ? size : sizeof k);
    return k ? k : (uintptr_t) -1;
}

/* Types: known at commit, decoded on first use, forgotten at free. */
void mpiw_types_commit(MPI_Datatype dt);
void mpiw_types_free(MPI_Datatype dt);
/* Changes with every commit and free (never 0): what is kept about a handle holds while
 * it is the same. */
unsigned mpiw_types_generation(void);
void mpiw_types_retain(MPI_Datatype dt);
int mpiw_types_lookup(MPI_Datatype dt, mpic_desc *out);
/* Canonical or the table form: a copy whose table is retained (mpic_desc_release it),
 * or (any) borrowed from the cache, for a use that retains it before the call returns. */
int mpiw_types_lookup_packable(MPI_Datatype dt, mpic_desc *out);
int mpiw_types_lookup_any(MPI_Datatype dt, mpic_desc *out);
void mpiw_types_clear(void);
int mpiw_types_decode(MPI_Datatype dt, mpic_desc *out);

/* The chooser (mpiw_choose.c): how one buffer of a call travels. Every sender asks it
 * and dispatches on the answer. */
typedef struct mpiw_call {
    const void *buf;       /* where the elements are: host or device memory */
    int64_t count;
    MPI_Datatype dt;
    int peer;              /* MPI_PROC_NULL: nothing moves, the MPI's to do (a side of a
                            * collective: any other value) */
    MPI_Comm pipe_comm;    /* a point-to-point message that may be pipelined on this
                            * communicator; MPI_COMM_NULL: never pipelined */
    int tables;            /* the caller packs the table form too (its records retain the
                            * table: mpiw_pending.c) */
    int alone;             /* a blocking send or receive: the caller waits for this one
                            * message (the model's ping-pong times); else it travels with
                            * others, as in an exchange (its exchange times) */
    int coll;              /* a side of an all-to-all: its form + 1 (the model's collective
                            * tables, where it has them); 0: point to point */
    int ranks;             /* ... the size of its communicator, */
    int recv;              /* ... and whether it is the receiving side */
    int remote;            /* the peer (an all-to-all: some rank) is on another node
                            * (mpiw_locality.c): the model's inter-node tables */
} mpiw_call;

typedef struct mpiw_choice {
    int method;            /* MPIW_METHOD_*, never AUTO */
    int declined;          /* passthrough of a canonical non-contiguous type: the method or
                            * the model left it to the MPI (counted as method_passthrough) */
    int64_t bytes;         /* the message's bytes (packed methods, pipeline) */
    mpic_desc desc;        /* the type (packed methods); a table is borrowed from the type
                            * cache until a record retains it */
} mpiw_choice;

/* Does the method pack the elements into bytes of its own (pack, device, staged, oneshot)? */
static inline int mpiw_packs(int method)
{
    return method == MPIW_METHOD_PACK || method == MPIW_METHOD_DEVICE ||
           method == MPIW_METHOD_STAGED || method == MPIW_METHOD_ONESHOT;
}

/* The packed bytes of a message, wherever its method keeps them (mpiw_bytes.c): host
 * memory (pack), device memory (device), pinned host memory (staged, oneshot). get
 * returns NULL when out of memory; pack and unpack return 0 on success (unpack: the first
 * nbytes of the stream, a short message's). */
void *mpiw_bytes_get(int method, int64_t n, const void *buf);
void mpiw_bytes_put(int method, void *bytes);
int mpiw_bytes_pack(int method, const mpic_desc *d, int64_t count, const void *buf,
                    void *bytes);
int mpiw_bytes_unpack(int method, const mpic_desc *d, int64_t nbytes, const void *bytes,
                      void *buf);

int mpiw_choose(const mpiw_call *call, mpiw_choice *out);

/* The pipelined method (mpiw_pipeline.c), for a message of bytes the chooser gave it.
 * sync: a synchronous send (MPI_Ssend, MPI_Issend). Blocking calls return the MPI's
 * error; nonblocking ones give the program a generalized request the completion calls
 * drive. mpiw_pipe_fits: whether a message of this many bytes is one the method can
 * cut into chunks. */
int mpiw_pipe_fits(int64_t bytes);
/* Does this communicator keep the method's contract: everywhere under
 * MPICOMM_METHOD=pipeline, under auto where the program asserted it (mpiw_comms.c)? */
int mpiw_pipe_contract(MPI_Comm comm);
int mpiw_pipe_send(const void *buf, int64_t count, MPI_Datatype dt, int dest, int tag,
                   MPI_Comm comm, int64_t bytes, int sync);
int mpiw_pipe_recv(void *buf, int64_t count, MPI_Datatype dt, int source, int tag,
                   MPI_Comm comm, int64_t bytes, MPI_Status *status);
int mpiw_pipe_isend(const void *buf, int64_t count, MPI_Datatype dt, int dest, int tag,
                    MPI_Comm comm, int64_t bytes, int sync, MPI_Request *req);
int mpiw_pipe_irecv(void *buf, int64_t count, MPI_Datatype dt, int source, int tag,
                    MPI_Comm comm, int64_t bytes, MPI_Request *req);
int mpiw_pipe_sendrecv(const void *sbuf, int64_t scount, MPI_Datatype stype, int dest, int stag,
                       int64_t sbytes, void *rbuf, int64_t rcount, MPI_Datatype rtype,
                       int source, int rtag, int64_t rbytes, MPI_Comm comm, MPI_Status *status);
void mpiw_pipe_probed(const MPI_Status *st, MPI_Comm comm, const char *call);

/* Where peers are (mpiw_locality.c): the ranks of this node found at MPI_Init
 * (collective), a map per communicator built at its first use and freed with it. */
void mpiw_locality_init(void);
void mpiw_locality_finalize(void);
int mpiw_locality_remote(MPI_Comm comm, int peer);    /* peer of comm on another node */
int mpiw_locality_spans(MPI_Comm comm);               /* comm reaches another node */

/* Communicators with the MPI-4 assertions the pipelined method needs (mpiw_comms.c). */
void mpiw_comms_init(void);
void mpiw_comms_finalize(void);
void mpiw_comms_hints(MPI_Comm comm, MPI_Info info);
int mpiw_comms_pipelined(MPI_Comm comm);

/* Work a request of ours must have driven before it completes (a pipelined message's
 * chunks): progress moves it on without blocking (or, block = 1, to its end) and says
 * 1 once it has completed; cancel withdraws what is not yet under way. */
typedef struct mpiw_driver {
    int (*progress)(void *work, int block);
    void (*cancel)(void *work);
} mpiw_driver;

/* Requests the interposer created (mpiw_requests.c). */
typedef struct mpiw_pending {
    const mpiw_driver *driver;   /* work to drive (tmp is NULL, nothing to unpack), or NULL */
    void *work;
    int method;            /* where tmp lives and how it is packed (mpiw_bytes.c) */
    int recv;              /* unpack tmp into buf at completion */
    int unpacked;          /* already unpacked (MPI_Request_get_status saw it complete) */
    int persistent;        /* MPI_Send_init & co.: kept, inactive, between starts until freed */
    int active;            /* under way (a persistent request: started, not yet completed) */
    int64_t count;         /* elements of desc in buf (packed into tmp at each start) */
    void *tmp;
    void *buf;
    mpic_desc desc;
    MPI_Datatype dt;       /* mirror: the program's type (a receive copies back what came) */
    MPI_Datatype kept;     /* with keeps: a mirror receive's own copy of dt, for its mask */
    int keeps;
    struct mpiw_mirror *mirror;  /* method mirror: the host copy the MPI moves, else NULL */
    struct mpiw_coll *coll;      /* a nonblocking collective's mirrors (mpiw_coll.c), or NULL */
} mpiw_pending;

extern int64_t mpiw_requests_live;
int mpiw_requests_track(MPI_Request *req, mpiw_pending *p);
int mpiw_requests_hold(MPI_Request *req, mpiw_pending *p);
int mpiw_requests_start(int n, MPI_Request reqs[]);
mpiw_pending *mpiw_requests_claim(MPI_Request key);
void mpiw_requests_unclaim(MPI_Request *req, mpiw_pending *p);
void mpiw_requests_release(mpiw_pending *p, const MPI_Status *st, int ok);
void mpiw_requests_settle(mpiw_pending *p, const MPI_Status *st, int ok);
void mpiw_requests_peek(MPI_Request key, const MPI_Status *st);
int mpiw_requests_detach(MPI_Request *req);
int mpiw_requests_any(const MPI_Request *reqs, int n);
void mpiw_requests_poll(void);
void mpiw_requests_clear(void);
void mpiw_requests_advance(MPI_Request key, int cancel);
/* The bytes behind a record (mpiw_pending.c): filled for the choice (a send's packed or
 * copied in unless persistent; 0 on success), the wire the MPI is handed (buffer, count,
 * type), refreshed at each start of a persistent send, delivered when a receive
 * completes, let go. */
int mpiw_pending_fill(mpiw_pending *p, const mpiw_choice *c, int recv, int persistent,
                      void *buf, int64_t count, MPI_Datatype dt);
void *mpiw_pending_wire(const mpiw_pending *p, int64_t *count, MPI_Datatype *dt);
int mpiw_pending_refresh(mpiw_pending *p);
void mpiw_recv_complete(const mpiw_pending *p, const MPI_Status *st);
void mpiw_pending_clear(mpiw_pending *p);
int64_t mpiw_status_bytes(const MPI_Status *st);

/* Completion calls on batches holding tracked requests (mpiw_complete.c). */
int mpiw_wait(MPI_Request *req, MPI_Status *status);
int mpiw_test(MPI_Request *req, int *flag, MPI_Status *status);
int mpiw_waitall(int n, MPI_Request reqs[], MPI_Status statuses[]);
int mpiw_testall(int n, MPI_Request reqs[], int *flag, MPI_Status statuses[]);
int mpiw_waitany(int n, MPI_Request reqs[], int *index, MPI_Status *status);
int mpiw_testany(int n, MPI_Request reqs[], int *index, int *flag, MPI_Status *status);
int mpiw_waitsome(int n, MPI_Request reqs[], int *outcount, int indices[],
                  MPI_Status statuses[]);
int mpiw_testsome(int n, MPI_Request reqs[], int *outcount, int indices[],
                  MPI_Status statuses[]);
int mpiw_request_get_status(MPI_Request req, int *flag, MPI_Status *status);

/* Senders (mpiw_p2p.c): 1 when done here (*err is the result), 0 when the MPI must do it.
 * mode: MPIW_MODE_*. */
int mpiw_send_try(const void *buf, int64_t count, MPI_Datatype dt, int dest, int tag,
                  MPI_Comm comm, int mode, int *err);
int mpiw_recv_try(void *buf, int64_t count, MPI_Datatype dt, int source, int tag,
                  MPI_Comm comm, MPI_Status *status, int *err);
int mpiw_isend_try(const void *buf, int64_t count, MPI_Datatype dt, int dest, int tag,
                   MPI_Comm comm, int mode, MPI_Request *req, int *err);
int mpiw_irecv_try(void *buf, int64_t count, MPI_Datatype dt, int source, int tag,
                   MPI_Comm comm, MPI_Request *req, int *err);
int mpiw_sendrecv_replace_try(void *buf, int64_t count, MPI_Datatype dt, int dest, int stag,
                              int source, int rtag, MPI_Comm comm, MPI_Status *status,
                              int *err);
/* Persistent requests (MPI_Send_init, MPI_Ssend_init, MPI_Rsend_init, MPI_Recv_init):
 * the method is chosen once, here; each MPI_Start packs (a send) or unpacks at
 * completion (a receive). */
int mpiw_send_init_try(const void *buf, int64_t count, MPI_Datatype dt, int dest, int tag,
                       MPI_Comm comm, int mode, MPI_Request *req, int *err);
int mpiw_recv_init_try(void *buf, int64_t count, MPI_Datatype dt, int source, int tag,
                       MPI_Comm comm, MPI_Request *req, int *err);
int mpiw_sendrecv_try(const void *sbuf, int64_t scount, MPI_Datatype stype, int dest, int stag,
                      void *rbuf, int64_t rcount, MPI_Datatype rtype, int source, int rtag,
                      MPI_Comm comm, MPI_Status *status, int *err);

/* The model behind MPICOMM_METHOD=auto (mpiw_model.c): loaded at MPI_Init (collective
 * over MPI_COMM_WORLD); the chooser asks it whether packing, or pipelining, beats the MPI. */
void mpiw_model_load(void);
int mpiw_model_pack(const mpic_desc *d, int64_t count, const mpiw_call *c);
/* Did the model measure the MPI's own MPI_Pack (unpack: MPI_Unpack) of count elements
 * of d at least 5% faster than ours? (0 without a model, or one without those tables.) */
int mpiw_model_mpi_packs(const mpic_desc *d, int64_t count, int unpack);
int mpiw_model_pipeline(int64_t bytes);
/* The device method (MPIW_METHOD_DEVICE only when aware) with the lowest measured time for
 * count elements of d, or MPIW_METHOD_AUTO where the model has no device tables for the
 * active backend. */
int mpiw_model_device(const mpic_desc *d, int64_t count, int aware);
const char *mpiw_model_source(void);

/* The HDF5 calls the model needs, loaded with dlopen (mpiw_h5.c). */
int64_t mpiw_h5_open(const char *path, const char **why);
void mpiw_h5_close(int64_t file);
int64_t mpiw_h5_read(int64_t file, const char *name, double *out, int64_t max, int64_t dims[3]);
int mpiw_h5_has(int64_t file, const char *name);
int mpiw_h5_attr(int64_t file, const char *name, char *out, size_t size);

/* One side (send or receive) of a neighbourhood all-to-all, as the program gave it:
 * int or MPI_Count counts; alltoallw: byte displacements (MPI_Aint) and a type per
 * block; alltoallv: displacements in extents (int, or MPI_Aint for _c) and one type. */
/* One side (send or receive) of an all-to-all: per block a count and a displacement
 * in one of their forms, or one count for every block (MPI_Alltoall: block i starts
 * i * count extents in); a type per block (the w forms) or one for all. */
typedef struct mpiw_side {
    char *buf;
    int64_t count;
    const int *counts;
    const MPI_Count *counts_c;
    const int *displs;
    const MPI_Aint *displs_a;
    const MPI_Datatype *types;
    MPI_Datatype type;
} mpiw_side;

/* All-to-all: which call the program made, and the size of its communicator. */
enum { MPIW_ALLTOALL, MPIW_ALLTOALLV, MPIW_ALLTOALLW, MPIW_NEIGHBOR_ALLTOALLV,
       MPIW_NEIGHBOR_ALLTOALLW, MPIW_ALLTOALL_FORMS };
typedef struct mpiw_collective {
    int form;
    int ranks;
    int remote;            /* the communicator reaches another node */
} mpiw_collective;

int64_t mpiw_side_count(const mpiw_side *s, int i);
/* Does the chooser pack count elements of dt at buf on the host, the sending (or, recv,
 * receiving) side of the all-to-all k (d filled, its table retained)? release lets go of
 * n such descriptions (zeroed ones too). */
int mpiw_side_packs(const void *buf, int64_t count, MPI_Datatype dt, mpic_desc *d,
                    const mpiw_collective *k, int recv);
void mpiw_side_release(mpic_desc *d, int n);
MPI_Datatype mpiw_side_type(const mpiw_side *s, int i);
char *mpiw_side_block(const mpiw_side *s, int i, MPI_Aint extent);
/* A side packed whole (1: byte counts and offsets per block in c and o, the bytes in a
 * scratch buffer *tmp (mpiw_scratch_get), filled when send) or left as the program
 * gave it (0). One type for every block (d[0]), or a type per block (the w forms, d[i]);
 * d (zeroed by the caller) holds retained tables either way: mpiw_side_release. */
int mpiw_side_pack(const mpiw_side *s, int n, int large, int send, mpic_desc *d, int64_t *c,
                   int64_t *o, char **tmp, const mpiw_collective *k);
int mpiw_side_pack_w(const mpiw_side *s, int n, int large, int send, mpic_desc *d, int64_t *c,
                     int64_t *o, char **tmp, const mpiw_collective *k);
/* The received bytes of a packed side (laid out as c and o say) into the program's
 * blocks, less those skip marks. */
void mpiw_side_unpack(const mpiw_side *r, int n, const mpic_desc *d, int one, const char *tmp,
                      const int64_t *c, const int64_t *o, const char *skip);

/* Scratch buffers for packed collectives: large ones are kept for reuse (mpiw_scratch.c);
 * every buffer from get goes back through put; release frees the kept ones. */
void *mpiw_scratch_get(size_t size);
void mpiw_scratch_put(void *buf);
void mpiw_scratch_release(void);

/* The call with each side packed whole where the method packs it (1: done, *err the
 * MPI's answer) or 0 when neither side is packed; nout blocks sent, nin received, the
 * received blocks marked in skip left as they are. */
int mpiw_alltoall_packed(const mpiw_side *s, int nout, const mpiw_side *r, int nin,
                         const char *skip, MPI_Comm comm, int form, int large, int *err);
int mpiw_alltoall_try(const mpiw_side *s, const mpiw_side *r, MPI_Comm comm, int form,
                      int large, int *err);

int mpiw_neighbor_degrees(MPI_Comm comm, int *in, int *out);
int mpiw_neighbor_alltoallw_try(const mpiw_side *s, const mpiw_side *r, MPI_Comm comm,
                                int large, int *err);
int mpiw_neighbor_alltoallv_try(const mpiw_side *s, const mpiw_side *r, MPI_Comm comm,
                                int large, int *err);

/* Packers: 1 when done here (*err the result, position advanced), 0 when the MPI must do
 * it. */
int mpiw_pack_try(const void *inbuf, int64_t incount, MPI_Datatype dt, void *outbuf,
                  int64_t outsize, int64_t *position, MPI_Comm comm, int *err);
int mpiw_unpack_try(const void *inbuf, int64_t insize, int64_t *position, void *outbuf,
                    int64_t outcount, MPI_Datatype dt, MPI_Comm comm, int *err);

/* Device buffers the MPI must see as host memory (mpiw_device.c). A mirror: the bytes
 * count elements of dt span, in pinned host memory (copied from the device when in);
 * open returns 1 when it could not be made, and leaves no mirror (host == NULL) for a
 * buffer that is not on the device. mpiw_mirror_at is the buffer to give the MPI;
 * close copies bytes [first, first + bytes) of the buffer back to the device. */
typedef struct mpiw_mirror {
    char *dev;
    char *host;
    unsigned char *mask;   /* the bytes close may change (NULL: all of the span) */
    int64_t lo, hi;
} mpiw_mirror;
int mpiw_mirror_open(mpiw_mirror *m, const void *buf, int64_t count, MPI_Datatype dt, int in);
void *mpiw_mirror_at(const mpiw_mirror *m);
/* A mirror of bytes [lo, hi) of buf, copied in. */
int mpiw_mirror_open_span(mpiw_mirror *m, const void *buf, int64_t lo, int64_t hi);
/* The MPI's size, bounds and extent of a type (0 when it does not know the type). */
int mpiw_type_info(MPI_Datatype dt, mpic_typeinfo *t);
int64_t mpiw_mirror_len(const mpiw_mirror *m);
int mpiw_mirror_close(mpiw_mirror *m, int64_t first, int64_t bytes);
/* Only the bytes count elements of dt take from the first `bytes` bytes of a message are
 * copied back at close (those the MPI writes; the program may change the others
 * meanwhile). 0 on success. */
int mpiw_mirror_mask(mpiw_mirror *m, int64_t count, MPI_Datatype dt, int64_t bytes);
void mpiw_device_finalize(void);
/* A device-layer failure: logged with its cause, then the communicator's error handler
 * with code; returns code. */
int mpiw_device_failed(MPI_Comm comm, int code);
/* MPI_Pack / MPI_Unpack by the MPI with a device buffer on either side. */
int mpiw_device_mpi_pack(const void *inbuf, int64_t incount, MPI_Datatype dt, void *outbuf,
                         int64_t outsize, int64_t *position, MPI_Comm comm);
int mpiw_device_mpi_unpack(const void *inbuf, int64_t insize, int64_t *position, void *outbuf,
                           int64_t outcount, MPI_Datatype dt, MPI_Comm comm);
/* Collectives with device buffers over an MPI that is not CUDA-aware (mpiw_coll.c):
 * device says whether a call needs mirrors. A call's sides are mirrored as the span of
 * their blocks (ns sent, nr received; 1 when out of memory), the sides' buf then point
 * into the mirrors; the MPI runs on them, and end copies the receive side back after a
 * successful blocking call and returns err (or the error of a failed copy), or, for a
 * nonblocking call (req not NULL), keeps the mirrors with the request until it completes.
 * peers: the processes a rank exchanges with (the remote group's size on an
 * intercommunicator); root: is this rank the root of a rooted call. */
typedef struct mpiw_coll {
    mpiw_mirror s, r;
} mpiw_coll;
int mpiw_coll_device(const void *sbuf, const void *rbuf);
int mpiw_coll_peers(MPI_Comm comm);
int mpiw_coll_root(MPI_Comm comm, int root);
int mpiw_coll_open_sides(mpiw_coll *c, mpiw_side *s, int ns, mpiw_side *r, int nr);
int mpiw_coll_end(mpiw_coll *c, int err, MPI_Comm comm, MPI_Request *req);
/* A side of a v or w call: counts and displacements read as int, or (large) as MPI_Count
 * and MPI_Aint; aint: displacements that are MPI_Aint in both forms. */
mpiw_side mpiw_coll_side(const void *buf, const void *counts, const void *displs, int aint,
                         MPI_Datatype type, const MPI_Datatype *types, int large);

/* The first nbytes of a packed stream into elements of d on the device (0 on success). */
int mpiw_device_unpack_bytes(const mpic_desc *d, int64_t nbytes, const void *packed, void *out);

#endif
