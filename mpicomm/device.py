"""Arrays in device memory, named as CuPy names them: `empty`, `asarray`, `asnumpy`,
`Device`, `synchronize`.

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

The simulated device keeps CUDA's rules, as CuPy meets them: `asarray`, `set`, assignment
(`a[1:] = 0`) and `fill` are queued on the current device's legacy default stream and run
only at a synchronisation (`synchronize()`, `asnumpy`, or work that CUDA orders after
them); `Device(i)` chooses the device new arrays live on (MPICOMM_SIM_DEVICES of them).
"""
import ctypes
import os
import threading

import numpy as np

__all__ = ["backend", "empty", "asarray", "asnumpy", "ndarray", "Device", "synchronize",
           "device_count", "reset"]


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
        if not hasattr(lib, "mpicomm_sim_alloc"):
            raise DeviceError(
                "the simulated device lives in the interposer, which this process has not "
                "loaded: start the program with `mpicomm run`, or call "
                "mpicomm.interposer.load() before importing mpi4py")
        lib.mpicomm_sim_alloc.restype = ctypes.c_void_p
        lib.mpicomm_sim_alloc.argtypes = [ctypes.c_int, ctypes.c_size_t]
        lib.mpicomm_sim_free.argtypes = [ctypes.c_void_p]
        lib.mpicomm_sim_copy_async.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                               ctypes.c_size_t]
        lib.mpicomm_sim_fill_async.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p,
                                               ctypes.c_size_t, ctypes.c_size_t]
        lib.mpicomm_sim_synchronize.argtypes = [ctypes.c_int]
        lib.mpicomm_sim_reset.argtypes = [ctypes.c_int]
        lib.mpicomm_device_backend.restype = ctypes.c_char_p
        if lib.mpicomm_device_backend() != b"sim":
            raise DeviceError("MPICOMM_DEVICE=sim was not set when the interposer started "
                              f"(its device backend is {lib.mpicomm_device_backend().decode()})")
        _SIM = lib
    return _SIM


_current = threading.local()


def _device_id():
    return getattr(_current, "id", 0)


class Device:
    """The device new arrays live on, as `cupy.cuda.Device(i)`: a context manager (the
    previous device comes back at exit), or `.use()`. Device 0 until one is chosen."""

    def __init__(self, device=None):
        self.id = _device_id() if device is None else int(device)
        if backend() == "sim" and not 0 <= self.id < device_count():
            raise ValueError(f"device {self.id} does not exist: the simulated device has "
                             f"{device_count()} (MPICOMM_SIM_DEVICES)")

    def use(self):
        if backend() == "cuda":
            _cupy().cuda.Device(self.id).use()
        _current.id = self.id

    def synchronize(self):
        """Wait for everything queued on this device."""
        if backend() == "cuda":
            _cupy().cuda.Device(self.id).synchronize()
        elif _sim().mpicomm_sim_synchronize(self.id) != 0:
            raise DeviceError(f"synchronizing simulated device {self.id} failed")

    def __enter__(self):
        self._was = _device_id()
        if backend() == "cuda":
            self._cuda = _cupy().cuda.Device(self.id)
            self._cuda.__enter__()
        _current.id = self.id
        return self

    def __exit__(self, *exc):
        _current.id = self._was
        if backend() == "cuda":
            self._cuda.__exit__(*exc)
        return False


def device_count():
    """How many devices there are (MPICOMM_SIM_DEVICES on the simulated device)."""
    if backend() == "cuda":
        return _cupy().cuda.runtime.getDeviceCount()
    return _sim().mpicomm_sim_devices()


def synchronize():
    """Wait for everything queued on the current device (`cupy.cuda.Device().synchronize()`)."""
    Device().synchronize()


def reset():
    """As cudaDeviceReset: the current device's memory, streams and queued work are gone
    (arrays on it must not be used again)."""
    if backend() == "cuda":
        _cupy().cuda.runtime.deviceReset()
    elif _sim().mpicomm_sim_reset(_device_id()) != 0:
        raise DeviceError(f"resetting simulated device {_device_id()} failed")


