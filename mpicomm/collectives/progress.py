"""A progress thread for nonblocking reductions, as Horovod's background thread.

An MPI moves a nonblocking collective's data only inside MPI calls (on shared memory, a
chunk per call), so a reduction started before a GPU step, a file read or any compute
that leaves the core idle would still be all to do at wait(). While any fused request
is in flight, one daemon thread per process polls them (MPI_Testall, with a pause of
POLL_S between rounds that lets the calling thread have the interpreter), so the MPI
progresses while the caller computes. It needs MPI_THREAD_MULTIPLE (mpi4py's default);
at a lower thread level, and with MPICOMM_PROGRESS_THREAD=0, no thread is started and
requests progress in test() and wait() only (auto, the default, is 1 here; mpicomm.torch
decides it per optimizer).
"""
import os
import threading
import time

from mpi4py import MPI

__all__ = ["enabled", "setting", "watch", "POLL_S"]

POLL_S = 20e-6


def setting():
    """MPICOMM_PROGRESS_THREAD (default auto), validated: "auto", "1" or "0"."""
    raw = os.environ.get("MPICOMM_PROGRESS_THREAD", "auto").strip()
    if raw not in ("auto", "0", "1"):
        raise ValueError(f"MPICOMM_PROGRESS_THREAD={raw!r}: expected auto, 0 or 1")
    return raw


def enabled():
    """Whether a thread may progress reductions: MPICOMM_PROGRESS_THREAD is not 0 and
    the MPI runs at MPI_THREAD_MULTIPLE."""
    return setting() != "0" and MPI.Query_thread() == MPI.THREAD_MULTIPLE


class _Poller:
    def __init__(self):
        self.pending = []                    # the requests to poll (FusedRequest)
        self.cv = threading.Condition()
        self.thread = None

    def watch(self, request):
        with self.cv:
            self.pending.append(request)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="mpicomm-progress",
                                               daemon=True)
                self.thread.start()
            self.cv.notify()

    def _run(self):
        while True:
            with self.cv:
                while not self.pending:
                    self.cv.wait()
                pending = list(self.pending)
            finished = {id(r) for r in pending if r.poll()}
            if finished:
                with self.cv:
                    self.pending = [r for r in self.pending if id(r) not in finished]
            time.sleep(POLL_S)


_poller = _Poller()


def watch(request):
    """Call request.poll() (true once it is complete; it must not block) every POLL_S
    until it is true."""
    _poller.watch(request)
