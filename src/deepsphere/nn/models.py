"""Ready models built from a sampling and a short spec: a classifier/regressor and a U-Net.

Each resolution level of the sampling's hierarchy gets its own k-NN graph (built once, shared by the
layers of that level). Full and partial skies work alike: a partial sky's hierarchy is its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..graph import SphereGraph, knn_graph
from .chebconv import ChebConv
from .laplacian import RescaledLaplacian
from .norm import BatchNorm
from .pooling import GlobalPool, LearnedUnpool, Pool, Unpool

HEADS = ("linear", "conv")
UNPOOLS = ("nearest", "learned")


def sphere_laplacian(
    sampling: Any, k: int = 8, graph: Callable[[Any], SphereGraph] | None = None, normalized: bool = False
) -> RescaledLaplacian:
    """The rescaled Laplacian of ``graph(sampling)``, by default ``knn_graph(sampling, min(k, V − 1))``:
    the cap lets the last levels of a small partial sky (a few pixels) still form a complete graph."""
    g = knn_graph(sampling, k=min(k, sampling.npix - 1)) if graph is None else graph(sampling)
    return RescaledLaplacian(g.laplacian(normalized), g.lmax(normalized))


def hierarchy(sampling: Any, n_levels: int, step: int) -> list[Any]:
    """``[sampling, coarser by step, coarser by 2·step, …]``: ``n_levels`` samplings, or a clear error."""
    levels = [sampling]
    for i in range(1, n_levels):
        try:
            levels.append(levels[-1].coarsen(step)[0])
        except ValueError as err:
            raise ValueError(
                f"the model needs {n_levels - 1} poolings by {step} level(s) of {sampling!r}; "
                f"only {i - 1} are possible ({err}). Use fewer channels entries or a finer sampling."
            ) from None
    return levels


class ConvBlock(torch.nn.Sequential):
    """ChebConv → BatchNorm → ReLU (the last two fused, :class:`BatchNorm` with ``relu``):
    (B, V, in_channels) → (B, V, out_channels)."""

    def __init__(self, in_channels: int, out_channels: int, K: int, laplacian: RescaledLaplacian) -> None:
        super().__init__(
            ChebConv(in_channels, out_channels, K, laplacian, bias=False),
            BatchNorm(out_channels, relu=True),
        )


class SphericalCNN(torch.nn.Module):
    """Classifier or regressor of whole maps: the DeepSphere cosmology and SHREC'17 architecture.

    ``len(channels)`` blocks ChebConv→BN→ReLU, each followed by pooling by ``pool_levels`` hierarchy
    levels (4^pool_levels pixels for HEALPix), then

    - ``head="linear"``: global statistics over the vertices (``stats``) and a linear layer (SHREC'17:
      channels 16, 32, 64, 128, 256, K = 4, mean);
    - ``head="conv"``: a last ChebConv to ``n_outputs`` channels averaged over the vertices, the fully
      convolutional variant (cosmology: channels 16, 32, 64, 64, 64, K = 5).

    Both heads are invariant to permutations of the vertices, so the model is rotation-invariant up to
    the graph convolutions' equivariance error.

    Parameters
    ----------
    sampling : Sampling
        The input pixels (full or partial sky); it must allow ``len(channels) · pool_levels`` coarsenings.
    in_channels, n_outputs : int
    channels : sequence of int
    K : int
        Chebyshev order + 1 of every convolution.
    k : int
        Neighbours of each level's k-NN graph.
    graph : callable, optional
        Builds each level's graph from its sampling instead (e.g. ``deepsphere.graph.healpix_graph``).
    pool_levels : int ≥ 0
        Hierarchy levels per pooling (0: no pooling, for non-hierarchical samplings).
    pool : "max" or "avg"
    head : "linear" or "conv"
    stats : statistics of the linear head's global pooling (see :class:`GlobalPool`).

    Shapes: (B, V, in_channels) → (B, n_outputs).
    """

    def __init__(
        self,
        sampling: Any,
        in_channels: int,
        n_outputs: int,
        channels: Sequence[int] = (16, 32, 64, 64, 64),
        K: int = 5,
        k: int = 8,
        pool_levels: int = 1,
        pool: str = "max",
        head: str = "linear",
        stats: Sequence[str] = ("mean",),
        graph: Callable[[Any], SphereGraph] | None = None,
    ) -> None:
        super().__init__()
        channels = _check_channels(channels)
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, got {head!r}")
        if isinstance(pool_levels, bool) or not isinstance(pool_levels, int) or pool_levels < 0:
            raise ValueError(f"pool_levels must be a non-negative integer, got {pool_levels!r}")
        n_levels = len(channels) + 1 if pool_levels else 1
        levels = hierarchy(sampling, n_levels, pool_levels) if pool_levels else [sampling]
        laplacians = [sphere_laplacian(s, k, graph) for s in levels]
        layers: list[torch.nn.Module] = []
        previous = in_channels
        for i, width in enumerate(channels):
            level = i if pool_levels else 0
            layers.append(ConvBlock(previous, width, K, laplacians[level]))
            if pool_levels:
                layers.append(Pool.from_sampling(levels[level], pool_levels, mode=pool))
            previous = width
        self.features = torch.nn.Sequential(*layers)
        if head == "linear":
            self.head = torch.nn.Sequential(
                GlobalPool(tuple(stats)), torch.nn.Linear(previous * len(stats), n_outputs)
            )
        else:
            self.head = torch.nn.Sequential(
                ChebConv(previous, n_outputs, K, laplacians[-1]), GlobalPool(("mean",))
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class SphericalUNet(torch.nn.Module):
    """Encoder–decoder with skip connections for per-pixel outputs (the climate segmentation model).

    Encoder: at level i (i = 0 … L−1, finest first) a ConvBlock to ``channels[i]``, then pooling by
    ``pool_levels`` (except at the bottom). Decoder: from level L−1 up, unpooling (``"nearest"`` copies the
    parent, ``"learned"`` is :class:`LearnedUnpool` to ``channels[i]``), concatenation with the encoder's
    level-i output, a ConvBlock to ``channels[i]``. A last ChebConv maps to ``n_outputs`` per pixel.
    Parameters as in :class:`SphericalCNN`; ``len(channels)`` levels need ``len(channels) − 1`` poolings.

    Shapes: (B, V, in_channels) → (B, V, n_outputs).
    """

    def __init__(
        self,
        sampling: Any,
        in_channels: int,
        n_outputs: int,
        channels: Sequence[int] = (32, 64, 128, 256),
        K: int = 4,
        k: int = 8,
        pool_levels: int = 1,
        pool: str = "max",
        unpool: str = "nearest",
        graph: Callable[[Any], SphereGraph] | None = None,
    ) -> None:
        super().__init__()
        channels = _check_channels(channels)
        if unpool not in UNPOOLS:
            raise ValueError(f"unpool must be one of {UNPOOLS}, got {unpool!r}")
        levels = hierarchy(sampling, len(channels), pool_levels)
        laplacians = [sphere_laplacian(s, k, graph) for s in levels]
        self.encoders = torch.nn.ModuleList()
        self.pools = torch.nn.ModuleList()
        previous = in_channels
        for i, width in enumerate(channels):
            self.encoders.append(ConvBlock(previous, width, K, laplacians[i]))
            if i < len(channels) - 1:
                self.pools.append(Pool.from_sampling(levels[i], pool_levels, mode=pool))
            previous = width
        self.unpools = torch.nn.ModuleList()
        self.decoders = torch.nn.ModuleList()
        for i in range(len(channels) - 2, -1, -1):
            if unpool == "learned":
                self.unpools.append(
                    LearnedUnpool.from_sampling(levels[i], previous, channels[i], pool_levels)
                )
                up_channels = channels[i]
            else:
                self.unpools.append(Unpool.from_sampling(levels[i], pool_levels))
                up_channels = previous
            self.decoders.append(ConvBlock(up_channels + channels[i], channels[i], K, laplacians[i]))
            previous = channels[i]
        self.output = ChebConv(previous, n_outputs, K, laplacians[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, encoder in enumerate(self.encoders):
            x = encoder(x)
            if i < len(self.pools):
                skips.append(x)
                x = self.pools[i](x)
        for unpool, decoder in zip(self.unpools, self.decoders, strict=True):
            up, skip = unpool(x).transpose(0, 1), skips.pop().transpose(0, 1)
            x = decoder(torch.cat([up, skip], dim=2).transpose(0, 1))  # concatenated in vertex-major memory
        return self.output(x)


def _check_channels(channels: Sequence[int]) -> tuple[int, ...]:
    values = tuple(channels)
    if not values or any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in values):
        raise ValueError(f"channels must be a non-empty sequence of positive integers, got {channels!r}")
    return values