class _Memory:
    """One allocation of the simulated device, freed with its last array."""

    def __init__(self, nbytes, device):
        self.lib, self.device = _sim(), device
        self.ptr = self.lib.mpicomm_sim_alloc(device, max(nbytes, 1))
        if not self.ptr:
            raise MemoryError(f"the simulated device {device} could not allocate {nbytes} bytes")

    def __del__(self):
        if getattr(self, "ptr", None):
            self.lib.mpicomm_sim_free(self.ptr)


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

    @property
    def device(self):
        return Device(self._memory.device)

    def get(self):
        """A host copy (numpy): queued on the device's legacy stream after its earlier
        work, and waited for, as CuPy's."""
        if self.size == 0:
            return np.empty(self.shape, self.dtype)
        lo, hi = self._span()
        raw = np.empty(hi - lo, np.uint8)
        _copy(self._memory.device, raw.ctypes.data, self.data_ptr + lo, hi - lo)
        return np.array(np.ndarray(self.shape, self.dtype, buffer=raw, offset=-lo,
                                   strides=self.strides))

    def set(self, host):
        """Copy a host array of the same shape in, queued on the device's legacy stream
        (the host bytes are taken at once). A strided view reads its span first (a
        synchronisation), replaces its elements there and writes the span back."""
        host = np.asarray(host, dtype=self.dtype)
        if host.shape != self.shape:
            raise ValueError(f"shape {host.shape} does not match the device array's {self.shape}")
        if not host.size:
            return
        if self._contiguous():
            host = np.ascontiguousarray(host)
            _copy(self._memory.device, self.data_ptr, host.ctypes.data, host.nbytes)
            return
        lo, hi = self._span()
        raw = np.empty(hi - lo, np.uint8)
        _copy(self._memory.device, raw.ctypes.data, self.data_ptr + lo, hi - lo)
        np.ndarray(self.shape, self.dtype, buffer=raw, offset=-lo, strides=self.strides)[...] = host
        _copy(self._memory.device, self.data_ptr + lo, raw.ctypes.data, hi - lo)

    def fill(self, value):
        """Every element set to value, by a fill kernel queued on the device's legacy
        stream (a strided view: as set)."""
        if not self.size:
            return
        if not self._contiguous():
            self.set(np.full(self.shape, value, self.dtype))
            return
        one = np.array(value, dtype=self.dtype)
        if _sim().mpicomm_sim_fill_async(self._memory.device, self.data_ptr, one.ctypes.data,
                                         one.nbytes, self.nbytes) != 0:
            raise DeviceError(f"a fill of {self.nbytes} bytes on simulated device "
                              f"{self._memory.device} failed")

    def __setitem__(self, key, value):
        """a[i] = v, a[i:j] = v (leading dimension): a scalar fills, an array (numpy or
        device, broadcast to the target's shape) is copied in."""
        target = self[key]
        if isinstance(value, ndarray):
            value = value.get()
        if np.ndim(value) == 0 and not isinstance(value, np.ndarray):
            target.fill(value)
        else:
            target.set(np.broadcast_to(np.asarray(value, dtype=self.dtype), target.shape))

    def __repr__(self):
        return (f"mpicomm.device.ndarray(shape={self.shape}, dtype={self.dtype}, backend=sim, "
                f"device={self._memory.device})")


def _c_strides(shape, itemsize):
    strides, step = [], itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def _copy(device, dst, src, nbytes):
    """A copy on the device's legacy stream: from host memory the bytes are taken at
    once; to host memory it completes before it returns (CUDA's rules for pageable
    memory)."""
    if _sim().mpicomm_sim_copy_async(device, dst, src, nbytes) != 0:
        raise DeviceError(f"copy of {nbytes} bytes between host and simulated device "
                          f"{device} failed")


def empty(shape, dtype=float):
    """An uninitialised array on the device."""
    if backend() == "cuda":
        return _cupy().empty(shape, dtype)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(n < 0 for n in shape):
        raise ValueError(f"negative dimension in shape {shape}")
    dtype = np.dtype(dtype)
    return ndarray(shape, dtype, _Memory(int(np.prod(shape, dtype=np.int64)) * dtype.itemsize,
                                         _device_id()))


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
