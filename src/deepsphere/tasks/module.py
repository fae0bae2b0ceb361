"""The Lightning module of map classification: a :class:`~deepsphere.nn.SphericalCNN` on a patch of sky.

Everything needed to rebuild the model (the config, nside, number of patches, class names, input scale)
is saved in the checkpoint's hyper-parameters, so ``MapClassifier.load_checkpoint(path)`` needs nothing
else; the graphs' Laplacians are buffers and come back from the state dict.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..analysis.segmentation import confusion_matrix
from ..data import patch_sampling
from ..nn import SphericalCNN
from .base import TaskModule
from .config import ConfigError, MapsConfig


class MapClassifier(TaskModule):
    """Cross-entropy classification of patches ``x`` (B, P, 1) into ``len(classes)`` classes.

    Logs ``{train,val,test}/{loss,acc}``; optimiser and schedule as :class:`TaskModule`.
    """

    config: MapsConfig

    def __init__(self, config: dict[str, Any], nside: int, classes: list[str], scale: float) -> None:
        super().__init__(config, nside=nside, classes=list(classes), scale=scale)
        self.classes = list(classes)
        m = self.config.model
        try:
            self.model = SphericalCNN(
                patch_sampling(nside, self.config.data.patches),
                in_channels=1,
                n_outputs=len(classes),
                channels=m.channels,
                K=m.K,
                k=m.k,
                pool_levels=m.pool_levels,
                pool=m.pool,
                head=m.head,
            )
        except ValueError as err:
            raise ConfigError(f"model: {err}") from None
        self._test: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P, 1) → class logits (B, n_classes)."""
        return self.model(x)

    def pixel_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P, 1) → per-pixel class logits (B, V_coarse, n_classes) before the head's averaging
        (``head="conv"`` only)."""
        if self.config.model.head != "conv":
            raise ValueError("per-pixel outputs need model.head='conv' (a fully convolutional model)")
        return self.model.head[0](self.model.features(x))

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        self.log_metrics(stage, {"loss": loss, "acc": (logits.argmax(1) == y).float().mean()})
        if stage == "test":
            self._test.append(torch.stack([y, logits.argmax(1)], 1).cpu())
        return loss

    def test_confusion(self) -> np.ndarray:
        """(n_classes, n_classes) counts of the last test run: rows true class, columns predicted."""
        pairs = torch.cat(self._test).numpy()
        return confusion_matrix(pairs[:, 0], pairs[:, 1], len(self.classes))
