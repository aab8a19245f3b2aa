"""Emit halo-exchange code for a user's program: C (a header), Python (mpi4py) or Fortran
(a module on mpi_f08).

For a D-dimensional array (D = 1..3) of one element type with G ghost cells on every
side, owned cells at [G, n+G) along each dimension, the generated code builds one
send and one receive subarray type per neighbour on a Cartesian communicator (the 2D
face neighbours, or all 3^D - 1) and exchanges them with Isend/Irecv/Waitall. The
neighbour list, the tags and the regions are worked out here, once, and written as
tables; past a non-periodic edge the neighbour is MPI_PROC_NULL and those ghost cells
are left as they are.

    mpicomm codegen halo --dims 3 --ghost 1 --neighbors faces --dtype float64 --lang c
"""
import itertools

from . import gencode

NEIGHBORS = ("faces", "all")
EXCHANGES = ("isend", "alltoallw")


def directions(dims, neighbors):
    """The neighbours' directions, in a fixed order: -1, 0 or +1 per dimension."""
    out = [d for d in itertools.product((-1, 0, 1), repeat=dims) if any(d)]
    if neighbors == "faces":
        out = [d for d in out if sum(map(abs, d)) == 1]
    return out


def _check(dims, ghost, neighbors, dtype, lang, prefix, exchange):
    if not isinstance(dims, int) or not 1 <= dims <= 3:
        raise gencode.CodegenError(f"--dims {dims!r} must be 1, 2 or 3")
    if not isinstance(ghost, int) or ghost < 1:
        raise gencode.CodegenError(f"--ghost {ghost!r} must be a positive number of cells")
    if neighbors not in NEIGHBORS:
        raise gencode.CodegenError(f"--neighbors {neighbors!r} is not one of "
                                   f"{', '.join(NEIGHBORS)}")
    gencode.check_dtype(dtype)
    gencode.check_lang(lang)
    gencode.check_prefix(prefix)
    if exchange not in EXCHANGES:
        raise gencode.CodegenError(f"--exchange {exchange!r} is not one of "
                                   f"{', '.join(EXCHANGES)}")
    if exchange == "alltoallw" and neighbors != "faces":
        raise gencode.CodegenError("--exchange alltoallw needs --neighbors faces (a Cartesian "
                                   "communicator's neighbourhood is its faces)")
    if exchange == "alltoallw" and lang == "fortran":
        raise gencode.CodegenError("--exchange alltoallw is for C and Python (MPICH 4.0's "
                                   "mpi_f08 MPI_Neighbor_alltoallw fails on Cartesian "
                                   "communicators); use --exchange isend")


def emit(dims, ghost, neighbors="faces", dtype="float64", lang="c", prefix="halo",
         command=None, exchange="isend"):
    """The source text of the halo exchange: Isend/Irecv per neighbour (isend), or one
    MPI_Neighbor_alltoallw on the Cartesian communicator (alltoallw, faces only)."""
    _check(dims, ghost, neighbors, dtype, lang, prefix, exchange)
    dirs = directions(dims, neighbors)
    back = [dirs.index(tuple(-v for v in d)) for d in dirs]
    # MPI's order of a Cartesian communicator's neighbours: per dimension, -1 then +1.
    cart = [dirs.index(tuple(s if j == k else 0 for j in range(dims)))
            for k in range(dims) for s in (-1, 1)] if exchange == "alltoallw" else None
    command = command or (f"mpicomm codegen halo --dims {dims} --ghost {ghost} --neighbors "
                          f"{neighbors} --dtype {dtype} --lang {lang} --prefix {prefix}"
                          + (f" --exchange {exchange}" if exchange != "isend" else ""))
    what = (f"{dims}-D array of {dtype} with {ghost} ghost cell{'s' * (ghost > 1)} per side, "
            f"{len(dirs)} neighbours ({'faces' if neighbors == 'faces' else 'faces, edges and corners'})")
    args = dict(D=dims, G=ghost, N=len(dirs), dirs=dirs, back=back, cart=cart, what=what,
                banner=gencode.banner(command, lang), p=prefix, P=prefix.upper(),
                dtype=dtype, types=gencode.DTYPES[dtype])
    return {"c": _c, "python": _python, "fortran": _fortran}[lang](**args)


