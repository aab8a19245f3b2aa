"""Emit the MPI datatype of an array section for a user's program: C, Python (mpi4py) or
Fortran (mpi_f08).

The section is written as numpy would index the array (`:, 0:2, ::4`, `5`, `-3:`),
for an array of a given shape in C (row-major) or Fortran (column-major) order. A
section with unit steps becomes one MPI_Type_create_subarray; one with steps becomes
a vector in the fastest dimension, an hvector per slower one, placed at the section's
first element and resized to the whole array (the extent a subarray has), so both
forms are used the same way: (array, 1, type).

    mpicomm codegen datatype --shape 64,64,64 --section ":,:,0:2" --dtype float64 --lang c
"""
import math

from . import gencode

ORDERS = ("C", "F")


def parse_section(text, shape):
    """[(start, count, step)] per dimension, with numpy's rules for negative and omitted
    bounds; an integer index i is i:i+1."""
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    if len(parts) != len(shape):
        raise gencode.CodegenError(f"--section {text!r} has {len(parts)} index(es) for a "
                                   f"{len(shape)}-D array of shape {shape}")
    out = []
    for k, (part, size) in enumerate(zip(parts, shape)):
        try:
            bounds = [int(v) if v.strip() else None for v in part.split(":")]
        except ValueError:
            bounds = []
        if not 1 <= len(bounds) <= 3 or (len(bounds) == 1 and bounds[0] is None):
            raise gencode.CodegenError(f"--section: {part!r} (dimension {k}) is not an "
                                       "index or a start:stop:step slice")
        if len(bounds) == 1:
            i = bounds[0]
            if not -size <= i < size:
                raise gencode.CodegenError(f"--section: index {i} is out of range for "
                                           f"dimension {k} of size {size}")
            sl = slice(i % size, i % size + 1)
        else:
            sl = slice(*bounds)
        if sl.step is not None and sl.step <= 0:
            raise gencode.CodegenError(f"--section: step {sl.step} in {part!r} (dimension "
                                       f"{k}): only positive steps make an MPI datatype")
        start, stop, step = sl.indices(size)
        count = len(range(start, stop, step))
        if count == 0:
            raise gencode.CodegenError(f"--section: {part!r} selects nothing in dimension "
                                       f"{k} of size {size}")
        out.append((start, count, step))
    return out


def parse_shape(text):
    try:
        shape = tuple(int(v) for v in str(text).split(","))
    except ValueError:
        raise gencode.CodegenError(f"--shape {text!r} is not sizes separated by commas "
                                   "(e.g. 64,64,64)") from None
    if not 1 <= len(shape) <= 16 or min(shape) < 1:
        raise gencode.CodegenError(f"--shape {text!r}: 1 to 16 sizes, each at least 1")
    return shape


def plan(shape, section, order, elem):
    """The constructors, fastest dimension first: [("contiguous"|"vector", count, step)]
    then [("hvector", count, stride_bytes)], and the first element's byte offset."""
    dims = list(range(len(shape)))
    fast_first = dims[::-1] if order == "C" else dims
    stride, steps, offset = elem, [], 0
    for k in fast_first:
        start, count, step = section[k]
        steps.append((k, count, step, stride))
        offset += start * stride
        stride *= shape[k]
    return steps, offset, stride


def emit(shape, section, dtype="float64", order="C", lang="c", name="section", command=None):
    """The source text that builds and commits the section's datatype."""
    shape = parse_shape(shape) if isinstance(shape, str) else tuple(shape)
    if order not in ORDERS:
        raise gencode.CodegenError(f"--order {order!r} is not C or F")
    ctype, mpitype, pytype, elem, fmpitype = gencode.check_dtype(dtype)
    gencode.check_lang(lang)
    gencode.check_prefix(name)
    parsed = parse_section(section, shape)
    command = command or (f"mpicomm codegen datatype --shape {','.join(map(str, shape))} "
                          f"--section \"{section}\" --dtype {dtype} --order {order} "
                          f"--lang {lang} --name {name}")
    n = math.prod(c for _, c, _ in parsed)
    what = (f"the section [{section}] of a {' x '.join(map(str, shape))} array of {dtype} "
            f"({'row' if order == 'C' else 'column'}-major), {n} element{'s' * (n > 1)}")
    args = dict(shape=shape, parsed=parsed, order=order, elem=elem, what=what,
                banner=gencode.banner(command, lang), name=name)
    if lang == "c":
        return _c(mpitype=mpitype, **args)
    if lang == "fortran":
        return _fortran(fmpitype=fmpitype, **args)
    return _python(pytype=pytype, **args)


