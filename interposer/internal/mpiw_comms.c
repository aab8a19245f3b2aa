/*
 * Communicators whose program asserted, with MPI-4's info assertions, what the
 * pipelined method needs: mpi_assert_exact_length, mpi_assert_no_any_source and
 * mpi_assert_no_any_tag all "true" (MPI 4.1, 7.4.4), set by MPI_Comm_set_info or
 * given to MPI_Comm_dup_with_info. On those, MPICOMM_METHOD=auto may pipeline a
 * message where the model says so; the mark is a cached attribute that a duplicate
 * does not inherit (every rank duplicates alike, so all lose it together). Programs
 * that mark nothing pay one load per call (marked == 0).
 */
#include <string.h>
#include "mpiw.h"

static int keyval = MPI_KEYVAL_INVALID;
static int64_t marked;                   /* communicators with the mark now */
static const char *keys[] = { "mpi_assert_exact_length", "mpi_assert_no_any_source",
                              "mpi_assert_no_any_tag" };

static int unmarked(MPI_Comm comm, int key, void *value, void *extra)
{
    __atomic_fetch_sub(&marked, 1, __ATOMIC_RELAXED);
    return MPI_SUCCESS;
}

void mpiw_comms_init(void)
{
    PMPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, unmarked, &keyval, NULL);
}

void mpiw_comms_finalize(void)
{
    if (keyval != MPI_KEYVAL_INVALID)
        PMPI_Comm_free_keyval(&keyval);
}

static int asserted(MPI_Info info)
{
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char value[16] = "";
        int len = (int) sizeof value, flag = 0;
        if (info == MPI_INFO_NULL ||
            PMPI_Info_get_string(info, keys[i], &len, value, &flag) != MPI_SUCCESS || !flag ||
            strcmp(value, "true"))
            return 0;
    }
    return 1;
}

/* The program gave comm these hints: mark it, or take the mark away. */
void mpiw_comms_hints(MPI_Comm comm, MPI_Info info)
{
    if (keyval == MPI_KEYVAL_INVALID || comm == MPI_COMM_NULL)
        return;
    if (mpiw_comms_pipelined(comm))
        PMPI_Comm_delete_attr(comm, keyval);
    if (asserted(info) && PMPI_Comm_set_attr(comm, keyval, (void *) 1) == MPI_SUCCESS)
        __atomic_fetch_add(&marked, 1, __ATOMIC_RELAXED);
}

int mpiw_comms_pipelined(MPI_Comm comm)
{
    void *v = NULL;
    int flag = 0;

    if (!__atomic_load_n(&marked, __ATOMIC_RELAXED) || keyval == MPI_KEYVAL_INVALID ||
        comm == MPI_COMM_NULL)
        return 0;
    PMPI_Comm_get_attr(comm, keyval, &v, &flag);
    return flag;
}
