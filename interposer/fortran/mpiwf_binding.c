/* What every Fortran entry point shares: the MPI's LOGICAL .TRUE., its sentinels,
 * and status and request conversion. Every sentinel is looked up by name when first
 * needed, so this library still loads where the MPI lacks one. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>
#include "mpiwf.h"

#if MPIWF_ENABLED

#define MPIWF_STATUS_SIZE (sizeof(MPI_Status) / sizeof(MPI_Fint))

#if MPIWF_F08_ENABLED
/* MPICH's TYPE(MPI_Status) is its C MPI_Status, field for field. */
_Static_assert(sizeof(MPI_F08_status) == sizeof(MPI_Status) &&
               offsetof(MPI_F08_status, MPI_SOURCE) == offsetof(MPI_Status, MPI_SOURCE) &&
               offsetof(MPI_F08_status, MPI_TAG) == offsetof(MPI_Status, MPI_TAG) &&
               offsetof(MPI_F08_status, MPI_ERROR) == offsetof(MPI_Status, MPI_ERROR),
               "MPI_F08_status is laid out as MPI_Status");
#endif

MPI_Fint mpiwf_true = 1;

/* Per binding: the addresses a program passes for MPI_STATUS_IGNORE and
 * MPI_STATUSES_IGNORE (the MPI's C pointer to it, and the object it names). */
static struct {
    int resolved;
    void *bottom;
    void *status_ignore[2][2], *statuses_ignore[2][2];
} sentinels;

/* The value of a pointer variable the MPI exports (MPI_F_STATUS_IGNORE), or NULL. */
static void *pointer_named(const char *name)
{
    void **p = dlsym(RTLD_DEFAULT, name);

    return p ? *p : NULL;
}

static void resolve(void)
{
    if (__atomic_load_n(&sentinels.resolved, __ATOMIC_ACQUIRE))
        return;
    sentinels.bottom = dlsym(RTLD_DEFAULT, "mpi_fortran_bottom_");
    sentinels.status_ignore[MPIWF_MPIF][0] = pointer_named("MPI_F_STATUS_IGNORE");
    sentinels.status_ignore[MPIWF_MPIF][1] = dlsym(RTLD_DEFAULT, "mpi_fortran_status_ignore_");
    sentinels.statuses_ignore[MPIWF_MPIF][0] = pointer_named("MPI_F_STATUSES_IGNORE");
    sentinels.statuses_ignore[MPIWF_MPIF][1] =
        dlsym(RTLD_DEFAULT, "mpi_fortran_statuses_ignore_");
    sentinels.status_ignore[MPIWF_F08][0] = pointer_named("MPI_F08_STATUS_IGNORE");
    sentinels.status_ignore[MPIWF_F08][1] =
        dlsym(RTLD_DEFAULT, "MPIR_F08_MPI_STATUS_IGNORE_OBJ");
    sentinels.statuses_ignore[MPIWF_F08][0] = pointer_named("MPI_F08_STATUSES_IGNORE");
    sentinels.statuses_ignore[MPIWF_F08][1] =
        dlsym(RTLD_DEFAULT, "MPIR_F08_MPI_STATUSES_IGNORE_OBJ");
    __atomic_store_n(&sentinels.resolved, 1, __ATOMIC_RELEASE);
}

static int is_one_of(void *const names[2], const void *p)
{
    return p && (p == names[0] || p == names[1]);
}

/* 1. Ask the MPI's own MPI_INITIALIZED binding what it writes for .TRUE. (1 for
 *    gfortran, -1 for some compilers' defaults), 2. find the sentinels. */
void mpiwf_init(void)
{
    void (*initialized)(MPI_Fint *, MPI_Fint *) =
        (void (*)(MPI_Fint *, MPI_Fint *)) dlsym(RTLD_DEFAULT, "pmpi_initialized_");
    MPI_Fint flag = 0, ierr = 0;

    if (initialized) {
        initialized(&flag, &ierr);
        if (ierr == MPI_SUCCESS && flag != 0)
            mpiwf_true = flag;
    }
    resolve();
}

void *mpiwf_next(const char *name)
{
    return dlsym(RTLD_NEXT, name);
}

void *mpiwf_buf(void *buf)
{
    resolve();
    return buf && buf == sentinels.bottom ? MPI_BOTTOM : buf;
}

MPI_Status *mpiwf_status_in(int binding, void *f_status, MPI_Status *c_status)
{
    resolve();
    return is_one_of(sentinels.status_ignore[binding], f_status) ? MPI_STATUS_IGNORE
                                                                  : c_status;
}

/* C status into slot `slot` of a Fortran status array of the binding. */
static void store(int binding, void *f_statuses, int slot, const MPI_Status *c_status)
{
    if (binding == MPIWF_F08)
        ((MPI_Status *) f_statuses)[slot] = *c_status;
    else
        PMPI_Status_c2f(c_status, (MPI_Fint *) f_statuses + (size_t) slot * MPIWF_STATUS_SIZE);
}

void mpiwf_status_out(int binding, void *f_status, const MPI_Status *c_status)
{
    resolve();
    if (!is_one_of(sentinels.status_ignore[binding], f_status))
        store(binding, f_status, 0, c_status);
}

int mpiwf_batch_in(mpiwf_batch *b, int binding, int n, const MPI_Fint *f_reqs,
                   void *f_statuses)
{
    int ignore;

    resolve();
    /* Statuses the program ignores are not allocated (MPI_STATUSES_IGNORE may be NULL). */
    ignore = !f_statuses || is_one_of(sentinels.statuses_ignore[binding], f_statuses);
    b->binding = binding;
    b->n = n;
    b->reqs = n > MPIWF_SMALL ? malloc((size_t) n * sizeof *b->reqs) : b->small_reqs;
    b->statuses = ignore ? MPI_STATUSES_IGNORE
                : n > MPIWF_SMALL ? malloc((size_t) n * sizeof *b->statuses) : b->small_statuses;
    if (!b->reqs || (!ignore && !b->statuses)) {
        mpiwf_batch_free(b);
        return MPI_ERR_NO_MEM;
    }
    for (int i = 0; i < n; i++)
        b->reqs[i] = PMPI_Request_f2c(f_reqs[i]);
    return MPI_SUCCESS;
}

void mpiwf_batch_requests_out(const mpiwf_batch *b, MPI_Fint *f_reqs)
{
    for (int i = 0; i < b->n; i++)
        f_reqs[i] = PMPI_Request_c2f(b->reqs[i]);
}

/* C status i into the Fortran array's slot i, unless the program ignores them. */
void mpiwf_batch_status_out(const mpiwf_batch *b, int i, void *f_statuses)
{
    if (b->statuses != MPI_STATUSES_IGNORE)
        store(b->binding, f_statuses, i, &b->statuses[i]);
}

void mpiwf_batch_free(mpiwf_batch *b)
{
    if (b->reqs != b->small_reqs)
        free(b->reqs);
    if (b->statuses != b->small_statuses && b->statuses != MPI_STATUSES_IGNORE)
        free(b->statuses);
    b->reqs = b->small_reqs;
    b->statuses = b->small_statuses;
}

#endif /* MPIWF_ENABLED */
