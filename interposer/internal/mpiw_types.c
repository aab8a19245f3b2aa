/*
 * Decoding an MPI datatype into the canonical form, and the cache of
 * descriptions keyed by datatype handle (filled at commit, emptied at free).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mpiw.h"

#define MAX_DEPTH 64

/* ---- decoding ---------------------------------------------------------- */

static int combiner_of(int mpi_combiner)
{
    switch (mpi_combiner) {
    case MPI_COMBINER_NAMED: return MPIC_COMBINER_NAMED;
    case MPI_COMBINER_DUP: return MPIC_COMBINER_DUP;
    case MPI_COMBINER_CONTIGUOUS: return MPIC_COMBINER_CONTIGUOUS;
    case MPI_COMBINER_VECTOR: return MPIC_COMBINER_VECTOR;
    case MPI_COMBINER_HVECTOR: return MPIC_COMBINER_HVECTOR;
    case MPI_COMBINER_INDEXED: return MPIC_COMBINER_INDEXED;
    case MPI_COMBINER_HINDEXED: return MPIC_COMBINER_HINDEXED;
    case MPI_COMBINER_INDEXED_BLOCK: return MPIC_COMBINER_INDEXED_BLOCK;
    case MPI_COMBINER_HINDEXED_BLOCK: return MPIC_COMBINER_HINDEXED_BLOCK;
    case MPI_COMBINER_STRUCT: return MPIC_COMBINER_STRUCT;
    case MPI_COMBINER_SUBARRAY: return MPIC_COMBINER_SUBARRAY;
    case MPI_COMBINER_DARRAY: return MPIC_COMBINER_DARRAY;
    case MPI_COMBINER_RESIZED: return MPIC_COMBINER_RESIZED;
    default: return MPIC_COMBINER_OTHER;
    }
}

static int type_info(MPI_Datatype dt, mpic_typeinfo *info)
{
#if MPIW_HAVE_LARGE_COUNT
    MPI_Count size, lb, extent, tlb, textent;
    if (PMPI_Type_size_c(dt, &size) || PMPI_Type_get_extent_c(dt, &lb, &extent) ||
        PMPI_Type_get_true_extent_c(dt, &tlb, &textent))
        return 1;
#else
    MPI_Count size, lb, extent, tlb, textent;
    if (PMPI_Type_size_x(dt, &size) || PMPI_Type_get_extent_x(dt, &lb, &extent) ||
        PMPI_Type_get_true_extent_x(dt, &tlb, &textent))
        return 1;
#endif
    info->size = size;
    info->lb = lb;
    info->extent = extent;
    info->true_lb = tlb;
    info->true_extent = textent;
    return 0;
}

static int envelope(MPI_Datatype dt, int64_t n[4], int *combiner)
{
#if MPIW_HAVE_LARGE_COUNT
    MPI_Count ni, na, nc, nd;
    if (PMPI_Type_get_envelope_c(dt, &ni, &na, &nc, &nd, combiner))
        return 1;
#else
    int ni, na, nd, nc = 0;
    if (PMPI_Type_get_envelope(dt, &ni, &na, &nd, combiner))
        return 1;
#endif
    n[0] = ni;
    n[1] = na;
    n[2] = nc;
    n[3] = nd;
    return 0;
}

static int decode(MPI_Datatype dt, mpic_desc *out, int depth);

/* Some MPIs pack some predefined types unlike their typemap in strided layouts
 * (seen: MPICH 5 and Open MPI 5 with long double, Open MPI 5 with the 16-byte
 * complex types, depending on the stride). So ask the MPI, once per predefined
 * type: pack three elements at each probe stride with PMPI_Pack into a filled
 * buffer and compare with the typemap. */
#define PROBE_MAX_SIZE 64
#define PROBE_CACHE 256

static struct { uintptr_t key; int trusted; } probes[PROBE_CACHE];
static int nprobes;
static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;

