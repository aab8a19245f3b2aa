/*
 * Reading the model file: the few HDF5 calls it needs, through dlopen, so that a
 * program pays for libhdf5 only on the rank that reads a model, and only when there
 * is one. The library is the one h5py ships (`mpicomm build` compiles its path in as
 * MPIW_HDF5_LIB), else the system's.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mpiw.h"

typedef int64_t hid_t;
typedef int herr_t;
typedef unsigned long long hsize_t;

#define H5_DEFAULT 0        /* H5P_DEFAULT, H5S_ALL, H5E_DEFAULT */
#define H5_RDONLY 0u        /* H5F_ACC_RDONLY */

static struct {
    int tried;
    void *lib;
    herr_t (*open)(void);
    herr_t (*eset_auto)(hid_t, void *, void *);
    hid_t (*fopen)(const char *, unsigned, hid_t);
    herr_t (*fclose)(hid_t);
    hid_t (*dopen)(hid_t, const char *, hid_t);
    hid_t (*dget_space)(hid_t);
    int (*sget_dims)(hid_t, hsize_t *, hsize_t *);
    herr_t (*dread)(hid_t, hid_t, hid_t, hid_t, hid_t, void *);
    herr_t (*dclose)(hid_t);
    herr_t (*sclose)(hid_t);
    hid_t (*aopen)(hid_t, const char *, hid_t);
    hid_t (*aget_type)(hid_t);
    size_t (*tget_size)(hid_t);
    int (*tis_vlen)(hid_t);
    herr_t (*aread)(hid_t, hid_t, void *);
    herr_t (*aclose)(hid_t);
    herr_t (*tclose)(hid_t);
    hid_t *native_double;
} h5;

static const char *candidates[] = {
#ifdef MPIW_HDF5_LIB
    MPIW_HDF5_LIB,
#endif
    "libhdf5.so", "libhdf5_serial.so", "libhdf5.so.310", "libhdf5_serial.so.103",
};

#define H5_SYM(field, name) (*(void **) &h5.field = dlsym(h5.lib, name))

/* Load libhdf5 once; 0 when there is none that works. */
static int h5_load(void)
{
    if (h5.tried)
        return h5.lib != NULL;
    h5.tried = 1;
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates && !h5.lib; i++)
        h5.lib = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
    if (!h5.lib)
        return 0;
    if (!H5_SYM(open, "H5open") || !H5_SYM(eset_auto, "H5Eset_auto2") ||
        !H5_SYM(fopen, "H5Fopen") || !H5_SYM(fclose, "H5Fclose") ||
        !H5_SYM(dopen, "H5Dopen2") || !H5_SYM(dget_space, "H5Dget_space") ||
        !H5_SYM(sget_dims, "H5Sget_simple_extent_dims") || !H5_SYM(dread, "H5Dread") ||
        !H5_SYM(dclose, "H5Dclose") || !H5_SYM(sclose, "H5Sclose") ||
        !H5_SYM(aopen, "H5Aopen") || !H5_SYM(aget_type, "H5Aget_type") ||
        !H5_SYM(tget_size, "H5Tget_size") || !H5_SYM(tis_vlen, "H5Tis_variable_str") ||
        !H5_SYM(aread, "H5Aread") || !H5_SYM(aclose, "H5Aclose") ||
        !H5_SYM(tclose, "H5Tclose") || !H5_SYM(native_double, "H5T_NATIVE_DOUBLE_g") ||
        h5.open() < 0) {
        dlclose(h5.lib);
        h5.lib = NULL;
        return 0;
    }
    h5.eset_auto(H5_DEFAULT, NULL, NULL);    /* our messages, not HDF5's error stack */
    return 1;
}

int64_t mpiw_h5_open(const char *path, const char **why)
{
    hid_t f;

    if (!h5_load()) {
        *why = "no libhdf5 could be loaded (install h5py and rebuild: mpicomm build --force)";
        return -1;
    }
    f = h5.fopen(path, H5_RDONLY, H5_DEFAULT);
    if (f < 0)
        *why = "not a readable HDF5 file";
    return f;
}

void mpiw_h5_close(int64_t file)
{
    h5.fclose(file);
}

/* Does the file hold dataset `name`? */
int mpiw_h5_has(int64_t file, const char *name)
{
    hid_t ds = h5.dopen(file, name, H5_DEFAULT);

    if (ds < 0)
        return 0;
    h5.dclose(ds);
    return 1;
}

/* Read dataset `name` (1 to 3 dimensions) as doubles into out (room for max); its shape
 * into dims[3] (missing dimensions are 1). Returns the element count, or -1. */
int64_t mpiw_h5_read(int64_t file, const char *name, double *out, int64_t max, int64_t dims[3])
{
    hsize_t d[32] = { 0 };
    hid_t ds = h5.dopen(file, name, H5_DEFAULT), space;
    int64_t n = -1;
    int rank;

    if (ds < 0)
        return -1;
    space = h5.dget_space(ds);
    rank = space >= 0 ? h5.sget_dims(space, d, NULL) : -1;
    if (rank >= 1 && rank <= 3) {
        dims[0] = (int64_t) d[0];
        dims[1] = rank >= 2 ? (int64_t) d[1] : 1;
        dims[2] = rank == 3 ? (int64_t) d[2] : 1;
        n = dims[0] * dims[1] * dims[2];
        if (n > max || h5.dread(ds, *h5.native_double, H5_DEFAULT, H5_DEFAULT, H5_DEFAULT, out) < 0)
            n = -1;
    }
    if (space >= 0)
        h5.sclose(space);
    h5.dclose(ds);
    return n;
}

/* A fixed-length string attribute of the file, NUL-terminated; 0 when absent. */
int mpiw_h5_attr(int64_t file, const char *name, char *out, size_t size)
{
    hid_t a = h5.aopen(file, name, H5_DEFAULT), t;
    size_t len;
    char *tmp;
    int ok = 0;

    if (a < 0)
        return 0;
    t = h5.aget_type(a);
    len = t >= 0 && h5.tis_vlen(t) == 0 ? h5.tget_size(t) : 0;
    if (len > 0 && (tmp = calloc(1, len + 1))) {
        if (h5.aread(a, t, tmp) >= 0) {
            snprintf(out, size, "%s", tmp);
            ok = 1;
        }
        free(tmp);
    }
    if (t >= 0)
        h5.tclose(t);
    h5.aclose(a);
    return ok;
}
