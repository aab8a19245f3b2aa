/* MPI_Type_get_contents and _c: the datatypes handed out may be new references to
 * types in the cache; count them so that freeing one does not forget the type. */
#include "mpiw.h"

/* Only the nd datatypes the MPI wrote: the rest of a larger array is the program's. */
static void retain_all(const MPI_Datatype *types, int64_t nd, int64_t max)
{
    for (int64_t i = 0; i < nd && i < max; i++)
        mpiw_types_retain(types[i]);
}

int MPI_Type_get_contents(MPI_Datatype datatype, int max_integers, int max_addresses,
                          int max_datatypes, int array_of_integers[],
                          MPI_Aint array_of_addresses[], MPI_Datatype array_of_datatypes[])
{
    int ni, na, nd, combiner;
    int err = PMPI_Type_get_contents(datatype, max_integers, max_addresses, max_datatypes,
                                     array_of_integers, array_of_addresses, array_of_datatypes);

    if (err == MPI_SUCCESS && mpiw_g.initialized &&
        PMPI_Type_get_envelope(datatype, &ni, &na, &nd, &combiner) == MPI_SUCCESS)
        retain_all(array_of_datatypes, nd, max_datatypes);
    return err;
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Type_get_contents_c(MPI_Datatype datatype, MPI_Count max_integers,
                            MPI_Count max_addresses, MPI_Count max_large_counts,
                            MPI_Count max_datatypes, int array_of_integers[],
                            MPI_Aint array_of_addresses[], MPI_Count array_of_large_counts[],
                            MPI_Datatype array_of_datatypes[])
{
    MPI_Count ni, na, nl, nd;
    int combiner;
    int err = PMPI_Type_get_contents_c(datatype, max_integers, max_addresses, max_large_counts,
                                       max_datatypes, array_of_integers, array_of_addresses,
                                       array_of_large_counts, array_of_datatypes);

    if (err == MPI_SUCCESS && mpiw_g.initialized &&
        PMPI_Type_get_envelope_c(datatype, &ni, &na, &nl, &nd, &combiner) == MPI_SUCCESS)
        retain_all(array_of_datatypes, nd, max_datatypes);
    return err;
}
#endif
