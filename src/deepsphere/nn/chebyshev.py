"""The Chebyshev basis T_0(L̃) x, …, T_{K−1}(L̃) x of a signal, and the choice of ChebConv's backend.

Recursion: ``T_0 x = x``, ``T_1 x = L̃ x``, ``T_k x = 2 L̃ T_{k−1} x − T_{k−2} x`` (K − 1 sparse products).

Backends (all give the same numbers; the tests hold each to a float64 dense reference):

- ``"fused"`` — CPU, float32, ChebConv only: the recursion and the projection ``Σ_k T_k W_k`` in one C
  kernel (:mod:`._fused`), built at first use with the system's C compiler; it never returns the basis.
- ``"numba"`` — CPU, float32/float64: the one-pass step kernel of :mod:`._ell_kernels` in a custom autograd
  function. Its backward needs nothing saved: since L̃ is symmetric, the input gradient
  ``Σ_k T_k(L̃) G_k`` is evaluated by Clenshaw's recurrence ``b_k = G_k + 2 L̃ b_{k+1} − b_{k+2}``,
  ``dx = G_0 + L̃ b_1 − b_2`` (K − 1 more products). Its buffers come from :data:`.buffers.POOL`, so
  repeated calls do not page-fault fresh memory. Its loops run on ``torch.get_num_threads()`` threads,
  so that ``torch.set_num_threads`` (or ``OMP_NUM_THREADS``) bounds them as it bounds torch's own.
- ``"sparse"`` — torch's sparse CSR product over the same buffers (viewed as CSR without a copy);
  cuSPARSE on CUDA.
- ``"index"`` — gathers over the neighbour lists with plain tensor ops: works under ``torch.compile``
  (which fuses the gathers into one loop), ONNX export and autocast (any float dtype).

``"auto"`` picks ``fused`` for float32 on the CPU (``numba`` where no C compiler could build it, and for
float64), ``sparse`` on other devices for float32/float64, and ``index`` when traced
(compile, jit trace, ONNX export: :func:`.buffers.traced`), or for half precision.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from .._numba_threads import numba_threads
from . import _fused
from ._ell_kernels import ell_step
from .buffers import POOL, traced
from .laplacian import RescaledLaplacian

BACKENDS = ("auto", "fused", "numba", "sparse", "index")


def chebyshev_basis(
    laplacian: RescaledLaplacian, x: torch.Tensor, K: int, backend: str = "auto"
) -> torch.Tensor:
    """Stack ``T_k(L̃) x`` for k < K.

    Parameters
    ----------
    laplacian : RescaledLaplacian with V vertices
    x : Tensor (V, B, C)
        Signal, vertex-major (the layout the recursion reads fastest).
    K : int ≥ 1
    backend : one of ``BACKENDS`` but ``"fused"`` (which projects the terms without returning them)

    Returns
    -------
    Tensor (K, V, B, C), contiguous: ``out[k]`` is ``T_k(L̃) x``.
    """
    backend = resolve_backend(backend, x, fused=False)
    if backend == "numba":
        return _NumbaChebyshev.apply(x, laplacian.index, laplacian.weight, K)
    apply = _sparse_product if backend == "sparse" else _gather_product
    terms = [x]
    if K > 1:
        terms.append(apply(laplacian, x))
    for _ in range(2, K):
        terms.append(2.0 * apply(laplacian, terms[-1]) - terms[-2])
    return torch.stack(terms)


def resolve_backend(backend: str, x: torch.Tensor, fused: bool = True) -> str:
    """The backend ``"auto"`` stands for, given the input (see the module docstring).

    ``fused`` : whether the caller can use the fused kernel (ChebConv can; :func:`chebyshev_basis`, which
    returns the terms, cannot). Raises ValueError for a backend that cannot run on ``x``.
    """
    if backend not in BACKENDS or (backend == "fused" and not fused):
        allowed = BACKENDS if fused else tuple(b for b in BACKENDS if b != "fused")
        raise ValueError(f"backend must be one of {allowed}, got {backend!r}")
    exporting = traced()
    full_precision = x.dtype in (torch.float32, torch.float64) and not torch.is_autocast_enabled(
        x.device.type
    )
    cpu = x.device.type == "cpu" and full_precision and not exporting
    if backend == "auto":
        if exporting or not full_precision:
            return "index"
        if not cpu:
            return "sparse"
        return "fused" if fused and x.dtype == torch.float32 and _fused.available() else "numba"
    if backend in ("numba", "fused") and not (cpu and (backend == "numba" or x.dtype == torch.float32)):
        dtypes = "float32/float64" if backend == "numba" else "float32"
        raise ValueError(
            f"backend {backend!r} runs on CPU {dtypes} tensors outside compile/export/autocast, got "
            f"{x.dtype} on {x.device.type}; use 'auto' or 'index'"
        )
    if backend == "fused" and not _fused.available():
        raise ValueError(
            f"backend 'fused' is not available here: {_fused.build_error()}; use 'auto' or 'numba'"
        )
    return backend


def _gather_product(laplacian: RescaledLaplacian, x: torch.Tensor) -> torch.Tensor:
    """L̃ x for x (V, B, C), by :func:`_ell_product`; its gradient is L̃ g, the same gathers (L̃ is
    symmetric), not autograd's scatter-adds: forward + backward 1.5–2.2× faster eager and 8–12×
    compiled on two CPU cores (nside 64, K = 5, two machines), no atomics on GPUs, and correct where
    torch 2.13's inductor miscompiles autograd's backward of two chained products of four or more
    gathers each (input gradients off by 30–100 %; ``tests/nn/test_chebconv.py``). Under jit tracing
    and ONNX export (which record no custom autograd function) the plain ops."""
    weight = laplacian.weight.to(x.dtype)
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return _ell_product(laplacian.index, weight, x)
    return _SymmetricProduct.apply(x, laplacian.index, weight)


def _ell_product(index: torch.Tensor, weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``out[i] = Σ_j weight[i, j] x[index[i, j]]`` for index, weight (V, d), x (V, B, C): one gather and
    multiply-add per neighbour slot (``torch.compile`` fuses them into one loop)."""
    out = weight[:, 0, None, None] * x[index[:, 0]]
    for j in range(1, index.shape[1]):
        out = out + weight[:, j, None, None] * x[index[:, j]]
    return out


