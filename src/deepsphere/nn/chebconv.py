"""Chebyshev graph convolution, the spherical CNN's convolution."""

from __future__ import annotations

import math
from typing import Any

import torch

from ._fused import fused_chebconv
from .buffers import POOL, traced
from .chebyshev import BACKENDS, chebyshev_basis, resolve_backend
from .laplacian import RescaledLaplacian

# Mean second-moment gain of T_k(L̃) (k ≥ 1) on rectified activations; see ChebConv's initialisation.
INIT_GAIN = 0.85


class ChebConv(torch.nn.Module):
    r"""Graph convolution by a Chebyshev polynomial of the Laplacian (Defferrard et al. 2016).

    .. math::  y = \sum_{k=0}^{K-1} T_k(\tilde L)\, x\, W_k + b, \qquad \tilde L = 2 L / \lambda_{max} - I,

    with T_k the Chebyshev polynomials (``T_0 x = x``, ``T_1 x = L̃ x``,
    ``T_k x = 2 L̃ T_{k−1} x − T_{k−2} x``).
    The filter is K-localised: vertex i only sees vertices within K − 1 hops. ``K = 1`` is a shared linear
    map of each pixel (no neighbours).

    Parameters
    ----------
    in_channels, out_channels : int
    K : int ≥ 1
        Polynomial order + 1 (the number of weight matrices).
    laplacian : scipy.sparse matrix, torch sparse tensor, or RescaledLaplacian
        The graph Laplacian (V × V), e.g. ``knn_graph(sampling).laplacian()``. Pass one
        :class:`RescaledLaplacian` to several layers to share its buffers.
    lmax : float, optional
        Largest eigenvalue of ``laplacian`` (an upper bound is fine); estimated when omitted.
    bias : bool
    backend : ``"auto"``, ``"fused"``, ``"numba"``, ``"sparse"`` or ``"index"``
        How the recursion runs (see :mod:`deepsphere.nn.chebyshev`); ``"auto"`` picks the fastest.

    Shapes
    ------
    x : (B, V, in_channels) → y : (B, V, out_channels).
    The output is a view of a vertex-major (V, B, C) buffer; the package's layers read that layout
    without copying.

    Initialisation
    --------------
    ``W_k ~ N(0, 2 / (in_channels · (1 + g (K − 1))))`` with ``g = INIT_GAIN = 0.85``, and ``b = 0``: He
    initialisation with the fan-in counted as the second moment the K inputs ``T_k(L̃) x`` carry. ``T_0 x``
    carries all of ``x``'s; for k ≥ 1, ``T_k(λ)²`` averages 1/2 over the spectrum for white noise and 1
    for constant or smooth signals, and rectified activations on sphere graphs keep about 85 % (measured).
    With it a ChebConv→ReLU stack neither explodes nor collapses through depth for K from 2 to 20
    (``tests/nn/test_chebconv.py``); ``g = 1`` (fan-in K · in) collapses at K = 20, ``g = 1/2`` explodes.

    Attributes
    ----------
    weight : Parameter (K, in_channels, out_channels)
    bias : Parameter (out_channels,) or None
    laplacian : RescaledLaplacian (buffers ``index``, ``weight``, ``lmax``: saved in the state dict)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        K: int,
        laplacian: Any,
        lmax: float | None = None,
        bias: bool = True,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("K", K)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if isinstance(laplacian, RescaledLaplacian):
            if lmax is not None:
                raise ValueError("lmax must be None when laplacian is already a RescaledLaplacian")
            self.laplacian = laplacian
        else:
            self.laplacian = RescaledLaplacian(laplacian, lmax)
        self.in_channels, self.out_channels, self.K = in_channels, out_channels, K
        self.backend = backend
        self.weight = torch.nn.Parameter(torch.empty(K, in_channels, out_channels))
        self.bias = torch.nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan_in = self.in_channels * (1.0 + INIT_GAIN * (self.K - 1))
        torch.nn.init.normal_(self.weight, std=math.sqrt(2.0 / fan_in))
        if self.bias is not None:
            torch.nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = self.laplacian.n_vertices
        if x.dim() != 3 or x.shape[1] != n or x.shape[2] != self.in_channels:
            raise ValueError(
                f"x must have shape (batch, {n}, {self.in_channels}) = (batch, vertex, channel), "
                f"got {tuple(x.shape)}"
            )
        batch = x.shape[0]
        backend = resolve_backend(self.backend, x)
        if backend == "fused":
            lap = self.laplacian
            return fused_chebconv(x.transpose(0, 1), lap.index, lap.weight, self.weight, self.bias).transpose(
                0, 1
            )
        basis = chebyshev_basis(self.laplacian, x.transpose(0, 1), self.K, backend)  # (K, V, B, C)
        basis = basis.view(self.K, n * batch, self.in_channels)
        if traced():  # a tracer records plain ops, not a custom autograd function's Python code
            y = _project(basis, self.weight, self.bias)
        else:
            y = _Projection.apply(basis, self.weight, self.bias)
        return y.view(n, batch, self.out_channels).transpose(0, 1)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, K={self.K}, backend={self.backend!r}"


def _project(basis: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``y = Σ_k T_k W_k + b`` for T (K, N, C_in), W (K, C_in, C_out) → (N, C_out), in plain torch ops."""
    y = basis[0] @ weight[0] if bias is None else torch.addmm(bias, basis[0], weight[0])
    for k in range(1, len(weight)):
        y = torch.addmm(y, basis[k], weight[k])
    return y


class _Projection(torch.autograd.Function):
    """:func:`_project` as K accumulating products into one pooled output (:mod:`.buffers`).

    As fast as one (N, K·C_in) product, with no re-layout of the stack; the backward writes the stack's
    gradient in one (K, N, C_in) tensor (autograd through K slices would zero-fill K full-size tensors).
    Under autocast the products run in autocast's dtype, into a new tensor.
    """

    @staticmethod
    def forward(
        ctx: Any, basis: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None
    ) -> torch.Tensor:
        if torch.is_autocast_enabled(basis.device.type):
            y = _project(basis, weight, bias)
        else:
            y = POOL.empty((basis.shape[1], weight.shape[2]), weight.dtype, basis.device)
            torch.mm(basis[0], weight[0], out=y)
            if bias is not None:
                y += bias
            for k in range(1, len(weight)):
                y.addmm_(basis[k], weight[k])
        ctx.save_for_backward(basis if weight.requires_grad else None, weight)
        ctx.has_bias = bias is not None
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        basis, weight = ctx.saved_tensors
        grad = grad.contiguous()  # e.g. the expanded gradient of a sum: the products would copy it K times
        d_basis = d_weight = d_bias = None
        if ctx.needs_input_grad[0]:
            g = grad.to(weight.dtype)
            d_basis = POOL.empty((len(weight), grad.shape[0], weight.shape[1]), weight.dtype, grad.device)
            for k in range(len(weight)):
                torch.mm(g, weight[k].T, out=d_basis[k])
        if ctx.needs_input_grad[1]:
            g = grad.to(basis.dtype)
            d_weight = torch.stack([(basis[k].T @ g).to(weight.dtype) for k in range(len(weight))])
        if ctx.has_bias and ctx.needs_input_grad[2]:
            d_bias = grad.sum(0).to(weight.dtype)
        return d_basis, d_weight, d_bias
