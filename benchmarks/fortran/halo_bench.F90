! Timing for benchmarks/fortran_bench.py: a Fortran program (mpi module) that
! exchanges faces of an n^3 array of doubles with its ring neighbours through
! MPI_Sendrecv with subarray types, and makes Send+Recv calls to MPI_PROC_NULL.
! Arguments: n iters reps. Prints, per case, the best of reps of the mean time of
! iters calls: "TIME <case> <n> <seconds>".
program halo_bench
  use mpi
  implicit none
  integer :: ierr, rank, nranks, left, right, n, iters, reps, f, r, i
  integer :: sizes(3), subs(3), starts(3), face
  integer :: status(MPI_STATUS_SIZE)
  real(8), allocatable :: a(:, :, :), b(:, :, :)
  real(8) :: t, best, x(1)
  character(len=32) :: arg
  character(len=6), parameter :: names(3) = ['x_face', 'y_face', 'z_face']

  call MPI_Init(ierr)
  call MPI_Comm_rank(MPI_COMM_WORLD, rank, ierr)
  call MPI_Comm_size(MPI_COMM_WORLD, nranks, ierr)
  right = mod(rank + 1, nranks)
  left = mod(rank - 1 + nranks, nranks)
  call get_command_argument(1, arg)
  read (arg, *) n
  call get_command_argument(2, arg)
  read (arg, *) iters
  call get_command_argument(3, arg)
  read (arg, *) reps
  allocate(a(n, n, n), b(n, n, n))
  a = rank
  b = 0

  ! 1. Faces: x (8-byte blocks), y (n*8-byte blocks), z (contiguous).
  sizes = n
  starts = 0
  do f = 1, 3
     subs = n
     subs(f) = 1
     call MPI_Type_create_subarray(3, sizes, subs, starts, MPI_ORDER_FORTRAN, &
          MPI_DOUBLE_PRECISION, face, ierr)
     call MPI_Type_commit(face, ierr)
     best = huge(1.0d0)
     do r = 1, reps
        call MPI_Barrier(MPI_COMM_WORLD, ierr)
        t = MPI_Wtime()
        do i = 1, iters
           call MPI_Sendrecv(a, 1, face, right, 0, b, 1, face, left, 0, MPI_COMM_WORLD, &
                status, ierr)
        end do
        best = min(best, (MPI_Wtime() - t) / iters)
     end do
     if (rank == 0) print '(A, A, 1X, I0, 1X, ES12.5)', 'TIME ', names(f), n, best
     call MPI_Type_free(face, ierr)
  end do

  ! 2. The cost of the calls themselves: Send+Recv of one double to MPI_PROC_NULL.
  best = huge(1.0d0)
  do r = 1, reps
     t = MPI_Wtime()
     do i = 1, iters * 100
        call MPI_Send(x, 1, MPI_DOUBLE_PRECISION, MPI_PROC_NULL, 0, MPI_COMM_WORLD, ierr)
        call MPI_Recv(x, 1, MPI_DOUBLE_PRECISION, MPI_PROC_NULL, 0, MPI_COMM_WORLD, &
             status, ierr)
     end do
     best = min(best, (MPI_Wtime() - t) / (iters * 100))
  end do
  if (rank == 0) print '(A, A, 1X, I0, 1X, ES12.5)', 'TIME ', 'proc_null', n, best
  call MPI_Finalize(ierr)
end program halo_bench
