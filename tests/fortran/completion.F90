! Every completion call, probes, cancel, MPI_TYPE_GET_CONTENTS and
! MPI_NEIGHBOR_ALLTOALLW from a Fortran program, over faces of a 3-D array sent with
! derived types around a ring. Each rank prints one line, "RESULT <rank>", the errors
! found in each of the seven parts, and what MPI_WAITANY returns over requests that are
! all null (the binding decides: MPICH 4.0's mpi module returns MPI_UNDEFINED + 1).
! Built with -DF08 it uses the mpi_f08 module, else the mpi module.
#include "binding.h"
program completion
  USE_MPI
  implicit none
  integer, parameter :: n = 40, k = 4, many = 40
  real(8) :: a(n, n, n), b(n, n, n, k)
  integer :: ierr, rank, nranks, left, right, errors, i, j, idx, last, outcount, bytes
  integer :: part_errors(7)
  integer :: indices(2 * k), sizes(3), subs(3), starts(3)
  integer :: ni, na, nd, combiner, ints(16), sendcounts(2), recvcounts(2)
  integer(kind=MPI_ADDRESS_KIND) :: addrs(4), sdispls(2), rdispls(2)
  HANDLE(MPI_Datatype) :: face, line, types(4), sendtypes(2), recvtypes(2)
  HANDLE(MPI_Request) :: reqs(2 * k), one
  HANDLE(MPI_Comm) :: ring
  STATUS_T :: st
  STATUSES_T(2 * many)
  HANDLE(MPI_Request) :: lots(2 * many)
  real(8) :: c(n * n, many)
  logical :: flag, done

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks, ierr)
  right = mod(rank + 1, nranks)
  left = mod(rank - 1 + nranks, nranks)
  errors = 0
  call fill(a, rank)
  sizes = n
  subs = [1, n, n]
  starts = 0
  call MPI_Type_create_subarray(3, sizes, subs, starts, MPI_ORDER_FORTRAN, &
       MPI_DOUBLE_PRECISION, face, ierr)
  call MPI_Type_commit(face, ierr)

  ! 1. Waitany: k faces each way, finished one at a time; indices are 1-based.
  call post()
  do j = 1, 2 * k
     call MPI_Waitany(2 * k, reqs, idx, st, ierr)
     if (idx < 1 .or. idx > 2 * k) errors = errors + 1
  end do
  call MPI_Waitany(2 * k, reqs, idx, st, ierr)
  last = idx
  call check()

  part_errors(1) = errors
  errors = 0
  ! 2. Waitsome until every request is done.
  call post()
  j = 0
  do while (j < 2 * k)
     call MPI_Waitsome(2 * k, reqs, outcount, indices, sts, ierr)
     if (outcount == MPI_UNDEFINED) exit
     j = j + outcount
     do i = 1, outcount
        if (indices(i) < 1 .or. indices(i) > 2 * k) errors = errors + 1
     end do
  end do
  if (j /= 2 * k) errors = errors + 1
  call check()

  part_errors(2) = errors
  errors = 0
  ! 3. Testany, Testsome, Testall, Test and Request_get_status loops.
  call post()
  j = 0
  do while (j < k)
     call MPI_Testany(k, reqs, idx, flag, st, ierr)
     if (flag .and. idx /= MPI_UNDEFINED) j = j + 1
  end do
  j = 0
  do while (j < k)
     call MPI_Testsome(k, reqs(k + 1:), outcount, indices, sts, ierr)
     if (outcount /= MPI_UNDEFINED) j = j + outcount
  end do
  call MPI_Testall(2 * k, reqs, flag, sts, ierr)
  if (.not. flag) errors = errors + 1
  call check()
  call post()
  do j = 1, 2 * k
     done = .false.
     do while (.not. done)
        call MPI_Request_get_status(reqs(j), flag, st, ierr)
        call MPI_Test(reqs(j), done, st, ierr)
     end do
     if (j <= k .and. (SOURCE_OF(st) /= left .or. TAG_OF(st) /= j)) errors = errors + 1
  end do
  call check()

  part_errors(3) = errors
  errors = 0
  ! 4. Probe, Iprobe, then the receive, of a message under the pipelined method's
  !    size (a probe must not meet a pipelined one); a freed send request.
  b = -1
  call MPI_Type_vector(n, 1, n, MPI_DOUBLE_PRECISION, line, ierr)
  call MPI_Type_commit(line, ierr)
  call MPI_Isend(a, 1, line, right, 99, MPI_COMM_WORLD, one, ierr)
  call MPI_Request_free(one, ierr)
  flag = .false.
  do while (.not. flag)
     call MPI_Iprobe(left, 99, MPI_COMM_WORLD, flag, st, ierr)
  end do
  call MPI_Probe(left, 99, MPI_COMM_WORLD, st, ierr)
  call MPI_Get_count(st, MPI_BYTE, bytes, ierr)
  if (bytes /= n * 8) errors = errors + 1
  call MPI_Recv(b, 1, line, left, 99, MPI_COMM_WORLD, st, ierr)
  call fill(b(:, :, :, 2), left)
  errors = errors + count(b(1, :, 1, 1) /= b(1, :, 1, 2)) + count(b(2:, :, 1, 1) /= -1) &
       + count(b(:, :, 2:, 1) /= -1)
  call MPI_Type_free(line, ierr)
  ! A cancelled receive.
  b = -1
  call MPI_Irecv(b, 1, face, left, 1000, MPI_COMM_WORLD, one, ierr)
  call MPI_Cancel(one, ierr)
  call MPI_Wait(one, st, ierr)
  call MPI_Test_cancelled(st, flag, ierr)
  if (.not. flag) errors = errors + 1

  part_errors(4) = errors
  errors = 0
  ! 5. The type's contents come back as the MPI gives them.
  call MPI_Type_get_envelope(face, ni, na, nd, combiner, ierr)
  if (combiner /= MPI_COMBINER_SUBARRAY .or. nd /= 1) errors = errors + 1
  call MPI_Type_get_contents(face, ni, na, nd, ints, addrs, types, ierr)
  if (ints(1) /= 3 .or. ints(5) /= 1) errors = errors + 1

  part_errors(5) = errors
  errors = 0
  ! 6. Neighbour all-to-all with a face type each way around the ring.
  call MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, 2, [left, right], MPI_UNWEIGHTED, &
       2, [left, right], MPI_UNWEIGHTED, MPI_INFO_NULL, .false., ring, ierr)
  b = -1
  sendcounts = 1
  recvcounts = 1
  sdispls = 0
  rdispls = [0_MPI_ADDRESS_KIND, int(n, MPI_ADDRESS_KIND) ** 3 * 8]
  sendtypes = face
  recvtypes = face
  call MPI_Neighbor_alltoallw(a, sendcounts, sdispls, sendtypes, b, recvcounts, rdispls, &
       recvtypes, ring, ierr)
  errors = errors + bad_face(b(:, :, :, 1), left) + bad_face(b(:, :, :, 2), right)
  call MPI_Comm_free(ring, ierr)

  part_errors(6) = errors
  errors = 0
  ! 7. Waitall over more requests than the interposer keeps on its stack, statuses too:
  !    many strided columns a(1, :, 1) each way, received into columns of c.
  call MPI_Type_vector(n, 1, n, MPI_DOUBLE_PRECISION, line, ierr)
  call MPI_Type_commit(line, ierr)
  c = -1
  do j = 1, many
     call MPI_Irecv(c(1, j), 1, line, left, 200 + j, MPI_COMM_WORLD, lots(j), ierr)
  end do
  do j = 1, many
     call MPI_Isend(a, 1, line, right, 200 + j, MPI_COMM_WORLD, lots(many + j), ierr)
  end do
  call MPI_Waitall(2 * many, lots, sts, ierr)
  call fill(b(:, :, :, 1), left)
  do j = 1, many
     if (SOURCE_AT(j) /= left .or. TAG_AT(j) /= 200 + j) errors = errors + 1
     errors = errors + count(c(1::n, j) /= b(1, :, 1, 1))
     c(1::n, j) = -1
     errors = errors + count(c(:, j) /= -1)
  end do
  call MPI_Type_free(line, ierr)

  part_errors(7) = errors
  print '(A, I0, 7(1X, I0), 1X, I0)', 'RESULT ', rank, part_errors, last
  call MPI_Type_free(face, ierr)
  call MPI_Finalize(ierr)

contains

  ! k receives of the left neighbour's face (tags 1..k), then k sends to the right.
  subroutine post()
    integer :: t
    b = -1
    do t = 1, k
       call MPI_Irecv(b(1, 1, 1, t), 1, face, left, t, MPI_COMM_WORLD, reqs(t), ierr)
    end do
    do t = 1, k
       call MPI_Isend(a, 1, face, right, t, MPI_COMM_WORLD, reqs(k + t), ierr)
    end do
  end subroutine post

  subroutine check()
    integer :: t
    do t = 1, k
       errors = errors + bad_face(b(:, :, :, t), left)
    end do
  end subroutine check

#include "fill.inc"

  ! got must hold rank from's x face, and -1 everywhere else.
  integer function bad_face(got, from)
    real(8), intent(in) :: got(n, n, n)
    integer, intent(in) :: from
    real(8) :: theirs(n, n, n)
    call fill(theirs, from)
    bad_face = count(got(1, :, :) /= theirs(1, :, :)) + count(got(2:, :, :) /= -1)
  end function bad_face
end program completion
