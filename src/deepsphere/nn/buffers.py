"""A pool of large CPU buffers that outlive the tensors made from them, so each call skips the page faults.

Why: a fresh CPU tensor of tens of MiB comes from ``mmap``, and its first write page-faults every
4 KiB page (≈ 0.2 ms per MiB on the 2-core test machine: 27 ms to fill a fresh 120 MiB tensor against
3 ms for one already mapped) — for a Chebyshev
convolution, whose basis is K signals, the faults cost more than the arithmetic. PyTorch's CPU
allocator caches nothing. The pool hands out tensors over buffers it keeps: when the last tensor (or
view) over a buffer dies, the buffer goes back to the pool for the next request of the same size, with
its pages already mapped. Only buffers ≥ ``MIN_BYTES`` are pooled; the free ones total at most
``max_free_bytes`` (a quarter of the physical memory by default), the oldest dropped first.

Other devices (CUDA has its own caching allocator), dtypes numpy lacks, and code being traced
(:func:`traced`) get a plain ``torch.empty``.
"""

from __future__ import annotations

import math
import os
import threading
import weakref
from collections import OrderedDict

import numpy as np
import torch

MIN_BYTES = 1 << 20


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        return 8 << 30


class BufferPool:
    """Reusable CPU buffers, keyed by byte size (see the module docstring).

    Parameters
    ----------
    max_free_bytes : int
        Most bytes the pool keeps while no tensor uses them.
    """

    def __init__(self, max_free_bytes: int) -> None:
        self.max_free_bytes = max_free_bytes
        self._free: OrderedDict[int, list[np.ndarray]] = OrderedDict()
        self._free_bytes = 0
        self._lock = threading.Lock()

    @property
    def free_bytes(self) -> int:
        """Bytes held by buffers that no tensor uses now."""
        return self._free_bytes

    def empty(
        self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str = "cpu"
    ) -> torch.Tensor:
        """An uninitialised contiguous tensor of ``shape`` and ``dtype``, over a pooled buffer on the CPU."""
        device = torch.device(device)
        nbytes = dtype.itemsize * math.prod(shape)
        if nbytes < MIN_BYTES or device.type != "cpu" or dtype not in _NUMPY or traced():
            return torch.empty(shape, dtype=dtype, device=device)
        with self._lock:
            buffers = self._free.get(nbytes)
            raw = buffers.pop() if buffers else None
            if buffers == []:
                del self._free[nbytes]
            if raw is not None:
                self._free_bytes -= nbytes
        if raw is None:
            raw = np.empty(nbytes, dtype=np.uint8)
        array = raw.view(_NUMPY[dtype]).reshape(shape)
        weakref.finalize(array, self._release, raw)  # the tensor below holds `array` until it dies
        return torch.from_numpy(array)

    def clear(self) -> None:
        """Drop every free buffer (the memory goes back to the system)."""
        with self._lock:
            self._free.clear()
            self._free_bytes = 0

    def _release(self, raw: np.ndarray) -> None:
        with self._lock:
            self._free.setdefault(raw.nbytes, []).append(raw)
            self._free.move_to_end(raw.nbytes)
            self._free_bytes += raw.nbytes
            while self._free_bytes > self.max_free_bytes and self._free:
                size, buffers = next(iter(self._free.items()))
                buffers.pop(0)
                self._free_bytes -= size
                if not buffers:
                    del self._free[size]


def traced() -> bool:
    """Whether a tracer is recording the caller: ``torch.compile``, ``torch.jit.trace`` or an ONNX export
    (either exporter). The package's layers then run plain torch ops only — no C or numba kernels, no
    pooled buffers (a tracer would take a numpy-backed tensor for a constant)."""
    return torch.compiler.is_compiling() or torch.onnx.is_in_onnx_export() or torch.jit.is_tracing()


_NUMPY = {torch.float32: np.float32, torch.float64: np.float64}

#: The pool the package's CPU kernels draw from.
POOL = BufferPool(_physical_memory() // 4)