def _c(D, G, N, dirs, back, cart, what, banner, p, P, dtype, types):
    ctype, mpitype = types[0], types[1]
    exchange = _c_isend(p, P) if cart is None else _c_alltoallw(p, P, cart)
    return f"""/*
 * {p}: halo exchange of a {what}.
{banner}
 *
 *     {p}_plan plan;
 *     {p}_create(cart, n, &plan);   cart: a Cartesian communicator of {D} dimension(s);
 *                                  n[k]: owned cells along dimension k (at least {G})
 *     {p}_exchange(&plan, field);   field: (n[0]+{2 * G}) x ... {ctype}s, row-major (C
 *                                  order), owned cells at [{G}, n[k]+{G}); fills the ghosts
 *     {p}_free(&plan);
 *
 * Each function returns an MPI error code (MPI_SUCCESS); a communicator that is not
 * Cartesian of {D} dimension(s) gives MPI_ERR_TOPOLOGY, n[k] < {G} gives MPI_ERR_ARG.
 * Ghost cells past a non-periodic edge of the grid are left as they are.
 */
#ifndef {P}_H
#define {P}_H
#include <mpi.h>
#include <stdint.h>

#define {P}_NDIMS {D}
#define {P}_GHOST {G}
#define {P}_NEIGHBORS {N}
typedef {ctype} {p}_t;

/* Neighbour q lies at coords + {p}_dirs[q]; what it sends us travels in direction
 * {p}_back[q] and carries that number as its tag. */
static const int {p}_dirs[{P}_NEIGHBORS][{P}_NDIMS] = {gencode.c_array(dirs)};
static const int {p}_back[{P}_NEIGHBORS] = {{ {", ".join(map(str, back))} }};

typedef struct {{
    MPI_Comm comm;
    int peer[{P}_NEIGHBORS];
    MPI_Datatype send[{P}_NEIGHBORS], recv[{P}_NEIGHBORS];
}} {p}_plan;

#define {P}_TRY(call) do {{ int {p}_err_ = (call); if ({p}_err_ != MPI_SUCCESS) return {p}_err_; }} while (0)

static inline int {p}_create(MPI_Comm cart, const int n[{P}_NDIMS], {p}_plan *plan)
{{
    int topo, ndims, dims[{P}_NDIMS], periods[{P}_NDIMS], coords[{P}_NDIMS];
    int shape[{P}_NDIMS], sub[{P}_NDIMS], start[{P}_NDIMS], there[{P}_NDIMS];

    /* 1. A Cartesian communicator of {P}_NDIMS dimensions, and room for the ghosts. */
    {P}_TRY(MPI_Topo_test(cart, &topo));
    if (topo != MPI_CART)
        return MPI_ERR_TOPOLOGY;
    {P}_TRY(MPI_Cartdim_get(cart, &ndims));
    if (ndims != {P}_NDIMS)
        return MPI_ERR_TOPOLOGY;
    {P}_TRY(MPI_Cart_get(cart, {P}_NDIMS, dims, periods, coords));
    for (int k = 0; k < {P}_NDIMS; k++) {{
        if (n[k] < {P}_GHOST)
            return MPI_ERR_ARG;
        shape[k] = n[k] + 2 * {P}_GHOST;
    }}
    plan->comm = cart;
    /* 2. Per neighbour: its rank, the owned cells it needs and the ghosts it fills. */
    for (int q = 0; q < {P}_NEIGHBORS; q++) {{
        int inside = 1;
        for (int k = 0; k < {P}_NDIMS; k++) {{
            int d = {p}_dirs[q][k];
            there[k] = coords[k] + d;
            if (!periods[k] && (there[k] < 0 || there[k] >= dims[k]))
                inside = 0;
            sub[k] = d ? {P}_GHOST : n[k];
            start[k] = d > 0 ? n[k] : {P}_GHOST;
        }}
        if (inside)
            {P}_TRY(MPI_Cart_rank(cart, there, &plan->peer[q]));
        else
            plan->peer[q] = MPI_PROC_NULL;
        {P}_TRY(MPI_Type_create_subarray({P}_NDIMS, shape, sub, start, MPI_ORDER_C, {mpitype},
                                         &plan->send[q]));
        {P}_TRY(MPI_Type_commit(&plan->send[q]));
        for (int k = 0; k < {P}_NDIMS; k++)
            start[k] = {p}_dirs[q][k] < 0 ? 0 : {p}_dirs[q][k] > 0 ? n[k] + {P}_GHOST : {P}_GHOST;
        {P}_TRY(MPI_Type_create_subarray({P}_NDIMS, shape, sub, start, MPI_ORDER_C, {mpitype},
                                         &plan->recv[q]));
        {P}_TRY(MPI_Type_commit(&plan->recv[q]));
    }}
    return MPI_SUCCESS;
}}

{exchange}
static inline int {p}_free({p}_plan *plan)
{{
    for (int q = 0; q < {P}_NEIGHBORS; q++) {{
        {P}_TRY(MPI_Type_free(&plan->send[q]));
        {P}_TRY(MPI_Type_free(&plan->recv[q]));
    }}
    return MPI_SUCCESS;
}}

#undef {P}_TRY
#endif
"""


