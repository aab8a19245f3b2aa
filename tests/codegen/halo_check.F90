! Checks a generated halo exchange (mpicomm codegen halo --lang fortran), as
! halo_check.c does for C, written independently of the generator: owned cells hold
! 1 + their global index; after two exchanges every ghost cell a neighbour serves
! holds its owner's value and every other one still holds 0.
!
!   mpif90 -DFTYPE='real(8)' halo.f90 halo_check.F90; mpiexec -n P ./a.out PERIODS N1..ND
!
! The field is one flat array, column-major (first index fastest). Rank 0 prints
! "halo_check OK <n> ghost cells filled" or "halo_check FAILED <n> cells wrong".
program halo_check
  use mpi_f08
  use halo
  implicit none
  integer, parameter :: D = halo_ndims, G = halo_ghost
  integer :: dims(D), coords(D), n(D), e(D), edge(D), idx(D), glob(D)
  integer :: nranks, rank, k, dk, moved, bad, checked, ierr
  integer(8) :: cells, at, rest
  logical :: periods(D), own, served, faces_only
  character(len=32) :: arg
  type(MPI_Comm) :: cart
  type(halo_plan) :: plan
  FTYPE, allocatable :: a(:)
  FTYPE :: want

  call MPI_Init()
  faces_only = halo_neighbors == 2 * D
  call get_command_argument(1, arg)
  do k = 1, D
    periods(k) = arg(k:k) == '1'
    call get_command_argument(1 + k, arg)
    read (arg, *) n(k)
    call get_command_argument(1, arg)
  end do
  e = n + 2 * G
  call MPI_Comm_size(MPI_COMM_WORLD, nranks)
  dims = 0
  call MPI_Dims_create(nranks, D, dims)
  call MPI_Cart_create(MPI_COMM_WORLD, D, dims, periods, .false., cart)
  call MPI_Comm_rank(cart, rank)
  call MPI_Cart_coords(cart, rank, D, coords)
  edge = dims * n
  cells = product(int(e, 8))
  allocate (a(cells))
  a = 0

  ! 1. Owned cells get 1 + their global index, ghosts 0.
  do at = 0, cells - 1
    rest = at
    own = .true.
    do k = 1, D
      idx(k) = int(mod(rest, int(e(k), 8)))
      rest = rest / e(k)
      own = own .and. idx(k) >= G .and. idx(k) < n(k) + G
      glob(k) = coords(k) * n(k) + idx(k) - G
    end do
    if (own) a(at + 1) = value(glob)
  end do

  ! 2. The generated exchange, twice (the second must change nothing).
  call halo_create(cart, n, plan, ierr)
  if (ierr == MPI_SUCCESS) call halo_exchange(plan, a, ierr)
  if (ierr == MPI_SUCCESS) call halo_exchange(plan, a, ierr)
  if (ierr == MPI_SUCCESS) call halo_free(plan, ierr)
  if (ierr /= MPI_SUCCESS) then
    print '(a, i0)', 'halo_check: the generated code returned ', ierr
    call MPI_Abort(cart, 3)
  end if

  ! 3. Every cell against what it must hold.
  bad = 0
  checked = 0
  do at = 0, cells - 1
    rest = at
    moved = 0
    served = .true.
    do k = 1, D
      idx(k) = int(mod(rest, int(e(k), 8)))
      rest = rest / e(k)
      dk = merge(-1, merge(1, 0, idx(k) >= n(k) + G), idx(k) < G)
      if (dk /= 0) moved = moved + 1
      if (.not. periods(k) .and. (coords(k) + dk < 0 .or. coords(k) + dk >= dims(k))) &
        served = .false.
      glob(k) = modulo(coords(k) * n(k) + idx(k) - G, edge(k))
    end do
    if (faces_only .and. moved > 1) served = .false.
    want = 0
    if (served) want = value(glob)
    if (a(at + 1) /= want) bad = bad + 1
    if (moved > 0 .and. served) checked = checked + 1
  end do
  call MPI_Allreduce(MPI_IN_PLACE, bad, 1, MPI_INTEGER, MPI_SUM, cart)
  call MPI_Allreduce(MPI_IN_PLACE, checked, 1, MPI_INTEGER, MPI_SUM, cart)
  if (rank == 0) then
    if (bad > 0) then
      print '(a, i0, a)', 'halo_check FAILED ', bad, ' cells wrong'
    else
      print '(a, i0, a)', 'halo_check OK ', checked, ' ghost cells filled'
    end if
  end if
  call MPI_Comm_free(cart)
  call MPI_Finalize()
  if (bad > 0) error stop 1

contains

  ! 1 + the global index, the first dimension most significant (as halo_check.c).
  FTYPE function value(g)
    integer, intent(in) :: g(D)
    integer(8) :: v
    integer :: j
    v = 0
    do j = 1, D
      v = v * edge(j) + g(j)
    end do
    value = v + 1
  end function

end program
