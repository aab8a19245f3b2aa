/*
 * mpic: the MPI-free core of the mpicomm interposer.
 *
 * A datatype is described by the canonical strided block:
 *
 *     start                       byte offset of the first block from the buffer
 *     counts[0]                   contiguous bytes per block
 *     counts[1..ndims-1]          repetitions, innermost first
 *     strides[1..ndims-1]         byte distance between repetitions
 *
 * Byte k of block (i1, ..., id) lies at start + i1*strides[1] + ... + id*strides[d] + k,
 * and blocks are visited with i1 fastest: that is the typemap order, and so the
 * packed order. Sizes, bounds and extents are the MPI's own, never recomputed.
 *
 * What this form cannot express (irregular displacements, blocks of unequal lengths,
 * structs of differently laid-out members, nested) gets the table form instead: the
 * list of its pieces in typemap order, each a contiguous run or a strided block at an
 * offset (mpic_table.c). Such a description has canonical = 0 and table set.
 *
 * Nothing here includes mpi.h: the wrappers (mpiw_) decode an MPI datatype into
 * mpic_contents, and so does the Python package through cffi.
 */
#ifndef MPIC_H
#define MPIC_H

#include <stdint.h>

#define MPIC_MAX_DIMS 8          /* counts[0] plus up to 7 strided levels */
#define MPIC_REASON_LEN 96

/* Combiners, independent of any MPI's numbering. */
enum {
    MPIC_COMBINER_NAMED = 0,
    MPIC_COMBINER_DUP,
    MPIC_COMBINER_CONTIGUOUS,
    MPIC_COMBINER_VECTOR,
    MPIC_COMBINER_HVECTOR,
    MPIC_COMBINER_INDEXED,
    MPIC_COMBINER_HINDEXED,
    MPIC_COMBINER_INDEXED_BLOCK,
    MPIC_COMBINER_HINDEXED_BLOCK,
    MPIC_COMBINER_STRUCT,
    MPIC_COMBINER_SUBARRAY,
    MPIC_COMBINER_DARRAY,
    MPIC_COMBINER_RESIZED,
    MPIC_COMBINER_OTHER
};

/* Error codes of the core: one pattern everywhere, 0 is success. */
enum {
    MPIC_OK = 0,
    MPIC_ERR_NOT_CANONICAL = 1,  /* the reason is in the description */
    MPIC_ERR_ARG = 2
};

/* What the MPI reports about a datatype (MPI_Type_size, get_extent, get_true_extent). */
typedef struct mpic_typeinfo {
    int64_t size;
    int64_t lb;
    int64_t extent;
    int64_t true_lb;
    int64_t true_extent;
} mpic_typeinfo;

/* The arguments a datatype was built with (MPI_Type_get_contents), widened to 64 bits.
 * large = 1 when the MPI reported large counts (MPI-4 "_c" layout). */
typedef struct mpic_contents {
    int combiner;
    int large;
    int64_t order_c;             /* this MPI's value of MPI_ORDER_C */
    int64_t nints, naddrs, ncounts, ntypes;
    const int64_t *ints;
    const int64_t *addrs;
    const int64_t *counts;
} mpic_contents;

typedef struct mpic_table mpic_table;

typedef struct mpic_desc {
    int canonical;                     /* 1: the fields below describe the type */
    int ndims;                         /* entries used in counts/strides, >= 1 */
    int64_t start;
    int64_t counts[MPIC_MAX_DIMS];
    int64_t strides[MPIC_MAX_DIMS];    /* strides[0] is unused and 0 */
    mpic_typeinfo info;
    char reason[MPIC_REASON_LEN];      /* why not canonical, when canonical == 0 */
    const mpic_table *table;           /* the table form (canonical == 0), or NULL */
    int64_t leaf_bytes;                /* the contiguous bytes of each of those blocks as
                                        * built (0: none, or of several lengths): an MPI
                                        * moves the type in such runs, even adjacent ones */
    int64_t leaf_count;                /* the type as built: the count of its repetition
                                        * nearest the predefined types (0: none) */
    int levels;                        /* the type as built: how many constructors deep an
                                        * MPI stores it (see mpic_desc.c: levels) */
} mpic_desc;