def _c_isend(p, P):
    return f"""static inline int {p}_exchange({p}_plan *plan, {p}_t *field)
{{
    MPI_Request req[2 * {P}_NEIGHBORS];

    for (int q = 0; q < {P}_NEIGHBORS; q++)
        {P}_TRY(MPI_Irecv(field, 1, plan->recv[q], plan->peer[q], {p}_back[q], plan->comm,
                          &req[q]));
    for (int q = 0; q < {P}_NEIGHBORS; q++)
        {P}_TRY(MPI_Isend(field, 1, plan->send[q], plan->peer[q], q, plan->comm,
                          &req[{P}_NEIGHBORS + q]));
    return MPI_Waitall(2 * {P}_NEIGHBORS, req, MPI_STATUSES_IGNORE);
}}
"""


def _c_alltoallw(p, P, cart):
    return f"""/* MPI's order of the Cartesian neighbours (per dimension, -1 then +1), as indices
 * into {p}_dirs. */
static const int {p}_cart[{P}_NEIGHBORS] = {{ {", ".join(map(str, cart))} }};

static inline int {p}_exchange({p}_plan *plan, {p}_t *field)
{{
    int counts[{P}_NEIGHBORS];
    MPI_Aint sdispls[{P}_NEIGHBORS], rdispls[{P}_NEIGHBORS];
    MPI_Datatype sendtypes[{P}_NEIGHBORS], recvtypes[{P}_NEIGHBORS];

    /* The send side is given one element on, with displacements one element back: the
     * same cells, not the same pointer as the receive side (MPIs refuse aliased buffers
     * in collectives; the cells sent and received do not overlap). */
    for (int i = 0; i < {P}_NEIGHBORS; i++) {{
        counts[i] = 1;
        sdispls[i] = -(MPI_Aint) sizeof({p}_t);
        rdispls[i] = 0;
        sendtypes[i] = plan->send[{p}_cart[i]];
        recvtypes[i] = plan->recv[{p}_cart[i]];
    }}
    return MPI_Neighbor_alltoallw(field + 1, counts, sdispls, sendtypes, field, counts, rdispls,
                                  recvtypes, plan->comm);
}}
"""


def _python(D, G, N, dirs, back, cart, what, banner, p, P, dtype, types):
    cls = "".join(w.capitalize() for w in p.split("_")) or "Halo"
    return f'''"""{p}: halo exchange of a {what}.
{banner}

    from {p} import {cls}
    h = {cls}(cart, n)      # cart: a Cartesian communicator of {D} dimension(s);
                            # n: owned cells per dimension (each at least {G})
    h.exchange(field)       # field: numpy {dtype}, shape n + {2 * G} per dimension, C order,
                            # owned cells at [{G}, n+{G}); fills the ghost cells
    h.free()                # or: with {cls}(cart, n) as h: ...

Ghost cells past a non-periodic edge of the grid are left as they are.
"""
import numpy as np
from mpi4py import MPI

NDIMS = {D}
GHOST = {G}
DTYPE = np.dtype("{dtype}")
# Neighbour q lies at coords + DIRECTIONS[q]; what it sends us travels in direction
# BACK[q] and carries that number as its tag.
DIRECTIONS = {tuple(dirs)!r}
BACK = {tuple(back)!r}


class {cls}:
    """One send and one receive subarray type per neighbour, built once."""

    def __init__(self, cart, n):
        # 1. A Cartesian communicator of NDIMS dimensions, and room for the ghosts.
        if cart.Get_topology() != MPI.CART or cart.Get_dim() != NDIMS:
            raise ValueError(f"{cls} needs a Cartesian communicator of {{NDIMS}} dimension(s)")
        n = tuple(int(v) for v in n)
        if len(n) != NDIMS or min(n) < GHOST:
            raise ValueError(f"n must be {{NDIMS}} sizes of at least {{GHOST}} cells, got {{n}}")
        dims, periods, coords = cart.Get_topo()
        self.comm, self.n = cart, n
        self.shape = tuple(v + 2 * GHOST for v in n)
        self.peers, self.send, self.recv = [], [], []
        # 2. Per neighbour: its rank, the owned cells it needs and the ghosts it fills.
        for d in DIRECTIONS:
            there = [c + v for c, v in zip(coords, d)]
            inside = all(p or 0 <= t < m for t, m, p in zip(there, dims, periods))
            self.peers.append(cart.Get_cart_rank(there) if inside else MPI.PROC_NULL)
            sub = [GHOST if v else m for v, m in zip(d, n)]
            send = [m if v > 0 else GHOST for v, m in zip(d, n)]
            recv = [0 if v < 0 else m + GHOST if v > 0 else GHOST for v, m in zip(d, n)]
            self.send.append({types[2]}.Create_subarray(self.shape, sub, send).Commit())
            self.recv.append({types[2]}.Create_subarray(self.shape, sub, recv).Commit())

    def exchange(self, field):
        """Fill field's ghost cells from the neighbours' owned cells."""
        if not isinstance(field, np.ndarray) or field.dtype != DTYPE or \\
                field.shape != self.shape or not field.flags.c_contiguous or \\
                not field.flags.writeable:
            raise ValueError(f"field must be a writeable C-contiguous numpy array of "
                             f"{{DTYPE}} and shape {{self.shape}}")
{_python_exchange(cart)}
    def free(self):
        for t in self.send + self.recv:
            t.Free()
        self.send, self.recv = [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.free()
'''


