"""Batch normalisation of (batch, vertex, channel) tensors, and re-estimation of its statistics."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.autograd.function import once_differentiable

from . import _fused
from .buffers import POOL, traced


class BatchNorm(torch.nn.BatchNorm1d):
    """``torch.nn.BatchNorm1d`` over every (batch, vertex) sample of each channel: (B, V, C) → (B, V, C).

    Statistics are per channel over the batch and the vertices, ``y = γ (x − μ) / sqrt(σ² + ε) + β``, then
    ``max(y, 0)`` if ``relu`` (ConvBlock's activation, fused into the same passes). Reads both batch-major
    and vertex-major memory without copying (the order of the samples does not change the statistics);
    the output has the input's layout. Parameters, buffers and running statistics are BatchNorm1d's.

    Kernel: with batch statistics (training) on float32 CPU tensors, outside ``torch.compile``, ONNX
    export and autocast, and where the C kernels of :mod:`._fused` build, two passes forward (statistics,
    then normalisation and ReLU) and two backward, with the sums in float64: faster than torch's batch norm
    and ReLU (``benchmarks/bench_model.py``: 6.2 against 15.5 ms per cosmology CNN step, 5.9 against
    12.7 per U-Net step) and accurate where torch's float32 backward is not (262 144 rows of mean 1 and
    spread 3: input gradient off by 9 % of its largest value against float64, ours by 1e-7). Elsewhere
    (evaluation, other devices and dtypes, tracing) torch's batch norm and ReLU.
    """

    def __init__(self, num_features: int, *args: Any, relu: bool = False, **kwargs: Any) -> None:
        super().__init__(num_features, *args, **kwargs)
        self.relu = relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[2] != self.num_features:
            raise ValueError(
                f"x must have shape (batch, vertex, {self.num_features}) = (batch, vertex, channel), "
                f"got {tuple(x.shape)}"
            )
        vertex_major = x.transpose(0, 1)
        if vertex_major.is_contiguous():
            return self._rows(vertex_major.reshape(-1, x.shape[2])).view(vertex_major.shape).transpose(0, 1)
        return self._rows(x.reshape(-1, x.shape[2])).view(x.shape)

    def _rows(self, x: torch.Tensor) -> torch.Tensor:
        """The layer on (N, C) rows."""
        batch_statistics = self.training or self.running_mean is None
        if batch_statistics and x.shape[0] > 1 and _fused_kernel_runs(x, self.weight, self.bias):
            y, mean, var = _FusedBatchNorm.apply(x, self.weight, self.bias, self.eps, self.relu)
            if self.training and self.track_running_stats:
                self._update_running_statistics(mean, var, x.shape[0])
            return y
        y = super().forward(x)
        return torch.relu(y) if self.relu else y

    @torch.no_grad()
    def _update_running_statistics(self, mean: torch.Tensor, var: torch.Tensor, n: int) -> None:
        """As BatchNorm1d: an exponential average (``momentum``) or, with momentum None, the cumulative one;
        the variance unbiased (n / (n − 1))."""
        self.num_batches_tracked += 1
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.lerp_(mean, factor)
        self.running_var.lerp_(var * (n / (n - 1)), factor)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", relu=True" if self.relu else "")


def _fused_kernel_runs(x: torch.Tensor, *params: torch.Tensor | None) -> bool:
    """Whether the C kernel takes rows ``x`` and the affine ``params``: contiguous float32 on the CPU,
    outside tracing and autocast, with the library built."""
    cpu32 = x.device.type == "cpu" and x.dtype == torch.float32 and not torch.is_autocast_enabled("cpu")
    params32 = all(p is None or p.dtype == torch.float32 for p in params)
    return cpu32 and params32 and not traced() and x.is_contiguous() and _fused.available()


class _FusedBatchNorm(torch.autograd.Function):
    """(N, C) → (y, batch mean, biased batch variance); the statistics are not differentiable.

    Backward, with g the output gradient (zero where the ReLU cut) and x̂ = (x − μ) / sqrt(σ² + ε):
    ``dβ = Σ g``, ``dγ = Σ g x̂``, ``dx = γ / sqrt(σ² + ε) · (g − dβ / N − x̂ dγ / N)``.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor | None,
        bias: torch.Tensor | None,
        eps: float,
        relu: bool,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, c = x.shape
        gamma, beta = (None if p is None else p.detach() for p in (weight, bias))
        mean, invstd = torch.empty(c, dtype=torch.float64), torch.empty(c, dtype=torch.float64)
        var, y = torch.empty(c), POOL.empty((n, c), torch.float32)
        status = _fused._library().bn_forward(
            n, c, x.data_ptr(), _fused._ptr(gamma), _fused._ptr(beta), eps, relu, y.data_ptr(),
            mean.data_ptr(), invstd.data_ptr(), var.data_ptr(), torch.get_num_threads(),
        )  # fmt: skip
        if status != 0:
            raise MemoryError("bn_forward: out of memory")
        ctx.save_for_backward(x, y if relu else None, weight, mean, invstd)
        ctx.relu = relu
        mean32 = mean.float()
        ctx.mark_non_differentiable(mean32, var)
        return y, mean32, var

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor, *_: Any) -> tuple[torch.Tensor | None, ...]:
        x, y, weight, mean, invstd = ctx.saved_tensors
        y = x if y is None else y  # without ReLU the kernel reads it but ignores it
        n, c = x.shape
        need_x, need_weight, need_bias = ctx.needs_input_grad[:3]
        g = grad.float().contiguous()
        dx = POOL.empty((n, c), torch.float32) if need_x else None
        d_weight, d_bias = (torch.empty(c) if need else None for need in (need_weight, need_bias))
        status = _fused._library().bn_backward(
            n, c, g.data_ptr(), y.data_ptr(), x.data_ptr(), ctx.relu, _fused._ptr(weight), mean.data_ptr(),
            invstd.data_ptr(), *map(_fused._ptr, (dx, d_weight, d_bias)), torch.get_num_threads(),
        )  # fmt: skip
        if status != 0:
            raise MemoryError("bn_backward: out of memory")
        return dx, d_weight, d_bias, None, None


