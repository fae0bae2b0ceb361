"""Experiments as configs, trained and evaluated with Lightning; the engine of the ``deepsphere`` command.

- :func:`load_config`, :class:`Config` — built-in experiments (``experiments()``) or YAML files,
  with ``section.key=value`` overrides checked against the allowed keys; ``task`` picks the config class
  (:class:`MapsConfig`, …) and the task module (:mod:`deepsphere.tasks.base` says what one provides).
- :func:`train`, :func:`evaluate`, :func:`predict` — a training run (checkpoints, resume, CSV log,
  early stopping, DDP, report and figures), a checkpoint's test metrics, predictions for new maps.
- :class:`TaskModule` — what every task's Lightning module shares (checkpoint loading, optimiser).
- :class:`MapClassifier`, :class:`MapDataModule` — the Lightning module and data of map classification.
"""

from importlib import import_module

from .config import Config, ConfigError, MapsConfig, experiments, load_config

_LAZY = {  # these import Lightning: loaded on first use, so that configs and --help stay fast
    "MapDataModule": "datamodule",
    "prepare_store": "datamodule",
    "MapClassifier": "module",
    "TaskModule": "base",
    "RunResult": "run",
    "evaluate": "run",
    "predict": "run",
    "train": "run",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Config",
    "ConfigError",
    "MapClassifier",
    "MapDataModule",
    "MapsConfig",
    "RunResult",
    "TaskModule",
    "evaluate",
    "experiments",
    "load_config",
    "predict",
    "prepare_store",
    "train",
]