static int probe_stride(MPI_Datatype t, int64_t size, int64_t stride)
{
    unsigned char src[3 * 3 * PROBE_MAX_SIZE], out[3 * PROBE_MAX_SIZE];
    MPI_Datatype h;
    int pos = 0, ok;

    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (unsigned char) (i * 7 + 3);
    memset(out, 0xee, sizeof out);
    if (PMPI_Type_create_hvector(3, 1, (MPI_Aint) stride, t, &h))
        return 0;
    ok = !PMPI_Type_commit(&h) &&
         !PMPI_Pack(src, 1, h, out, (int) sizeof out, &pos, MPI_COMM_SELF) && pos == 3 * size;
    for (int64_t i = 0; ok && i < 3; i++)
        ok = !memcmp(out + i * size, src + i * stride, (size_t) size);
    PMPI_Type_free(&h);
    return ok;
}

static int probe_named(MPI_Datatype t, int64_t size)
{
    const int64_t strides[] = { size, size + 1, size + 8, 2 * size, 3 * size };

    if (size > PROBE_MAX_SIZE)
        return 0;
    for (size_t i = 0; i < sizeof strides / sizeof *strides; i++)
        if (!probe_stride(t, size, strides[i]))
            return 0;
    return 1;
}

static int named_trusted(MPI_Datatype t, int64_t size)
{
    uintptr_t key = MPIW_KEY(t);
    int verdict = -1;

    pthread_mutex_lock(&probe_lock);
    for (int i = 0; i < nprobes && verdict < 0; i++)
        if (probes[i].key == key)
            verdict = probes[i].trusted;
    pthread_mutex_unlock(&probe_lock);
    if (verdict >= 0)
        return verdict;
    verdict = probe_named(t, size);
    pthread_mutex_lock(&probe_lock);
    if (nprobes < PROBE_CACHE) {
        probes[nprobes].key = key;
        probes[nprobes++].trusted = verdict;
    }
    pthread_mutex_unlock(&probe_lock);
    return verdict;
}

static int decode_named(MPI_Datatype dt, mpic_desc *out, const mpic_typeinfo *info)
{
    char name[MPI_MAX_OBJECT_NAME] = "";
    int len = 0;

    if (mpic_desc_named(out, info) != MPIC_OK)
        return 1;
    if (named_trusted(dt, info->size))
        return 0;
    PMPI_Type_get_name(dt, name, &len);
    out->canonical = 0;
    snprintf(out->reason, sizeof out->reason, "the MPI packs %s unlike its typemap",
             len ? name : "this predefined type");
    return 1;
}

/* Contents widened into one int64 array: ints, then addresses, then large counts. */
static int decode_derived(MPI_Datatype dt, mpic_desc *out, int depth, int combiner,
                          const int64_t n[4], const mpic_typeinfo *info)
{
    int64_t *wide = malloc(sizeof(int64_t) * (size_t) (n[0] + n[1] + n[2] + 1));
    int *ints = malloc(sizeof(int) * (size_t) (n[0] + 1));
    MPI_Aint *addrs = malloc(sizeof(MPI_Aint) * (size_t) (n[1] + 1));
    MPI_Datatype *types = malloc(sizeof(MPI_Datatype) * (size_t) (n[3] + 1));
    mpic_desc *children = malloc(sizeof(mpic_desc) * (size_t) (n[3] + 1));
    mpic_contents c = { .combiner = combiner, .order_c = MPI_ORDER_C };
    int err = 1;
#if MPIW_HAVE_LARGE_COUNT
    MPI_Count *counts = malloc(sizeof(MPI_Count) * (size_t) (n[2] + 1));
#else
    int64_t *counts = NULL;
#endif

    /* 1. Contents, as the MPI stored them. */
    if (!wide || !ints || !addrs || !types || !children || (n[2] && !counts))
        goto out;
#if MPIW_HAVE_LARGE_COUNT
    if (PMPI_Type_get_contents_c(dt, n[0], n[1], n[2], n[3], ints, addrs, counts, types))
        goto out;
#else
    if (PMPI_Type_get_contents(dt, (int) n[0], (int) n[1], (int) n[3], ints, addrs, types))
        goto out;
#endif
    for (int64_t i = 0; i < n[0]; i++)
        wide[i] = ints[i];
    for (int64_t i = 0; i < n[1]; i++)
        wide[n[0] + i] = addrs[i];
    for (int64_t i = 0; i < n[2]; i++)
        wide[n[0] + n[1] + i] = counts[i];
    c.large = n[2] > 0;
    c.nints = n[0], c.naddrs = n[1], c.ncounts = n[2], c.ntypes = n[3];
    c.ints = wide, c.addrs = wide + n[0], c.counts = wide + n[0] + n[1];

    /* 2. Children first; the derived ones get_contents handed us are ours to free. */
    for (int64_t i = 0; i < n[3]; i++) {
        int64_t cn[4];
        int cc = MPI_COMBINER_NAMED;
        decode(types[i], &children[i], depth + 1);
        if (!envelope(types[i], cn, &cc) && cc != MPI_COMBINER_NAMED)
            PMPI_Type_free(&types[i]);
    }

    /* 3. This level (a table of its own: the children's are let go). */
    mpic_desc_build(out, &c, children, info);
    for (int64_t i = 0; i < n[3]; i++)
        mpic_desc_release(&children[i]);
    err = 0;
out:
    free(wide);
    free(ints);
    free(addrs);
    free(types);
    free(children);
    free(counts);
    return err;
}

