"""Batch normalisation of (batch, vertex, channel) tensors."""

from __future__ import annotations

import torch


class BatchNorm(torch.nn.BatchNorm1d):
    """``torch.nn.BatchNorm1d`` over every (batch, vertex) sample of each channel: (B, V, C) → (B, V, C).

    Statistics are per channel over the batch and the vertices, ``y = γ (x − μ) / sqrt(σ² + ε) + β``.
    Reads both batch-major and vertex-major memory without copying (the order of the samples does not
    change the statistics).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[2] != self.num_features:
            raise ValueError(
                f"x must have shape (batch, vertex, {self.num_features}) = (batch, vertex, channel), "
                f"got {tuple(x.shape)}"
            )
        vertex_major = x.transpose(0, 1)
        if vertex_major.is_contiguous():
            return (
                super().forward(vertex_major.reshape(-1, x.shape[2])).view(vertex_major.shape).transpose(0, 1)
            )
        return super().forward(x.reshape(-1, x.shape[2])).view(x.shape)