def _python_exchange(cart):
    if cart is None:
        return """        reqs = [self.comm.Irecv([field, 1, t], peer, tag)
                for t, peer, tag in zip(self.recv, self.peers, BACK)]
        reqs += [self.comm.Isend([field, 1, t], peer, q)
                 for q, (t, peer) in enumerate(zip(self.send, self.peers))]
        MPI.Request.Waitall(reqs)
"""
    return f"""        # One MPI_Neighbor_alltoallw; MPI's neighbour order is per dimension -1 then +1
        # ({tuple(cart)!r} into DIRECTIONS). The send side starts one element on, with
        # displacements one element back: the same cells, not the same buffer as the
        # receive side (MPIs refuse aliased buffers in collectives).
        order, k = {tuple(cart)!r}, len(self.send)
        self.comm.Neighbor_alltoallw(
            [field.reshape(-1)[1:], ([1] * k, [-DTYPE.itemsize] * k),
             [self.send[q] for q in order]],
            [field, ([1] * k, [0] * k), [self.recv[q] for q in order]])
"""


def _fortran(D, G, N, dirs, back, cart, what, banner, p, P, dtype, types):
    ftype = gencode.FORTRAN[dtype]
    flat = gencode.fortran_list([v for d in dirs for v in d], indent=14)
    backs = gencode.fortran_list(back, indent=6)
    field_dims = ", ".join(f"1-{G}:n({k + 1})+{G}" for k in range(D))
    return f"""! {p}: halo exchange of a {what}.
{banner}
!
!     use {p}
!     type({p}_plan) :: plan
!     call {p}_create(cart, n, plan, ierror)   ! cart: a Cartesian communicator of {D}
!                                              ! dimension(s); n({D}): owned cells (>= {G})
!     call {p}_exchange(plan, field, ierror)   ! field({field_dims}), {ftype};
!                                              ! fills the ghost cells
!     call {p}_free(plan, ierror)
!
! ierror: MPI_SUCCESS, an MPI error code, MPI_ERR_TOPOLOGY for a communicator that is
! not Cartesian of {D} dimension(s), or MPI_ERR_ARG for n(k) < {G}. Ghost cells past a
! non-periodic edge of the grid are left as they are. Needs the mpi_f08 module.
module {p}
  use mpi_f08
  implicit none
  private
  public :: {p}_plan, {p}_create, {p}_exchange, {p}_free
  integer, parameter, public :: {p}_ndims = {D}, {p}_ghost = {G}, {p}_neighbors = {N}
  ! Neighbour q lies at coords + {p}_dirs(:, q); what it sends us travels in direction
  ! {p}_back(q) and carries that number (0-based) as its tag.
  integer, parameter, public :: {p}_dirs({p}_ndims, {p}_neighbors) = &
      reshape({flat}, [{p}_ndims, {p}_neighbors])
  integer, parameter, public :: {p}_back({p}_neighbors) = &
      {backs}

  type :: {p}_plan
    type(MPI_Comm) :: comm
    integer :: peer({p}_neighbors)
    type(MPI_Datatype) :: send({p}_neighbors), recv({p}_neighbors)
  end type

contains

  subroutine {p}_create(cart, n, plan, ierror)
    type(MPI_Comm), intent(in) :: cart
    integer, intent(in) :: n({p}_ndims)
    type({p}_plan), intent(out) :: plan
    integer, intent(out) :: ierror
    integer :: topo, ndims, q, k, d
    integer :: dims({p}_ndims), coords({p}_ndims), shape({p}_ndims), sub({p}_ndims)
    integer :: start({p}_ndims), there({p}_ndims)
    logical :: periods({p}_ndims), inside

    ! 1. A Cartesian communicator of {p}_ndims dimensions, and room for the ghosts.
    call MPI_Topo_test(cart, topo, ierror)
    if (ierror /= MPI_SUCCESS) return
    ierror = MPI_ERR_TOPOLOGY
    if (topo /= MPI_CART) return
    call MPI_Cartdim_get(cart, ndims, ierror)
    if (ierror /= MPI_SUCCESS) return
    ierror = MPI_ERR_TOPOLOGY
    if (ndims /= {p}_ndims) return
    call MPI_Cart_get(cart, {p}_ndims, dims, periods, coords, ierror)
    if (ierror /= MPI_SUCCESS) return
    ierror = MPI_ERR_ARG
    if (any(n < {p}_ghost)) return
    shape = n + 2 * {p}_ghost
    plan%comm = cart
    ! 2. Per neighbour: its rank, the owned cells it needs and the ghosts it fills
    !    (subarray starts count from 0, the array's first ghost cell).
    do q = 1, {p}_neighbors
      inside = .true.
      do k = 1, {p}_ndims
        d = {p}_dirs(k, q)
        there(k) = coords(k) + d
        if (.not. periods(k) .and. (there(k) < 0 .or. there(k) >= dims(k))) inside = .false.
        sub(k) = merge({p}_ghost, n(k), d /= 0)
        start(k) = merge(n(k), {p}_ghost, d > 0)
      end do
      if (inside) then
        call MPI_Cart_rank(cart, there, plan%peer(q), ierror)
        if (ierror /= MPI_SUCCESS) return
      else
        plan%peer(q) = MPI_PROC_NULL
      end if
      call MPI_Type_create_subarray({p}_ndims, shape, sub, start, MPI_ORDER_FORTRAN, &
                                    {types[4]}, plan%send(q), ierror)
      if (ierror /= MPI_SUCCESS) return
      call MPI_Type_commit(plan%send(q), ierror)
      if (ierror /= MPI_SUCCESS) return
      do k = 1, {p}_ndims
        d = {p}_dirs(k, q)
        start(k) = merge(0, merge(n(k) + {p}_ghost, {p}_ghost, d > 0), d < 0)
      end do
      call MPI_Type_create_subarray({p}_ndims, shape, sub, start, MPI_ORDER_FORTRAN, &
                                    {types[4]}, plan%recv(q), ierror)
      if (ierror /= MPI_SUCCESS) return
      call MPI_Type_commit(plan%recv(q), ierror)
      if (ierror /= MPI_SUCCESS) return
    end do
  end subroutine

  subroutine {p}_exchange(plan, field, ierror)
    type({p}_plan), intent(in) :: plan
    {ftype}, intent(inout), asynchronous :: field(*)
    integer, intent(out) :: ierror
    type(MPI_Request) :: req(2 * {p}_neighbors)
    integer :: q

    do q = 1, {p}_neighbors
      call MPI_Irecv(field, 1, plan%recv(q), plan%peer(q), {p}_back(q), plan%comm, req(q), &
                     ierror)
      if (ierror /= MPI_SUCCESS) return
    end do
    do q = 1, {p}_neighbors
      call MPI_Isend(field, 1, plan%send(q), plan%peer(q), q - 1, plan%comm, &
                     req({p}_neighbors + q), ierror)
      if (ierror /= MPI_SUCCESS) return
    end do
    call MPI_Waitall(2 * {p}_neighbors, req, MPI_STATUSES_IGNORE, ierror)
  end subroutine

  subroutine {p}_free(plan, ierror)
    type({p}_plan), intent(inout) :: plan
    integer, intent(out) :: ierror
    integer :: q

    do q = 1, {p}_neighbors
      call MPI_Type_free(plan%send(q), ierror)
      if (ierror /= MPI_SUCCESS) return
      call MPI_Type_free(plan%recv(q), ierror)
      if (ierror /= MPI_SUCCESS) return
    end do
  end subroutine

end module {p}
"""