static int decode(MPI_Datatype dt, mpic_desc *out, int depth)
{
    int64_t n[4];
    int combiner;
    mpic_typeinfo info;

    memset(out, 0, sizeof *out);
    if (depth > MAX_DEPTH || envelope(dt, n, &combiner) || type_info(dt, &info)) {
        strcpy(out->reason, "could not be decoded");
        return 1;
    }
    if (combiner == MPI_COMBINER_NAMED)
        return decode_named(dt, out, &info);
    if (combiner_of(combiner) == MPIC_COMBINER_OTHER) {
        out->info = info;
        snprintf(out->reason, sizeof out->reason, "combiner %d is not decoded", combiner);
        return 1;
    }
    if (decode_derived(dt, out, depth, combiner_of(combiner), n, &info)) {
        strcpy(out->reason, "could not read the contents");
        return 1;
    }
    return !out->canonical;
}

int mpiw_types_decode(MPI_Datatype dt, mpic_desc *out)
{
    return decode(dt, out, 0);
}

/* ---- the cache --------------------------------------------------------- */

/* A committed type is decoded when a call the interposer serves first asks for it, not
 * at commit: a program that builds a type per message, or types it never sends through
 * a path of ours, pays for a map entry only. */
typedef struct entry {
    int64_t refs;      /* handles to this type the program holds (get_contents adds some) */
    int decoded;       /* desc holds the decoding (and a reference to its table, if any) */
    MPI_Datatype dt;
    mpic_desc desc;
} entry;

static void entry_free(void *p)
{
    entry *e = p;

    if (e) {
        mpic_desc_release(&e->desc);
        free(e);
    }
}

static mpiw_map cache;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

#define LOCKED(...) MPIW_LOCKED(&lock, __VA_ARGS__)

/* Bumped by every commit and free: answers kept about a type handle (mpiw_choose.c) hold
 * only while it is unchanged, since a freed handle may come back as another type. Never
 * 0, which marks an answer not to keep. */
static unsigned generation = 1;

unsigned mpiw_types_generation(void)
{
    return __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
}

static void changed(void)
{
    if (__atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL) == 0)
        __atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
}

void mpiw_types_commit(MPI_Datatype dt)
{
    entry *fresh = calloc(1, sizeof *fresh);

    if (!fresh)
        return;
    fresh->refs = 1;
    fresh->dt = dt;
    mpiw_count(MPIW_STAT_types_committed, 1);
    LOCKED({
        entry *old = mpiw_map_get(&cache, MPIW_KEY(dt));
        if (old) {
            mpic_desc_release(&old->desc);  /* committed again: keep its references */
            old->decoded = 0;
            free(fresh);
        } else if (mpiw_map_put(&cache, MPIW_KEY(dt), fresh)) {
            entry_free(fresh);
        }
    });
    changed();
}

