/* MPI_Type_free: forget the type before the MPI can reuse its handle. */
#include "mpiw.h"

int MPI_Type_free(MPI_Datatype *datatype)
{
    if (datatype && mpiw_g.initialized)
        mpiw_types_free(*datatype);
    return PMPI_Type_free(datatype);
}
