"""The Lightning module of map classification: a :class:`~deepsphere.nn.SphericalCNN` on a patch of sky.

Everything needed to rebuild the model (the config, nside, number of patches, class names, input scale)
is saved in the checkpoint's hyper-parameters, so ``MapClassifier.load_checkpoint(path)`` needs nothing
else; the graphs' Laplacians are buffers and come back from the state dict.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from ..data import patch_sampling
from ..nn import SphericalCNN
from .config import Config, ConfigError, build

MARKER = "deepsphere.map_classifier"


class MapClassifier(L.LightningModule):
    """Cross-entropy classification of patches ``x`` (B, P, 1) into ``len(classes)`` classes.

    Adam with ``optim.lr`` and ``weight_decay``; the learning rate is multiplied by ``optim.lr_decay``
    after every step (the paper: 2e-4 and 0.999). Logs ``{train,val,test}/{loss,acc}``.
    """

    def __init__(self, config: dict[str, Any], nside: int, classes: list[str], scale: float) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.hparams[MARKER] = 1
        self.config: Config = build(Config, config, "")
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
        self._test_predictions: list[torch.Tensor] = []

    @classmethod
    def load_checkpoint(cls, path: str | Path, map_location: str = "cpu") -> MapClassifier:
        """Load a checkpoint written by ``deepsphere train``, or fail with a one-line reason."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"checkpoint {path} does not exist")
        try:
            saved = torch.load(path, map_location=map_location, weights_only=False)
        except Exception as err:
            raise ValueError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
        hparams = saved.get("hyper_parameters", {}) if isinstance(saved, dict) else {}
        if not hparams.get(MARKER):
            raise ValueError(f"{path}: not a deepsphere map-classifier checkpoint (written by another model)")
        try:
            return cls.load_from_checkpoint(path, map_location=map_location)
        except RuntimeError as err:
            raise ValueError(
                f"{path}: the weights do not fit the model ({str(err).splitlines()[0]})"
            ) from None

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
        acc = (logits.argmax(1) == y).float().mean()
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, sync_dist=not on_step)
        self.log(f"{stage}/acc", acc, on_step=on_step, on_epoch=True, prog_bar=True, sync_dist=not on_step)
        if stage == "test":
            self._test_predictions.append(torch.stack([y, logits.argmax(1)], 1).cpu())
        return loss

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "test")

    def on_test_epoch_start(self) -> None:
        self._test_predictions = []

    def test_confusion(self) -> torch.Tensor:
        """(n_classes, n_classes) counts of the last test run: rows true class, columns predicted."""
        pairs = torch.cat(self._test_predictions)
        n = len(self.classes)
        return torch.bincount(pairs[:, 0] * n + pairs[:, 1], minlength=n * n).reshape(n, n)

    def configure_optimizers(self) -> dict[str, Any]:
        o = self.config.optim
        optimizer = torch.optim.Adam(self.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=o.lr_decay)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
