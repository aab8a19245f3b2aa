! Persistent requests from a Fortran program: faces of a 3-D array sent around a ring
! with MPI_SEND_INIT, MPI_SSEND_INIT and MPI_RECV_INIT, started several rounds (the
! array changes between rounds) with MPI_STARTALL and MPI_START, completed with
! MPI_WAITALL, MPI_WAIT and MPI_TEST, then freed. Each rank prints one line,
! "RESULT <rank> <errors>". Built with -DF08 it uses the mpi_f08 module, else the mpi
! module.
#include "binding.h"
program persistent
  USE_MPI
  implicit none
  integer, parameter :: n = 40, k = 3, rounds = 4
  real(8) :: a(n, n, n), b(n, n, n, k)
  integer :: ierr, rank, nranks, left, right, errors, t, r, sizes(3), subs(3), starts(3)
  HANDLE(MPI_Datatype) :: face
  HANDLE(MPI_Request) :: recvs(k), sends(k)
  STATUS_T :: st
  STATUSES_T(k)
  logical :: flag

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks, ierr)
  right = mod(rank + 1, nranks)
  left = mod(rank - 1 + nranks, nranks)
  errors = 0
  sizes = n
  subs = [1, n, n]
  starts = 0
  call MPI_Type_create_subarray(3, sizes, subs, starts, MPI_ORDER_FORTRAN, &
       MPI_DOUBLE_PRECISION, face, ierr)
  call MPI_Type_commit(face, ierr)

  ! Face t of round r goes with tag t; the last send is synchronous.
  do t = 1, k
     call MPI_Recv_init(b(1, 1, 1, t), 1, face, left, t, MPI_COMM_WORLD, recvs(t), ierr)
  end do
  do t = 1, k - 1
     call MPI_Send_init(a, 1, face, right, t, MPI_COMM_WORLD, sends(t), ierr)
  end do
  call MPI_Ssend_init(a, 1, face, right, k, MPI_COMM_WORLD, sends(k), ierr)

  ! An inactive request completes at once with an empty status.
  call MPI_Wait(recvs(1), st, ierr)
  if (SOURCE_OF(st) /= MPI_ANY_SOURCE .or. TAG_OF(st) /= MPI_ANY_TAG) errors = errors + 1

  do r = 1, rounds
     call fill(a, rank)
     a = a + r
     b = -1
     call MPI_Startall(k, recvs, ierr)
     do t = 1, k
        call MPI_Start(sends(t), ierr)
     end do
     if (mod(r, 2) == 1) then
        call MPI_Waitall(k, recvs, sts, ierr)
        do t = 1, k
           if (SOURCE_AT(t) /= left .or. TAG_AT(t) /= t) errors = errors + 1
        end do
        call MPI_Waitall(k, sends, MPI_STATUSES_IGNORE, ierr)
     else
        do t = 1, k
           flag = .false.
           do while (.not. flag)
              call MPI_Test(recvs(t), flag, st, ierr)
           end do
           call MPI_Wait(sends(t), MPI_STATUS_IGNORE, ierr)
        end do
     end if
     do t = 1, k
        errors = errors + bad_face(b(:, :, :, t), left, r)
     end do
     ! The sends are done with a: changing it now changes nothing already sent.
     a = -2
     call MPI_Barrier(MPI_COMM_WORLD, ierr)
  end do

  do t = 1, k
     call MPI_Request_free(recvs(t), ierr)
     call MPI_Request_free(sends(t), ierr)
  end do
  print '(A, I0, 1X, I0)', 'RESULT ', rank, errors
  call MPI_Type_free(face, ierr)
  call MPI_Finalize(ierr)

contains

#include "fill.inc"

  ! got must hold rank from's x face of round r, and -1 everywhere else.
  integer function bad_face(got, from, r)
    real(8), intent(in) :: got(n, n, n)
    integer, intent(in) :: from, r
    real(8) :: theirs(n, n, n)
    call fill(theirs, from)
    theirs = theirs + r
    bad_face = count(got(1, :, :) /= theirs(1, :, :)) + count(got(2:, :, :) /= -1)
  end function bad_face
end program persistent
