! A Fortran MPI program that knows nothing of mpicomm: derived datatypes for the faces
! of a 3-D array (subarray and vector types), MPI_Pack/MPI_Unpack of them, and a
! ring exchange of faces with MPI_Sendrecv, MPI_Sendrecv_replace, MPI_Send/MPI_Recv,
! MPI_Isend/MPI_Irecv + MPI_Waitall, and MPI_Sendrecv from and to MPI_BOTTOM. Every
! rank checks what it received against the values its neighbour holds and prints one line: "RESULT <rank> <errors> <checksum>".
! Built with -DF08 it uses the mpi_f08 module, else the mpi module.
#include "binding.h"
program halo_types
  USE_MPI
  implicit none
  integer, parameter :: n = 40, ntypes = 4
  integer, parameter :: face_of(ntypes) = [1, 2, 3, 1]
  real(8) :: a(n, n, n), b(n, n, n)
  character, allocatable :: packed(:)
  integer :: ierr, rank, nranks, left, right, errors, position, bytes, i, f
  integer :: sizes(3), subs(3), starts(3)
  HANDLE(MPI_Datatype) :: types(ntypes), absolute(2)
  integer(kind=MPI_ADDRESS_KIND) :: where(2)
  HANDLE(MPI_Request) :: reqs(4)
  STATUS_T :: status
  real(8) :: checksum
  logical :: mask(n, n, n)

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks, ierr)
  right = mod(rank + 1, nranks)
  left = mod(rank - 1 + nranks, nranks)
  errors = 0

  ! 1. The faces: x = a(1,:,:) (8-byte blocks), y = a(:,1,:) (n*8-byte blocks) and
  !    z = a(:,:,1) (contiguous) as subarrays, and x again as a vector type.
  sizes = n
  starts = 0
  do f = 1, 3
     subs = n
     subs(f) = 1
     call MPI_Type_create_subarray(3, sizes, subs, starts, MPI_ORDER_FORTRAN, &
          MPI_DOUBLE_PRECISION, types(f), ierr)
  end do
  call MPI_Type_vector(n * n, 1, n, MPI_DOUBLE_PRECISION, types(4), ierr)
  do i = 1, ntypes
     call MPI_Type_commit(types(i), ierr)
  end do

  ! 2. Pack every face and unpack it into a cleared array: the face must come back.
  call fill(a, rank)
  call MPI_Pack_size(1, types(1), MPI_COMM_WORLD, bytes, ierr)
  if (bytes < n * n * 8) errors = errors + 1
  allocate(packed(bytes))
  do i = 1, ntypes
     position = 0
     call MPI_Pack(a, 1, types(i), packed, size(packed), position, MPI_COMM_WORLD, ierr)
     if (position /= n * n * 8) errors = errors + 1
     b = -1
     position = 0
     call MPI_Unpack(packed, size(packed), position, b, 1, types(i), MPI_COMM_WORLD, ierr)
     errors = errors + count_bad(b, a, face_of(i), face_of(i))
  end do

  ! 3. Ring exchange: my faces go right; I receive my left neighbour's.
  do i = 1, ntypes
     b = -1
     call MPI_Sendrecv(a, 1, types(i), right, i, b, 1, types(i), left, i, &
          MPI_COMM_WORLD, status, ierr)
     errors = errors + count_bad_from(b, left, face_of(i), face_of(i))
  end do
  do i = 1, ntypes                    ! my face goes out of b, my neighbour's comes in
     b = -1
     mask = .false.
     call mark(mask, face_of(i))
     where (mask) b = a
     call MPI_Sendrecv_replace(b, 1, types(i), right, 40 + i, left, 40 + i, &
          MPI_COMM_WORLD, status, ierr)
     errors = errors + count_bad_from(b, left, face_of(i), face_of(i))
  end do
  do i = 1, ntypes
     b = -1
     if (mod(rank, 2) == 0) then
        call MPI_Send(a, 1, types(i), right, 10 + i, MPI_COMM_WORLD, ierr)
        call MPI_Recv(b, 1, types(i), left, 10 + i, MPI_COMM_WORLD, status, ierr)
     else
        call MPI_Recv(b, 1, types(i), left, 10 + i, MPI_COMM_WORLD, status, ierr)
        call MPI_Send(a, 1, types(i), right, 10 + i, MPI_COMM_WORLD, ierr)
     end if
     errors = errors + count_bad_from(b, left, face_of(i), face_of(i))
  end do
  b = -1
  call MPI_Irecv(b, 1, types(4), left, 21, MPI_COMM_WORLD, reqs(1), ierr)
  call MPI_Irecv(b, 1, types(2), left, 22, MPI_COMM_WORLD, reqs(2), ierr)
  call MPI_Isend(a, 1, types(4), right, 21, MPI_COMM_WORLD, reqs(3), ierr)
  call MPI_Isend(a, 1, types(2), right, 22, MPI_COMM_WORLD, reqs(4), ierr)
  call MPI_Waitall(4, reqs, MPI_STATUSES_IGNORE, ierr)
  errors = errors + count_bad_from(b, left, 1, 2)

  ! 4. MPI_BOTTOM with types that hold the arrays' absolute addresses.
  call MPI_Get_address(a, where(1), ierr)
  call MPI_Get_address(b, where(2), ierr)
  call MPI_Type_create_hindexed(1, [1], where(1:1), types(1), absolute(1), ierr)
  call MPI_Type_create_hindexed(1, [1], where(2:2), types(1), absolute(2), ierr)
  call MPI_Type_commit(absolute(1), ierr)
  call MPI_Type_commit(absolute(2), ierr)
  b = -1
  call MPI_Sendrecv(MPI_BOTTOM, 1, absolute(1), right, 30, MPI_BOTTOM, 1, absolute(2), left, &
       30, MPI_COMM_WORLD, status, ierr)
  errors = errors + count_bad_from(b, left, 1, 1)
  call MPI_Type_free(absolute(1), ierr)
  call MPI_Type_free(absolute(2), ierr)

  ! 5. One line per rank, then free the types.
  checksum = sum(b(1, :, :)) + sum(b(:, 1, :))
  print '(A, I0, 1X, I0, 1X, ES24.16)', 'RESULT ', rank, errors, checksum
  do i = 1, ntypes
     call MPI_Type_free(types(i), ierr)
  end do
  call MPI_Finalize(ierr)

contains

#include "fill.inc"

  ! Elements of faces f1 and f2 (1 = x, 2 = y, 3 = z) of got that differ from want's,
  ! plus elements outside them that are no longer -1.
  integer function count_bad(got, want, f1, f2)
    real(8), intent(in) :: got(n, n, n), want(n, n, n)
    integer, intent(in) :: f1, f2
    logical :: face(n, n, n)
    face = .false.
    call mark(face, f1)
    call mark(face, f2)
    count_bad = count(face .and. got /= want) + count(.not. face .and. got /= -1)
  end function count_bad

  subroutine mark(face, f)
    logical, intent(inout) :: face(n, n, n)
    integer, intent(in) :: f
    select case (f)
    case (1)
       face(1, :, :) = .true.
    case (2)
       face(:, 1, :) = .true.
    case (3)
       face(:, :, 1) = .true.
    end select
  end subroutine mark

  integer function count_bad_from(got, from, f1, f2)
    real(8), intent(in) :: got(n, n, n)
    integer, intent(in) :: from, f1, f2
    real(8) :: theirs(n, n, n)
    call fill(theirs, from)
    count_bad_from = count_bad(got, theirs, f1, f2)
  end function count_bad_from
end program halo_types
