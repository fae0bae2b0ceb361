"""Torch layers of the spherical CNN (plain PyTorch: no Lightning needed).

Tensors are ``(batch, vertex, channel)``.

- :class:`ChebConv` — Chebyshev graph convolution; :class:`RescaledLaplacian` — its operator
  ``2 L / λmax − I`` as movable, saveable buffers.
- :class:`Pool`, :class:`Unpool`, :class:`LearnedUnpool` — along a sampling's hierarchy (full or partial
  sky); :class:`GlobalPool` — mean / max / variance over the vertices.
- :class:`BatchNorm` — batch normalisation over the vertices; :func:`recalibrate_batch_norm` — its
  statistics re-estimated from batches of data ("precise BN"); :func:`batch_norms` — a model's batch norms.
- :class:`SphericalCNN` (classifier / regressor) and :class:`SphericalUNet` (per-pixel outputs).
"""

from .chebconv import ChebConv
from .laplacian import RescaledLaplacian
from .models import ConvBlock, SphericalCNN, SphericalUNet, sphere_laplacian
from .norm import BatchNorm, batch_norms, recalibrate_batch_norm
from .pooling import GlobalPool, LearnedUnpool, Pool, Unpool

__all__ = [
    "BatchNorm",
    "ChebConv",
    "ConvBlock",
    "GlobalPool",
    "LearnedUnpool",
    "Pool",
    "RescaledLaplacian",
    "SphericalCNN",
    "SphericalUNet",
    "Unpool",
    "batch_norms",
    "recalibrate_batch_norm",
    "sphere_laplacian",
]
