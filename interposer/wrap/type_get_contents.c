/* MPI_Type_get_contents and _c: the datatypes handed out may be new references to
 * types in the cache; count them so that freeing one does not forget the type. */
#include "mpiw.h"

static void retain_all(const MPI_Datatype *types, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        mpiw_types_retain(types[i]);
}

int MPI_Type_get_contents(MPI_Datatype datatype, int max_integers, int max_addresses,
                          int max_datatypes, int array_of_integers[],
                          MPI_Aint array_of_addresses[], MPI_Datatype array_of_datatypes[])
{
    int err = PMPI_Type_get_contents(datatype, max_integers, max_addresses, max_datatypes,
                                     array_of_integers, array_of_addresses, array_of_datatypes);

    if (err == MPI_SUCCESS && mpiw_g.initialized)
        retain_all(array_of_datatypes, max_datatypes);
    return err;
}

#if MPIW_HAVE_LARGE_COUNT
int MPI_Type_get_contents_c(MPI_Datatype datatype, MPI_Count max_integers,
                            MPI_Count max_addresses, MPI_Count max_large_counts,
                            MPI_Count max_datatypes, int array_of_integers[],
                            MPI_Aint array_of_addresses[], MPI_Count array_of_large_counts[],
                            MPI_Datatype array_of_datatypes[])
{
    int err = PMPI_Type_get_contents_c(datatype, max_integers, max_addresses, max_large_counts,
                                       max_datatypes, array_of_integers, array_of_addresses,
                                       array_of_large_counts, array_of_datatypes);

    if (err == MPI_SUCCESS && mpiw_g.initialized)
        retain_all(array_of_datatypes, max_datatypes);
    return err;
}
#endif