class _SymmetricProduct(torch.autograd.Function):
    """:func:`_ell_product` for a symmetric matrix: the backward is the same product of the gradient."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, index: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(index, weight)
        return _ell_product(index, weight, x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        index, weight = ctx.saved_tensors
        return _ell_product(index, weight, grad), None, None


def _sparse_product(laplacian: RescaledLaplacian, x: torch.Tensor) -> torch.Tensor:
    """L̃ x for x (V, B, C) through torch's sparse CSR product (the padded lists viewed as CSR)."""
    n, d = laplacian.index.shape
    crow = torch.arange(0, n * d + 1, d, device=x.device)
    with warnings.catch_warnings():  # "sparse CSR support is in beta": we rely on the product only
        warnings.simplefilter("ignore", UserWarning)
        matrix = torch.sparse_csr_tensor(
            crow, laplacian.index.reshape(-1), laplacian.weight.to(x.dtype).reshape(-1), size=(n, n),
            check_invariants=False,
        )  # fmt: skip
    return (matrix @ x.reshape(n, -1)).reshape(x.shape)


class _NumbaChebyshev(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, index: torch.Tensor, weight: torch.Tensor, K: int) -> torch.Tensor:
        out = POOL.empty((K, *x.shape), x.dtype)
        out[0] = x
        if K > 1:
            idx, w = index.numpy(), weight.to(x.dtype).numpy()
            terms = out.view(K, x.shape[0], -1).numpy()
            _step(idx, w, 1.0, terms[0], None, None, terms[1])
            for k in range(2, K):
                _step(idx, w, 2.0, terms[k - 1], terms[k - 2], None, terms[k])
        ctx.save_for_backward(index, weight)
        ctx.K = K
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, None, None, None]:
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        index, weight = ctx.saved_tensors
        K = ctx.K
        if K == 1:
            return grad[0].clone(), None, None, None
        shape = grad.shape[1:]
        g = grad.contiguous().view(K, shape[0], -1).numpy()
        idx, w = index.numpy(), weight.to(grad.dtype).numpy()
        # Clenshaw: b_{K-1} = G_{K-1}; b_k = G_k + 2 L̃ b_{k+1} − b_{k+2}; dx = G_0 + L̃ b_1 − b_2.
        buffers = [POOL.empty(g.shape[1:], grad.dtype).numpy() for _ in range(3)]
        b1, b2 = g[K - 1], None
        for k in range(K - 2, 0, -1):
            b0 = buffers[k % 3]  # neither b1 nor b2
            _step(idx, w, 2.0, b1, b2, g[k], b0)
            b1, b2 = b0, b1
        dx = POOL.empty(shape, grad.dtype)
        _step(idx, w, 1.0, b1, b2, g[0], dx.view(shape[0], -1).numpy())
        return dx, None, None, None


def _step(index, weight, alpha, src, prev, add, out) -> None:  # noqa: ANN001
    """``out = alpha L̃ src − prev + add`` on (V, M) arrays; ``prev``/``add`` may be None."""
    with numba_threads(torch.get_num_threads()):
        ell_step(
            index, weight, weight.dtype.type(alpha), src,
            src if prev is None else prev, src if add is None else add, out,
            prev is not None, add is not None,
        )  # fmt: skip
