/* MPI_TYPE_COMMIT, MPI_TYPE_FREE, MPI_TYPE_GET_CONTENTS from Fortran: the type cache
 * learns, forgets and counts references as it does for C programs. */
#include <stdlib.h>
#include "mpiwf.h"

#if MPIWF_ENABLED

static void type_commit(MPI_Fint *type, MPI_Fint *ierr)
{
    MPI_Datatype c_type = PMPI_Type_f2c(*type);
    int err = MPI_Type_commit(&c_type);

    if (err == MPI_SUCCESS)
        *type = PMPI_Type_c2f(c_type);
    mpiwf_ierr(ierr, err);
}

static void type_free(MPI_Fint *type, MPI_Fint *ierr)
{
    MPI_Datatype c_type = PMPI_Type_f2c(*type);
    int err = MPI_Type_free(&c_type);

    if (err == MPI_SUCCESS)
        *type = PMPI_Type_c2f(c_type);
    mpiwf_ierr(ierr, err);
}

static void type_get_contents(MPI_Fint *type, MPI_Fint *max_integers, MPI_Fint *max_addresses,
                              MPI_Fint *max_datatypes, MPI_Fint *integers, MPI_Aint *addresses,
                              MPI_Fint *datatypes, MPI_Fint *ierr)
{
    MPI_Datatype c_type = PMPI_Type_f2c(*type);
    int n = *max_datatypes > 0 ? (int) *max_datatypes : 0;
    int ni, na, nd = 0, combiner;
    MPI_Datatype *c_types = malloc((size_t) (n ? n : 1) * sizeof *c_types);
    int err = MPI_ERR_NO_MEM;

    /* Only the datatypes the MPI wrote go back: the rest of the array is the program's. */
    if (c_types) {
        err = MPI_Type_get_contents(c_type, (int) *max_integers, (int) *max_addresses, n,
                                    integers, addresses, c_types);
        if (err == MPI_SUCCESS)
            err = PMPI_Type_get_envelope(c_type, &ni, &na, &nd, &combiner);
        for (int i = 0; err == MPI_SUCCESS && i < nd && i < n; i++)
            datatypes[i] = PMPI_Type_c2f(c_types[i]);
        free(c_types);
    }
    mpiwf_ierr(ierr, err);
}

/* The entry points of each binding. */
#define MPIWF_TYPES(suffix)                                                               \
    void mpi_type_commit_##suffix(MPI_Fint *type, MPI_Fint *ierr)                         \
    {                                                                                     \
        MPIWF_PASS(mpi_type_commit_##suffix, type, ierr);                                 \
        type_commit(type, ierr);                                                          \
    }                                                                                     \
    void mpi_type_free_##suffix(MPI_Fint *type, MPI_Fint *ierr)                           \
    {                                                                                     \
        MPIWF_PASS(mpi_type_free_##suffix, type, ierr);                                   \
        type_free(type, ierr);                                                            \
    }                                                                                     \
    void mpi_type_get_contents_##suffix(MPI_Fint *type, MPI_Fint *max_integers,           \
                                        MPI_Fint *max_addresses, MPI_Fint *max_datatypes, \
                                        MPI_Fint *integers, MPI_Aint *addresses,          \
                                        MPI_Fint *datatypes, MPI_Fint *ierr)              \
    {                                                                                     \
        MPIWF_PASS(mpi_type_get_contents_##suffix, type, max_integers, max_addresses,     \
                   max_datatypes, integers, addresses, datatypes, ierr);                  \
        type_get_contents(type, max_integers, max_addresses, max_datatypes, integers,     \
                          addresses, datatypes, ierr);                                    \
    }

#if MPIWF_MPIF_ENABLED
MPIWF_TYPES()
MPIWF_ALIAS(mpi_type_commit_, ompi_type_commit_f)
MPIWF_ALIAS(mpi_type_free_, ompi_type_free_f)
MPIWF_ALIAS(mpi_type_get_contents_, ompi_type_get_contents_f)
#endif
#if MPIWF_F08_ENABLED
MPIWF_TYPES(f08_)
#endif

#endif