/* Descriptions share their table: a copy kept beyond the call that got it is retained,
 * and released when done (release clears d->table). */
void mpic_desc_retain(const mpic_desc *d);
void mpic_desc_release(mpic_desc *d);

/* Can the core pack it: canonical, or the table form? */
int mpic_packable(const mpic_desc *d);

/* The contiguous bytes of its blocks: counts[0], or a table's mean (0: neither form). */
int64_t mpic_block_bytes(const mpic_desc *d);

/* The distance from one block to the next: the innermost stride (or the span per block
 * where rows interleave, as a transpose's columns do, and share cache lines), the extent
 * for a single block (elements repeat at it), or a table's span per block (0: neither
 * form). */
int64_t mpic_block_stride(const mpic_desc *d);

/* The table form's pieces (0 for a description without one) and its strided shapes;
 * piece i: offset from the element's start, bytes, shape (-1: one contiguous run). */
int64_t mpic_table_pieces(const mpic_desc *d, int64_t *nshapes);
int mpic_table_piece(const mpic_desc *d, int64_t i, int64_t *offset, int64_t *len,
                     int64_t *shape);
const mpic_desc *mpic_table_shape(const mpic_desc *d, int64_t s);

/* A description of the table form from its pieces (offset, bytes, shape: 3 per piece)
 * and strided shapes, checked against info as a decoded one is. */
int mpic_table_make(mpic_desc *out, const int64_t *pieces, int64_t npieces,
                    const mpic_desc *shapes, int64_t nshapes, const mpic_typeinfo *info);

/* Describe a predefined type. */
int mpic_desc_named(mpic_desc *out, const mpic_typeinfo *info);

/* Describe a derived type from its contents and its children's descriptions. */
int mpic_desc_build(mpic_desc *out, const mpic_contents *c, const mpic_desc *children,
                    const mpic_typeinfo *info);

/* Pack or unpack count elements; the packed side is contiguous. Returns bytes moved,
 * or -MPIC_ERR_* when the description is neither canonical nor a table, or count is
 * negative. */
int64_t mpic_pack(const mpic_desc *d, int64_t count, const void *inbuf, void *packed);
int64_t mpic_unpack(const mpic_desc *d, int64_t count, const void *packed, void *outbuf);

/* Unpack the first nbytes of packed data (a receive may deliver fewer bytes than
 * posted, even a partial element). Returns nbytes, or -MPIC_ERR_* as above. */
int64_t mpic_unpack_bytes(const mpic_desc *d, int64_t nbytes, const void *packed, void *outbuf);

/* Pack or unpack bytes [first, first + nbytes) of the packed stream of count elements
 * (packed points at byte `first`'s place). Returns nbytes, or -MPIC_ERR_* when the
 * description is neither form or the range falls outside the stream. */
int64_t mpic_pack_range(const mpic_desc *d, int64_t count, const void *inbuf, int64_t first,
                        int64_t nbytes, void *packed);
int64_t mpic_unpack_range(const mpic_desc *d, int64_t count, const void *packed,
                          int64_t first, int64_t nbytes, void *outbuf);

/* 1 when count elements are one contiguous run of bytes (nothing to pack). */
int mpic_contiguous(const mpic_desc *d, int64_t count);

/* 1 when count elements are a transpose: columns sharing cache lines, taken one after
 * another (packed by tiles of columns, each line read once). */
int mpic_transposes(const mpic_desc *d, int64_t count);

/* Name of the kernel mpic_pack would use into packed (for logs, tests and benchmarks). */
const char *mpic_kernel_name(const mpic_desc *d, int64_t count, const void *packed);

/* Number of generated kernels linked in. */
int mpic_kernel_count(void);

/* A size in bytes as the MPICOMM_* settings write it: digits, then optionally k, m or g
 * (KiB, MiB, GiB). 1 and *bytes set when text is one, 0 otherwise. */
int mpic_parse_size(const char *text, long long *bytes);

#endif
