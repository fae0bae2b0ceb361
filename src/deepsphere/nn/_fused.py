"""ChebConv's fused CPU kernel (float32): recursion and projection in one C kernel, built at first use.

Why: the layer is memory-bound. The unfused path writes the K terms ``T_k(L̃) x``, then a GEMM reads them
back for ``Σ_k T_k W_k`` — a (rows × K·in)·(K·in × out) product whose skinny shape MKL runs at a third
of the machine's peak — and its backward writes and reads K gradient terms more. The kernels of
``_fused_kernels.c`` project each vertex's K rows while they are in cache, form the backward's
``G_k = g W_kᵀ`` per vertex inside Clenshaw's recurrence (never stored), and reduce the weight gradient
in registers.

Order: waves, not K passes. The vertices are cut in blocks of ``CHUNK`` (consecutive in the sampling's
order, so nearby on the sphere) and the K − 1 steps in waves of ``SEGMENT``; within a wave, step k of a
block runs as soon as step k − 1 of its neighbour blocks is done, so the term it reads was mostly written
a few blocks earlier and is still in the core's cache, and each wave ends by projecting its terms of the
block (so without the weights' gradient the terms share a ring of buffers). The order is a static
schedule per graph (:class:`_BlockGraph`, cached per operator: ~1 s and 30 MiB at nside 256, K = 20).
Threads own contiguous ranges of blocks and wait on per-block counters only where a neighbour block is
another thread's, running a later ready task of their own meanwhile.

Build: ``$CC`` (default ``cc``) ``-O3 -march=native -fopenmp``, once per machine, into the cache folder
(``$DEEPSPHERE_CACHE/kernels``, by default ``~/.cache/deepsphere/kernels``), named by a hash of the
source, the compiler's version and the CPU's flags (a cache shared between different machines gets one
library per CPU). The library's OpenMP is the libgomp torch loaded, and it runs on
``torch.get_num_threads()`` threads.
Without a working compiler ``available()`` is false and ChebConv's ``"auto"`` backend uses numba.
The same library holds :class:`deepsphere.nn.BatchNorm`'s kernels (without it, torch's batch norm runs).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import subprocess
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._cache import default_cache_dir
from .buffers import POOL

SOURCE = Path(__file__).with_name("_fused_kernels.c")
FLAGS = ("-O3", "-march=native", "-fopenmp", "-shared", "-fPIC")


class BuildError(RuntimeError):
    """The fused kernel could not be compiled or loaded (the message says why)."""


def available() -> bool:
    """Whether the fused kernel is built (building it now if needed)."""
    return build_error() is None


def build_error() -> str | None:
    """Why the kernel could not be built or loaded in this process (None: it is available)."""
    try:
        _library()
    except BuildError as error:
        return str(error)
    return None


_LOADED: list[ctypes.CDLL | BuildError] = []  # the library, or why it failed: tried once per process


def _library() -> ctypes.CDLL:
    """The compiled kernel, built on first use; raises :class:`BuildError` if it cannot be."""
    if not _LOADED:
        try:
            _LOADED.append(_build_and_load())
        except BuildError as error:
            _LOADED.append(error)
    if isinstance(_LOADED[0], BuildError):
        raise _LOADED[0]
    return _LOADED[0]


def _build_and_load() -> ctypes.CDLL:
    compiler = os.environ.get("CC", "cc")
    try:
        version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise BuildError(f"no C compiler {compiler!r} ($CC): {error}") from error
    source = SOURCE.read_bytes()
    key = hashlib.sha256(b"\0".join([source, version.encode(), " ".join(FLAGS).encode(), _cpu_flags()]))
    path = default_cache_dir() / "kernels" / f"chebconv-{key.hexdigest()[:16]}.so"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:  # build aside, then rename: atomic
            built = Path(tmp) / path.name
            result = subprocess.run(
                [compiler, *FLAGS, "-o", str(built), str(SOURCE), "-lm"], capture_output=True, text=True
            )
            if result.returncode != 0:
                raise BuildError(f"{compiler} failed on {SOURCE.name}:\n{result.stderr.strip()}")
            os.replace(built, path)
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as error:
        raise BuildError(f"cannot load {path}: {error}") from error
    i64, ptr, schedule = ctypes.c_int64, ctypes.c_void_p, ctypes.POINTER(_Schedule)
    lib.cheb_forward.argtypes = [i64, i64, ptr, ptr, *[i64] * 5, *[ptr] * 4, schedule, ptr, ctypes.c_int]
    lib.cheb_backward.argtypes = [i64, i64, ptr, ptr, *[i64] * 6, *[ptr] * 7, schedule, ptr, ctypes.c_int]
    lib.cheb_schedule.argtypes = [i64, i64, i64, ptr, ptr, i64, ptr, ptr, ptr]
    flag = ctypes.c_int  # the batch norm's (see .norm)
    lib.bn_forward.argtypes = [i64, i64, *[ptr] * 3, ctypes.c_double, flag, *[ptr] * 4, ctypes.c_int]
    lib.bn_backward.argtypes = [i64, i64, *[ptr] * 3, flag, *[ptr] * 6, ctypes.c_int]
    return lib


def _cpu_flags() -> bytes:
    """The CPU's feature flags (Linux), else the platform's name: ``-march=native`` code runs only there."""
    try:
        with open("/proc/cpuinfo", "rb") as f:
            return next(line for line in f if line.startswith(b"flags"))
    except (OSError, StopIteration):
        return f"{platform.machine()} {platform.processor()}".encode()


CHUNK = 8  # vertices per block of the wavefront: their CHUNK · B rows are projected together
SEGMENT = 4  # stages per wave: longer ones hold more terms in flight than the cache holds (K = 20 in one
# wave: 20–30 % slower)


class _Schedule(ctypes.Structure):
    """The C kernels' ``schedule`` (see ``_fused_kernels.c``)."""

    _fields_ = [
        *[(name, ctypes.c_int64) for name in ("chunk", "nblocks", "S", "segment", "lists", "bd")],
        *[(name, ctypes.c_void_p) for name in ("tasks", "tick", "adj", "offsets")],
    ]