def batch_norms(model: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    """The batch norms of ``model`` (ours and torch's) that keep running statistics."""
    return [
        m
        for m in model.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]


def recalibrate_batch_norm(model: torch.nn.Module, inputs: Iterable[torch.Tensor]) -> int:
    """Re-estimate the running statistics of every batch norm in ``model`` from ``inputs`` ("precise BN").

    The running mean and variance become plain averages of the per-batch statistics over the batches of
    ``inputs`` (each ``model(x)``-ready, e.g. (B, V, C)), computed in training mode without gradients; the
    model's parameters, momenta and train/eval modes are left as they were. Why: the exponential average
    kept during training (momentum 0.1: mostly the last ~10 batches, made with older weights) can be off
    by more than the signal a classifier rests on — in the cosmology run, validation sat at chance
    (0.50) for three epochs while the same weights with re-estimated statistics scored 0.74–0.79.

    Returns the number of batches used; raises ValueError if ``inputs`` is empty or the model has no
    batch norm.
    """
    norms = batch_norms(model)
    if not norms:
        raise ValueError("model has no batch norm layer with running statistics to recalibrate")
    momenta = [m.momentum for m in norms]
    old_stats = [{k: v.clone() for k, v in m.named_buffers()} for m in norms]
    modes = {m: m.training for m in model.modules()}
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average over the batches
    model.train()
    used = 0
    try:
        with torch.no_grad():
            for x in inputs:
                model(x)
                used += 1
        if used == 0:
            raise ValueError("inputs gave no batch to estimate the batch-norm statistics from")
    except BaseException:
        for m, stats in zip(norms, old_stats, strict=True):  # the old statistics, not a partial estimate
            for k, v in m.named_buffers():
                v.copy_(stats[k])
        raise
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        for m, training in modes.items():
            m.training = training
    return used
