"""What every task's Lightning module shares: the config in the checkpoint, loading, optimiser and schedule.

A task (``maps``, ``shapes``, ``climate``, ``ghcn``) is a module of this package exposing

- ``Module`` — its :class:`TaskModule` subclass;
- ``setup(config, progress) -> (datamodule, model, lines)`` — data and a fresh model (``lines``: what to
  print about them);
- ``datamodule_for(model, config, progress)`` — the data a checkpoint is evaluated on;
- ``test_details(model) -> dict`` — what the last test run measured beyond the logged metrics (e.g. the
  confusion matrix), saved in ``report.json``;
- ``baselines(config, data) -> dict`` — classical methods on the same splits (may be empty);
- ``summary(result, config) -> list[str]`` — the lines ``deepsphere train`` and ``evaluate`` print;
- ``write_report(result, config, data, model) -> list[Path]`` — report and figures in the run folder;
- ``predict(model, inputs, out, overwrite, say, **options) -> list[Path]`` (optional).
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

import lightning as L
import torch

from .config import TASKS, Config, config_from_dict

MARKER = "deepsphere.task"


def task_api(name: str) -> ModuleType:
    """The module implementing task ``name`` (see the module docstring)."""
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; tasks are {sorted(TASKS)}")
    return import_module(f".{name}", __package__)


class TaskModule(L.LightningModule):
    """A Lightning module whose checkpoint rebuilds it alone: the config dict and ``extra`` constructor
    arguments are its hyper-parameters; graphs are buffers, restored from the state dict.

    Optimiser: ``optim.name`` (adam or rmsprop) with ``optim.lr`` and ``weight_decay``; the learning
    rate is multiplied by ``optim.lr_decay`` after every step.
    """

    def __init__(self, config: dict[str, Any], **extra: Any) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config, **extra})
        self.config: Config = config_from_dict(config)
        self.hparams[MARKER] = self.config.task

    @classmethod
    def load_checkpoint(cls, path: str | Path, map_location: str = "cpu") -> TaskModule:
        """Load a checkpoint written by ``deepsphere train`` (any task when called on TaskModule), or fail
        with a one-line reason."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"checkpoint {path} does not exist")
        try:
            saved = torch.load(path, map_location=map_location, weights_only=False)
        except Exception as err:
            raise ValueError(f"{path}: not a readable checkpoint ({type(err).__name__}: {err})") from None
        hparams = saved.get("hyper_parameters", {}) if isinstance(saved, dict) else {}
        task = hparams.get(MARKER)
        if task not in TASKS:
            raise ValueError(f"{path}: not a deepsphere checkpoint (written by another program or model)")
        module = task_api(task).Module
        if not issubclass(module, cls):
            raise ValueError(f"{path}: a {task} checkpoint, not a {cls.__name__} one")
        try:
            return module.load_from_checkpoint(path, map_location=map_location)
        except RuntimeError as err:
            raise ValueError(
                f"{path}: the weights do not fit the model ({str(err).splitlines()[0]})"
            ) from None

    def _step(self, batch: Any, stage: str) -> torch.Tensor:
        """The loss of ``batch``, logged for ``stage`` (train, val or test); test outputs kept in
        ``self._test`` for the task's ``test_details``."""
        raise NotImplementedError

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._step(batch, "test")

    def on_test_epoch_start(self) -> None:
        self._test: list[Any] = []

    def log_metrics(self, stage: str, metrics: dict[str, torch.Tensor]) -> None:
        """Log ``{stage}/{name}``: per step and epoch while training, per epoch (synchronised) otherwise."""
        on_step = stage == "train"
        for name, value in metrics.items():
            self.log(
                f"{stage}/{name}", value, on_step=on_step, on_epoch=True, prog_bar=True, sync_dist=not on_step
            )

    def configure_optimizers(self) -> dict[str, Any]:
        o = self.config.optim
        optimizers = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}
        optimizer = optimizers[o.name](self.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=o.lr_decay)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