class _BlockGraph:
    """The graph of blocks of CHUNK consecutive vertices, and the wavefront schedules built on it.

    ``adj`` (nblocks, bd) int32: the blocks holding a neighbour (nonzero weight) of a block's vertices, the
    block itself included, padded with the block itself.
    """

    def __init__(self, index: torch.Tensor, weight: torch.Tensor) -> None:
        n, d = index.shape
        self.nblocks = -(-n // CHUNK)
        own = np.arange(self.nblocks * CHUNK) // CHUNK
        blocks = np.repeat(own[:, None], d, axis=1)  # vertices past n (last block's padding): their own block
        blocks[:n] = np.where(weight.numpy() != 0, index.numpy() // CHUNK, own[:n, None])
        blocks = np.sort(blocks.reshape(self.nblocks, CHUNK * d), axis=1)
        repeated = np.zeros(blocks.shape, dtype=bool)
        repeated[:, 1:] = blocks[:, 1:] == blocks[:, :-1]
        blocks = np.sort(np.where(repeated, self.nblocks, blocks), axis=1)  # distinct ones first
        self.bd = int((blocks < self.nblocks).sum(1).max())
        adj = blocks[:, : self.bd]
        self.adj = np.ascontiguousarray(
            np.where(adj == self.nblocks, np.arange(self.nblocks)[:, None], adj), np.int32
        )
        self._schedules: dict[tuple[int, int], tuple[_Schedule, tuple[np.ndarray, ...]]] = {}

    def schedule(self, stages: int, lists: int) -> _Schedule:
        """The schedule of ``stages`` stages in ``lists`` lists (one per thread), built once."""
        if (stages, lists) not in self._schedules:
            self._schedules[stages, lists] = self._build(stages, lists)
        return self._schedules[stages, lists][0]

    def _build(self, stages: int, lists: int) -> tuple[_Schedule, tuple[np.ndarray, ...]]:
        nb = self.nblocks
        bounds = np.arange(lists + 1, dtype=np.int64) * nb // lists
        owner = np.searchsorted(bounds, np.arange(nb), side="right") - 1
        tau = np.empty((stages, nb), dtype=np.int64)  # when a stage could run at the earliest
        for s in range(stages):
            if s % SEGMENT == 0:  # position in its list's range: the lists start together
                tau[s] = np.arange(nb) - bounds[owner]
            else:
                tau[s] = tau[s - 1][self.adj].max(axis=1)
        segment = np.arange(stages)[:, None] // SEGMENT
        priority = np.ascontiguousarray(((segment * nb + tau) * stages + np.arange(stages)[:, None]).ravel())
        tasks, tick = np.empty(stages * nb, dtype=np.int32), np.empty(stages * nb, dtype=np.int32)
        status = _library().cheb_schedule(
            nb, stages, lists, bounds.ctypes.data, self.adj.ctypes.data, self.bd, priority.ctypes.data,
            tasks.ctypes.data, tick.ctypes.data,
        )  # fmt: skip
        if status != 0:
            raise (MemoryError if status == -1 else RuntimeError)(f"cheb_schedule failed ({status})")
        arrays = (tasks, tick, self.adj, bounds * stages)
        sched = _Schedule(CHUNK, nb, stages, SEGMENT, lists, self.bd, *[a.ctypes.data for a in arrays])
        return sched, arrays


_BLOCK_GRAPHS: dict[tuple[int, int], tuple[weakref.ref, tuple[int, int], _BlockGraph]] = {}


def _block_graph(index: torch.Tensor, weight: torch.Tensor) -> _BlockGraph:
    """The block graph of the operator (index, weight): built once, again if either is written to."""
    key, version = (id(index), id(weight)), (index._version, weight._version)
    entry = _BLOCK_GRAPHS.get(key)
    if entry is None or entry[0]() is not index or entry[1] != version:
        for dead in [k for k, (ref, _, _) in _BLOCK_GRAPHS.items() if ref() is None]:
            del _BLOCK_GRAPHS[dead]
        entry = (weakref.ref(index), version, _BlockGraph(index, weight))
        _BLOCK_GRAPHS[key] = entry
    return entry[2]


def fused_chebconv(
    x: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, W: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """``y = Σ_k T_k(L̃) x W_k + b`` by the fused kernel.

    Parameters
    ----------
    x : Tensor (V, B, C_in), float32 (any strides; made contiguous)
    index, weight : the operator L̃ in ELL form, (V, d) int64 and float32 (see :class:`RescaledLaplacian`)
    W : Tensor (K, C_in, C_out); bias : Tensor (C_out,) or None

    Returns
    -------
    Tensor (V, B, C_out), contiguous.

    The K − 1 terms are kept for the backward only if the weights' gradient will be needed (``W`` requires
    it and grad mode is on); otherwise they share max(3, ``SEGMENT``) buffers (inference at nside 256,
    K = 20: 4 term buffers of 384 MiB instead of 19).
    """
    keep_terms = torch.is_grad_enabled() and W.requires_grad  # for the weights' gradient
    return _FusedChebConv.apply(x, index, weight, W, bias, keep_terms)


def _ptr(t: torch.Tensor | None) -> int | None:
    """``t``'s address, NULL for None (an optional array of the C kernels)."""
    return None if t is None else t.data_ptr()


def _pointers(tensors: list[torch.Tensor]) -> ctypes.Array:
    return (ctypes.c_void_p * len(tensors))(*[t.data_ptr() for t in tensors])


def _contiguous(t: torch.Tensor) -> torch.Tensor:
    """``t`` itself if C-contiguous, else a copy in a pooled buffer (no page faults)."""
    if t.is_contiguous():
        return t
    return POOL.empty(t.shape, t.dtype).copy_(t)


def _round16(n: int) -> int:
    """``16 · ceil(n / 16)``: the kernel's rows of weights are whole 16-float vectors."""
    return -(-n // 16) * 16


def _padded(w: torch.Tensor) -> torch.Tensor:
    """``w`` (..., n) zero-padded to (..., ``_round16(n)``), contiguous float32."""
    n = w.shape[-1]
    return torch.nn.functional.pad(w.float(), (0, _round16(n) - n)).contiguous()


def _wave(index: torch.Tensor, weight: torch.Tensor, stages: int) -> tuple[_Schedule, torch.Tensor, int]:
    """The schedule of ``stages`` stages for this operator and thread count, zeroed per-block counters
    (stages finished; keep them alive through the call) and the thread count."""
    threads = torch.get_num_threads()
    blocks = _block_graph(index, weight)
    return blocks.schedule(stages, threads), torch.zeros(blocks.nblocks, dtype=torch.int32), threads


class _FusedChebConv(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        index: torch.Tensor,
        weight: torch.Tensor,
        W: torch.Tensor,
        bias: torch.Tensor | None,
        keep_terms: bool,
    ) -> torch.Tensor:
        lib = _library()
        x = _contiguous(x)
        (n, batch, c_in), (K, _, c_out) = x.shape, W.shape
        W_pad = _padded(W.detach())
        bias_pad = None if bias is None else _padded(bias.detach())
        # The weights' gradient reads the K terms; otherwise a ring of buffers will do (see cheb_forward).
        ring = K - 1 if keep_terms else min(K - 1, max(3, SEGMENT))
        buffers = [POOL.empty(x.shape, torch.float32) for _ in range(ring)]
        terms = [x] + [buffers[(k - 1) % ring] for k in range(1, K)]
        y = POOL.empty((n, batch, c_out), torch.float32)
        schedule, done, threads = _wave(index, weight, max(K - 1, 1))
        lib.cheb_forward(
            n, index.shape[1], _ptr(index), _ptr(weight), batch, c_in, c_out, W_pad.shape[-1], K,
            _pointers(terms), _ptr(W_pad), _ptr(bias_pad), _ptr(y),
            schedule, _ptr(done), threads,
        )  # fmt: skip
        ctx.save_for_backward(index, weight, W, *(terms if keep_terms else []))
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        lib = _library()
        index, weight, W, *terms = ctx.saved_tensors
        need_x, need_W = ctx.needs_input_grad[0], ctx.needs_input_grad[3]
        need_bias = ctx.has_bias and ctx.needs_input_grad[4]
        g = _contiguous(grad.float())
        (n, batch, c_out), (K, c_in, _) = g.shape, W.shape
        schedule, done, threads = _wave(index, weight, K)
        WT = _padded(W.detach().transpose(1, 2))
        dx = POOL.empty((n, batch, c_in), torch.float32) if need_x else None
        scratch = [POOL.empty((n, batch, c_in), torch.float32) for _ in range(3 if need_x and K > 1 else 0)]
        cout16 = _round16(c_out)
        dW_parts = torch.zeros((threads, K, c_in, cout16)) if need_W else None
        db_parts = torch.zeros((threads, cout16)) if need_W else None
        lib.cheb_backward(
            n, index.shape[1], _ptr(index), _ptr(weight), batch, c_in, c_out, WT.shape[-1], cout16, K,
            _pointers(terms) if need_W else None, _ptr(g), _ptr(WT), _pointers(scratch) if scratch else None,
            _ptr(dx), _ptr(dW_parts), _ptr(db_parts), schedule, _ptr(done), threads,
        )  # fmt: skip
        dW = dW_parts.sum(0)[..., :c_out] if need_W else None
        if need_bias:
            db = db_parts.sum(0)[:c_out] if need_W else g.sum((0, 1))
        else:
            db = None
        return dx, None, None, dW, db, None