/* The entry's decoding, made on first use (the cache's lock held). */
static const mpic_desc *decoded(entry *e)
{
    mpic_desc *d = &e->desc;

    if (e->decoded)
        return d;
    decode(e->dt, d, 0);
    e->decoded = 1;
    if (d->table) {
        mpiw_count(MPIW_STAT_types_table, 1);
        mpiw_log(MPIW_LOG_DEBUG, "type: %s, size %lld, extent %lld", d->reason,
                 (long long) d->info.size, (long long) d->info.extent);
    } else if (d->canonical) {
        mpiw_count(MPIW_STAT_types_canonical, 1);
        mpiw_log(MPIW_LOG_DEBUG,
                 "type: canonical, start %lld, block %lld, %d levels, size %lld, extent %lld",
                 (long long) d->start, (long long) d->counts[0], d->ndims - 1,
                 (long long) d->info.size, (long long) d->info.extent);
    } else {
        mpiw_log(MPIW_LOG_DEBUG, "type: not canonical: %s", d->reason);
    }
    return d;
}

/* MPI_Type_get_contents may hand out the same handle with a reference added
 * (MPICH does): the program's MPI_Type_free of it then only drops that reference. */
void mpiw_types_retain(MPI_Datatype dt)
{
    LOCKED({
        entry *e = mpiw_map_get(&cache, MPIW_KEY(dt));
        if (e)
            e->refs++;
    });
}

void mpiw_types_free(MPI_Datatype dt)
{
    LOCKED({
        entry *e = mpiw_map_get(&cache, MPIW_KEY(dt));
        if (e && --e->refs <= 0)
            entry_free(mpiw_map_remove(&cache, MPIW_KEY(dt)));
    });
    changed();
}

/* The last answer of lookup on this thread (its block MPIW_TLS_TYPES), while no type was
 * committed or freed since (generation): a program packs or sends the same type again
 * and again. Strided forms only (a table would need a reference taken under the lock). */
typedef struct last_lookup {
    unsigned generation;          /* 0: empty */
    MPI_Datatype dt;
    int tables, hit;
    mpic_desc desc;
} last_lookup;

/* The cached decoding of dt, if it is canonical (or, tables, of either form): out, with
 * its table retained (retain) or borrowed. */
static int lookup(MPI_Datatype dt, mpic_desc *out, int tables, int retain)
{
    unsigned now = mpiw_types_generation();
    last_lookup *last = mpiw_tls_get(MPIW_TLS_TYPES, sizeof *last);
    int hit = 0;

    if (last && last->generation == now && last->dt == dt && last->tables == tables) {
        if (last->hit)
            *out = last->desc;
        return last->hit;
    }
    LOCKED({
        entry *e = mpiw_map_get(&cache, MPIW_KEY(dt));
        if (e && (tables ? mpic_packable(decoded(e)) : decoded(e)->canonical)) {
            *out = e->desc;
            if (retain)
                mpic_desc_retain(out);
            hit = 1;
        }
    });
    if (last && (!hit || !out->table)) {
        last->generation = now;
        last->dt = dt;
        last->tables = tables;
        last->hit = hit;
        if (hit)
            last->desc = *out;
    }
    return hit;
}

int mpiw_types_lookup(MPI_Datatype dt, mpic_desc *out)
{
    return lookup(dt, out, 0, 0);
}

int mpiw_types_lookup_any(MPI_Datatype dt, mpic_desc *out)
{
    return lookup(dt, out, 1, 0);
}

int mpiw_types_lookup_packable(MPI_Datatype dt, mpic_desc *out)
{
    return lookup(dt, out, 1, 1);
}

void mpiw_types_clear(void)
{
    LOCKED(mpiw_map_clear(&cache, entry_free));
    changed();
}