def _c(shape, parsed, order, elem, what, banner, name, mpitype):
    head = f"""/*
 * {name}: {what}.
{banner}
 *
 *     MPI_Datatype t;
 *     {name}_create(&t);             committed; use as (array, 1, t), then MPI_Type_free(&t)
 *
 * Returns an MPI error code (MPI_SUCCESS).
 */
#ifndef {name.upper()}_H
#define {name.upper()}_H
#include <mpi.h>

#define {name.upper()}_TRY(call) do {{ int {name}_err_ = (call); if ({name}_err_ != MPI_SUCCESS) return {name}_err_; }} while (0)

static inline int {name}_create(MPI_Datatype *type)
{{
"""
    T = f"{name.upper()}_TRY"
    mpi_order = "MPI_ORDER_C" if order == "C" else "MPI_ORDER_FORTRAN"
    if all(step == 1 for _, _, step in parsed):
        nd = len(shape)
        body = f"""    const int shape[{nd}] = {{ {", ".join(map(str, shape))} }};
    const int sub[{nd}] = {{ {", ".join(str(c) for _, c, _ in parsed)} }};
    const int start[{nd}] = {{ {", ".join(str(s) for s, _, _ in parsed)} }};

    {T}(MPI_Type_create_subarray({nd}, shape, sub, start, {mpi_order}, {mpitype}, type));
    return MPI_Type_commit(type);
}}
"""
    else:
        steps, offset, total = plan(shape, parsed, order, elem)
        lines = ["    MPI_Datatype inner, outer;", f"    MPI_Aint offset = {offset};", ""]
        (k, count, step, _), rest = steps[0], steps[1:]
        if step == 1:
            lines.append(f"    /* dimension {k}: {count} consecutive elements */")
            lines.append(f"    {T}(MPI_Type_contiguous({count}, {mpitype}, &inner));")
        else:
            lines.append(f"    /* dimension {k}: {count} elements, every {step}th */")
            lines.append(f"    {T}(MPI_Type_vector({count}, 1, {step}, {mpitype}, &inner));")
        for k, count, step, stride in rest:
            lines.append(f"    /* dimension {k}: {count} of those, {step * stride} bytes apart */")
            lines.append(f"    {T}(MPI_Type_create_hvector({count}, 1, {step * stride}, inner, "
                         "&outer));")
            lines.append(f"    {T}(MPI_Type_free(&inner));")
            lines.append("    inner = outer;")
        lines.append(f"    /* at the first element, {offset} bytes in; extent: the whole "
                     f"array ({total} bytes) */")
        lines.append(f"    {T}(MPI_Type_create_hindexed_block(1, 1, &offset, inner, &outer));")
        lines.append(f"    {T}(MPI_Type_free(&inner));")
        lines.append(f"    {T}(MPI_Type_create_resized(outer, 0, {total}, type));")
        lines.append(f"    {T}(MPI_Type_free(&outer));")
        lines.append("    return MPI_Type_commit(type);")
        body = "\n".join(lines) + "\n}\n"
    return head + body + f"\n#undef {T}\n#endif\n"


def _python(shape, parsed, order, elem, what, banner, name, pytype):
    head = f'''"""{name}: {what}.
{banner}

    from {name} import {name}_create
    t = {name}_create()      # committed; use as [array, 1, t], then t.Free()
"""
from mpi4py import MPI


def {name}_create():
'''
    if all(step == 1 for _, _, step in parsed):
        body = (f"    return {pytype}.Create_subarray({list(shape)!r}, "
                f"{[c for _, c, _ in parsed]!r}, {[s for s, _, _ in parsed]!r}, "
                f"order=MPI.ORDER_{order}).Commit()\n")
        return head + body
    steps, offset, total = plan(shape, parsed, order, elem)
    (k, count, step, _), rest = steps[0], steps[1:]
    lines = [f"    # dimension {k}: {count} elements, every {step}th" if step != 1 else
             f"    # dimension {k}: {count} consecutive elements",
             f"    inner = {pytype}.Create_vector({count}, 1, {step})" if step != 1 else
             f"    inner = {pytype}.Create_contiguous({count})"]
    for k, count, step, stride in rest:
        lines += [f"    # dimension {k}: {count} of those, {step * stride} bytes apart",
                  f"    outer = inner.Create_hvector({count}, 1, {step * stride})",
                  "    inner.Free()",
                  "    inner = outer"]
    lines += [f"    # at the first element, {offset} bytes in; extent: the whole array "
              f"({total} bytes)",
              f"    outer = inner.Create_hindexed_block(1, [{offset}])",
              "    inner.Free()",
              f"    t = outer.Create_resized(0, {total})",
              "    outer.Free()",
              "    return t.Commit()"]
    return head + "\n".join(lines) + "\n"


