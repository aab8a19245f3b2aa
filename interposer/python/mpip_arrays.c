/*
 * Many numpy arrays in one pass (mpip.h). Python's headers come with the cffi module;
 * numpy's are not needed: the head of its array object is public and has not changed
 * since NumPy 1.7 (PyArray_DATA and PyArray_FLAGS read these very fields in every
 * compiled extension, NumPy 2 included).
 */
#include <Python.h>
#include <string.h>

#include "mpip.h"

typedef struct {
    PyObject_HEAD
    char *data;
    int nd;
    Py_ssize_t *dimensions;
    Py_ssize_t *strides;
    PyObject *base;
    PyObject *descr;
    int flags;
} mpip_array_head;

#define MPIP_C_CONTIGUOUS 0x0001      /* NPY_ARRAY_C_CONTIGUOUS */
#define MPIP_WRITEABLE 0x0400         /* NPY_ARRAY_WRITEABLE */

int64_t mpip_addresses(const intptr_t *objs, int64_t n, intptr_t *addr)
{
    const int want = MPIP_C_CONTIGUOUS | MPIP_WRITEABLE;
    int64_t odd = 0;

    for (int64_t i = 0; i < n; i++) {
        const mpip_array_head *a = (const mpip_array_head *) objs[i];
        int ok = (a->flags & want) == want;
        addr[i] = ok ? (intptr_t) a->data : 0;
        odd += !ok;
    }
    return odd;
}

void mpip_gather(int64_t n, const int64_t *member, const intptr_t *addr,
                 const int64_t *offset, const int64_t *bytes, char *buf)
{
    for (int64_t i = 0; i < n; i++) {
        intptr_t src = addr[member[i]];
        if (src)
            memcpy(buf + offset[i], (const void *) src, (size_t) bytes[i]);
    }
}

void mpip_scatter(int64_t n, const int64_t *member, const intptr_t *addr,
                  const int64_t *offset, const int64_t *bytes, const char *buf)
{
    for (int64_t i = 0; i < n; i++) {
        intptr_t dst = addr[member[i]];
        if (dst)
            memcpy((void *) dst, buf + offset[i], (size_t) bytes[i]);
    }
}
