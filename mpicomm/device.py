"""Arrays in device memory, named as CuPy names them: `empty`, `asarray`, `asnumpy`.

With a GPU (MPICOMM_DEVICE unset or `cuda`) these are CuPy's own. Under
MPICOMM_DEVICE=sim they are arrays in the simulated device's memory, which the preloaded
interposer owns (`mpicomm run`, or `mpicomm.interposer.load()` before mpi4py): memory that
only the device may touch, so that the MPI, or any code that forgets the device, faults
on it as it would on a GPU pointer. Either way they carry `__cuda_array_interface__`, so
mpi4py hands their pointers to MPI exactly as it does CuPy's:

    >>> from mpicomm import device
    >>> a = device.asarray(numpy.arange(12.0).reshape(3, 4))
    >>> comm.Send(a[1:], dest=1)                  # staged or packed by the interposer
    >>> device.asnumpy(a[0])
"""
import ctypes
import os

import numpy as np

__all__ = ["backend", "empty", "asarray", "asnumpy", "ndarray"]


class DeviceError(RuntimeError):
    """The device memory asked for cannot be had here."""


def backend():
    """The active backend: "sim" (MPICOMM_DEVICE=sim) or "cuda"."""
    return "sim" if os.environ.get("MPICOMM_DEVICE", "").lower() == "sim" else "cuda"


def _cupy():
    try:
        import cupy
    except ImportError as exc:
        raise DeviceError("mpicomm.device needs CuPy for GPU arrays (pip install cupy-cuda12x), "
                          "or MPICOMM_DEVICE=sim for the simulated device") from exc
    return cupy


_SIM = None


def _sim():
    """The simulated device's calls in the preloaded interposer."""
    global _SIM
    if _SIM is None:
        lib = ctypes.CDLL(None)
        if not hasattr(lib, "mpicomm_device_alloc"):
            raise DeviceError(
                "the simulated device lives in the interposer, which this process has not "
                "loaded: start the program with `mpicomm run`, or call "
                "mpicomm.interposer.load() before importing mpi4py")
        lib.mpicomm_device_alloc.restype = ctypes.c_void_p
        lib.mpicomm_device_alloc.argtypes = [ctypes.c_size_t]
        lib.mpicomm_device_free.argtypes = [ctypes.c_void_p]
        lib.mpicomm_device_copy.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        lib.mpicomm_device_backend.restype = ctypes.c_char_p
        if lib.mpicomm_device_backend() != b"sim":
            raise DeviceError("MPICOMM_DEVICE=sim was not set when the interposer started "
                              f"(its device backend is {lib.mpicomm_device_backend().decode()})")
        _SIM = lib
    return _SIM


class _Memory:
    """One allocation of the simulated device, freed with its last array."""

    def __init__(self, nbytes):
        self.lib = _sim()
        self.ptr = self.lib.mpicomm_device_alloc(max(nbytes, 1))
        if not self.ptr:
            raise MemoryError(f"the simulated device could not allocate {nbytes} bytes")

    def __del__(self):
        if getattr(self, "ptr", None):
            self.lib.mpicomm_device_free(self.ptr)


class ndarray:
    """An array in the simulated device's memory: shape, dtype, strides as numpy's; the
    leading dimension can be indexed and sliced (a view)."""

    def __init__(self, shape, dtype, memory, offset=0, strides=None):
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self._memory, self._offset = memory, offset
        self.strides = tuple(strides) if strides is not None else _c_strides(self.shape,
                                                                             self.dtype.itemsize)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize

    @property
    def data_ptr(self):
        return self._memory.ptr + self._offset

    def _contiguous(self):
        return self.strides == _c_strides(self.shape, self.dtype.itemsize)

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "version": 3,
                "data": (self.data_ptr, False),
                "strides": None if self._contiguous() else self.strides}

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of a 0-d device array")
        return self.shape[0]

    def __getitem__(self, key):
        if not self.shape:
            raise IndexError("a 0-d device array cannot be indexed")
        if isinstance(key, (int, np.integer)):
            i = int(key) + (self.shape[0] if key < 0 else 0)
            if not 0 <= i < self.shape[0]:
                raise IndexError(f"index {key} out of range for length {self.shape[0]}")
            return ndarray(self.shape[1:], self.dtype, self._memory,
                           self._offset + i * self.strides[0], self.strides[1:])
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            n = len(range(start, stop, step))
            return ndarray((n,) + self.shape[1:], self.dtype, self._memory,
                           self._offset + start * self.strides[0],
                           (step * self.strides[0],) + self.strides[1:])
        raise TypeError("device arrays index their leading dimension only (an int or a slice); "
                        "copy to the host with mpicomm.device.asnumpy for more")

    def _span(self):
        """Byte range of the elements from data_ptr: (low, high)."""
        lo = sum((n - 1) * s for n, s in zip(self.shape, self.strides) if s < 0 and n)
        hi = sum((n - 1) * s for n, s in zip(self.shape, self.strides) if s > 0 and n)
        return lo, hi + self.dtype.itemsize

    def get(self):
        """A host copy (numpy)."""
        if self.size == 0:
            return np.empty(self.shape, self.dtype)
        lo, hi = self._span()
        raw = np.empty(hi - lo, np.uint8)
        _copy(raw.ctypes.data, self.data_ptr + lo, hi - lo)
        return np.array(np.ndarray(self.shape, self.dtype, buffer=raw, offset=-lo,
                                   strides=self.strides))

    def set(self, host):
        """Copy a host array of the same shape in (a strided view too: its span is read,
        its elements replaced, and the span written back)."""
        host = np.asarray(host, dtype=self.dtype)
        if host.shape != self.shape:
            raise ValueError(f"shape {host.shape} does not match the device array's {self.shape}")
        if not host.size:
            return
        if self._contiguous():
            host = np.ascontiguousarray(host)
            _copy(self.data_ptr, host.ctypes.data, host.nbytes)
            return
        lo, hi = self._span()
        raw = np.empty(hi - lo, np.uint8)
        _copy(raw.ctypes.data, self.data_ptr + lo, hi - lo)
        np.ndarray(self.shape, self.dtype, buffer=raw, offset=-lo, strides=self.strides)[...] = host
        _copy(self.data_ptr + lo, raw.ctypes.data, hi - lo)

    def __repr__(self):
        return f"mpicomm.device.ndarray(shape={self.shape}, dtype={self.dtype}, backend=sim)"


def _c_strides(shape, itemsize):
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def _copy(dst, src, nbytes):
    if _sim().mpicomm_device_copy(dst, src, nbytes) != 0:
        raise DeviceError(f"copy of {nbytes} bytes between host and simulated device failed")


def empty(shape, dtype=float):
    """An uninitialised array on the device."""
    if backend() == "cuda":
        return _cupy().empty(shape, dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(n < 0 for n in shape):
        raise ValueError(f"negative dimension in shape {shape}")
    dtype = np.dtype(dtype)
    return ndarray(shape, dtype, _Memory(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize))


def asarray(host, dtype=None):
    """A device copy of a host array (numpy or anything numpy takes)."""
    if backend() == "cuda":
        return _cupy().asarray(host, dtype)
    host = np.ascontiguousarray(host, dtype=dtype)
    out = empty(host.shape, host.dtype)
    out.set(host)
    return out


def asnumpy(array):
    """A host copy of a device array (a numpy array is returned as it is)."""
    if isinstance(array, np.ndarray):
        return array
    if isinstance(array, ndarray):
        return array.get()
    return _cupy().asnumpy(array)