def _fortran(shape, parsed, order, elem, what, banner, name, fmpitype):
    head = f"""! {name}: {what}.
{banner}
!
!     use {name}_type
!     type(MPI_Datatype) :: t
!     call {name}_create(t, ierror)   ! committed; use as (array, 1, t), then MPI_Type_free(t)
!
! ierror: MPI_SUCCESS or an MPI error code. Needs the mpi_f08 module.
module {name}_type
  use mpi_f08
  implicit none
  private
  public :: {name}_create

contains

  subroutine {name}_create(newtype, ierror)
    type(MPI_Datatype), intent(out) :: newtype
    integer, intent(out) :: ierror
"""
    mpi_order = "MPI_ORDER_C" if order == "C" else "MPI_ORDER_FORTRAN"
    if all(step == 1 for _, _, step in parsed):
        nd = len(shape)
        lists = {key: gencode.fortran_list(vals, indent=8) for key, vals in (
            ("shape", shape), ("sub", [c for _, c, _ in parsed]),
            ("start", [s for s, _, _ in parsed]))}
        body = f"""    integer, parameter :: shape({nd}) = &
        {lists["shape"]}
    integer, parameter :: sub({nd}) = &
        {lists["sub"]}
    integer, parameter :: start({nd}) = &
        {lists["start"]}

    call MPI_Type_create_subarray({nd}, shape, sub, start, {mpi_order}, {fmpitype}, newtype, ierror)
    if (ierror /= MPI_SUCCESS) return
    call MPI_Type_commit(newtype, ierror)
  end subroutine
"""
    else:
        steps, offset, total = plan(shape, parsed, order, elem)
        (k, count, step, _), rest = steps[0], steps[1:]
        lines = ["    type(MPI_Datatype) :: inner, outer",
                 f"    integer(kind=MPI_ADDRESS_KIND), parameter :: offset(1) = [{offset}_MPI_ADDRESS_KIND]",
                 "", f"    ! dimension {k}: {count} elements, every {step}th" if step != 1 else
                 f"    ! dimension {k}: {count} consecutive elements"]
        lines.append(f"    call MPI_Type_vector({count}, 1, {step}, {fmpitype}, inner, ierror)"
                     if step != 1 else
                     f"    call MPI_Type_contiguous({count}, {fmpitype}, inner, ierror)")
        lines.append("    if (ierror /= MPI_SUCCESS) return")
        for k, count, step, stride in rest:
            lines += [f"    ! dimension {k}: {count} of those, {step * stride} bytes apart",
                      f"    call MPI_Type_create_hvector({count}, 1, {step * stride}_MPI_ADDRESS_KIND, "
                      "inner, outer, ierror)",
                      "    if (ierror /= MPI_SUCCESS) return",
                      "    call MPI_Type_free(inner, ierror)",
                      "    if (ierror /= MPI_SUCCESS) return",
                      "    inner = outer"]
        lines += [f"    ! at the first element, {offset} bytes in; extent: the whole array "
                  f"({total} bytes)",
                  "    call MPI_Type_create_hindexed_block(1, 1, offset, inner, outer, ierror)",
                  "    if (ierror /= MPI_SUCCESS) return",
                  "    call MPI_Type_free(inner, ierror)",
                  "    if (ierror /= MPI_SUCCESS) return",
                  f"    call MPI_Type_create_resized(outer, 0_MPI_ADDRESS_KIND, "
                  f"{total}_MPI_ADDRESS_KIND, newtype, ierror)",
                  "    if (ierror /= MPI_SUCCESS) return",
                  "    call MPI_Type_free(outer, ierror)",
                  "    if (ierror /= MPI_SUCCESS) return",
                  "    call MPI_Type_commit(newtype, ierror)",
                  "  end subroutine"]
        body = "\n".join(lines) + "\n"
    return head + body + f"\nend module {name}_type\n"

