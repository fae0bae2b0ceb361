"""Training, evaluation and prediction runs, as the ``deepsphere`` command does them.

A run folder holds ``config.yaml`` (the resolved config), ``checkpoints/{best,last}.ckpt``,
``logs/version_*/metrics.csv`` (one version per start or resume), and at the end ``report.md``,
``report.json`` and ``figures/*.png``.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.trainer.states import TrainerFn

from ..data import atomic_write
from ..nn import batch_norms, recalibrate_batch_norm
from .base import TaskModule, task_api
from .config import Config, apply_overrides, config_from_dict
from .datamodule import TrackTrainedBatches

CONFIG_FILE = "config.yaml"

# Lightning's start-up chatter (GPU/TPU availability, tips, model summary) says nothing about the run.
for _name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
    logging.getLogger(_name).setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*isinstance.treespec, LeafSpec.*")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file and renamed: a killed run never leaves half a checkpoint."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp), overwrite=True)


class PreciseBatchNorm(L.Callback):
    """Before each validation while fitting, the batch norms' statistics re-estimated from the first
    ``batches`` training batches of the epoch just trained (:func:`~deepsphere.nn.recalibrate_batch_norm`),
    so that validation, the checkpoints and what is tested later use them, not the running averages.
    Under DDP each process estimates them on its share of the batches, then they are averaged."""

    def __init__(self, batches: int) -> None:
        self.batches = batches

    def on_validation_epoch_start(self, trainer: L.Trainer, module: L.LightningModule) -> None:
        norms = batch_norms(module)
        if trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING or not norms:
            return
        inputs = trainer.datamodule.training_inputs(trainer.current_epoch, self.batches)
        with trainer.precision_plugin.forward_context():
            recalibrate_batch_norm(module, (x.to(module.device) for x in inputs))
        for norm in norms:
            for stat in (norm.running_mean, norm.running_var):
                stat.copy_(trainer.strategy.reduce(stat, reduce_op="mean"))


@dataclass
class RunResult:
    """What a run measured: test metrics of the network, the task's details (e.g. the confusion matrix
    and class names) and the baselines' results on the same splits."""

    out_dir: Path
    test: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)
    baselines: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0


def prepare_run_dir(out: Path, resume: bool, overwrite: bool) -> None:
    """Check (and with ``overwrite``, empty) the run folder before anything is written."""
    last = out / "checkpoints" / "last.ckpt"
    if resume:
        if not last.is_file():
            raise ValueError(f"--resume: no {last} to resume from")
        return
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise ValueError(
                f"run folder {out} is not empty; use --resume to continue it, --overwrite to start it "
                "again, or out=… for another folder"
            )
        if not (out / CONFIG_FILE).is_file():
            raise ValueError(
                f"--overwrite: {out} is not a deepsphere run folder (no {CONFIG_FILE}); not deleting it"
            )
        shutil.rmtree(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise ValueError(f"cannot write to the run folder {out}: {err.strerror}") from None


def make_trainer(
    config: Config, out: Path, callbacks: list[L.Callback] = (), test: bool = False
) -> L.Trainer:
    t = config.trainer
    if test:
        return L.Trainer(
            accelerator=t.accelerator,
            devices=1,
            logger=False,
            enable_progress_bar=t.progress,
            precision=t.precision,
            enable_model_summary=False,
        )
    ckpt = out / "checkpoints"
    best = ModelCheckpoint(ckpt, filename="best", monitor="val/loss", mode="min", save_top_k=1)
    last = ModelCheckpoint(
        ckpt, filename="last-step", save_last=True, every_n_train_steps=t.checkpoint_every_n_steps
    )
    last.CHECKPOINT_NAME_LAST = "last"
    cbs: list[L.Callback] = [TrackTrainedBatches(), best, last, *callbacks]
    if t.bn_batches > 0:
        cbs.insert(0, PreciseBatchNorm(t.bn_batches))
    if t.patience > 0:
        cbs.append(EarlyStopping("val/loss", patience=t.patience, mode="min"))
    if t.progress:
        cbs.append(TQDMProgressBar(refresh_rate=10))
    return L.Trainer(
        default_root_dir=out,
        max_epochs=t.max_epochs,
        accelerator=t.accelerator,
        devices=t.devices,
        num_nodes=t.num_nodes,
        strategy=t.strategy,
        precision=t.precision,
        callbacks=cbs,
        logger=CSVLogger(out, name="logs"),
        log_every_n_steps=t.log_every_n_steps,
        enable_progress_bar=t.progress,
        enable_model_summary=False,
        use_distributed_sampler=False,  # our samplers split the data across processes themselves
        deterministic=True,
        plugins=[AtomicCheckpointIO()],
    )


def train(
    config: Config,
    resume: bool = False,
    overwrite: bool = False,
    callbacks: list[L.Callback] = (),
    say: Callable[[str], None] = print,
) -> RunResult | None:
    """Train ``config``'s model, test its best checkpoint and the baselines, write the report.

    Returns the result on the main process (None on the other DDP processes)."""
    start = time.perf_counter()
    out = config.out_dir
    if resume:
        saved = out / CONFIG_FILE
        if not saved.is_file():
            raise ValueError(f"--resume: {out} has no {CONFIG_FILE}")
        config = config_from_dict(yaml.safe_load(saved.read_text()))
    if _is_main():  # DDP's other processes start later, inside fit, in the prepared folder
        prepare_run_dir(out, resume, overwrite)
    ckpt = out / "checkpoints" / "last.ckpt" if resume else None
    L.seed_everything(config.seed, workers=True, verbose=False)
    task = task_api(config.task)
    data, model, lines = task.setup(config, _progress(say) if _is_main() else None)
    if _is_main():
        atomic_write(out / CONFIG_FILE, lambda tmp: tmp.write_text(config.to_yaml()), overwrite=True)
        for line in lines:
            say(line)
    trainer = make_trainer(config, out, list(callbacks))
    trainer.fit(model, datamodule=data, ckpt_path=ckpt)
    if not trainer.is_global_zero:
        return None
    best = Path(trainer.checkpoint_callbacks[0].best_model_path or out / "checkpoints" / "last.ckpt")
    say(f"testing {best.name}")
    best_model = task.Module.load_checkpoint(best)
    result = evaluate_model(best_model, config, data)
    result.baselines = task.baselines(config, data)
    result.seconds = time.perf_counter() - start
    task.write_report(result, config, data, best_model)
    return result


def evaluate_model(model: TaskModule, config: Config, data: L.LightningDataModule) -> RunResult:
    """Test metrics and the task's details (e.g. confusion matrix) of ``model`` on ``data``'s test split."""
    trainer = make_trainer(config, config.out_dir, test=True)
    metrics = trainer.test(model, datamodule=data, verbose=False)[0]
    test = {k.split("/", 1)[1]: float(v) for k, v in metrics.items()}
    return RunResult(config.out_dir, test, task_api(config.task).test_details(model))


def evaluate(
    checkpoint: str | Path, overrides: list[str] = (), say: Callable[[str], None] = print
) -> tuple[RunResult, Config]:
    """Test a checkpoint on its run's test split; ``overrides`` (e.g. ``data.noise=1``) change the data.
    Returns the result and the config it was measured with."""
    model = TaskModule.load_checkpoint(checkpoint)
    config = config_from_dict(apply_overrides(model.config.to_dict(), overrides, prefix="data."))
    task = task_api(config.task)
    data = task.datamodule_for(model, config, _progress(say))
    return evaluate_model(model, config, data), config


def predict(
    checkpoint: str | Path,
    inputs: list[str],
    out: str | Path,
    overwrite: bool = False,
    say: Callable[[str], None] = print,
    **options: Any,
) -> list[Path]:
    """Run a checkpoint on new inputs (the task's own kind of files) and write its outputs into ``out``;
    see each task's ``predict`` (e.g. :func:`deepsphere.tasks.maps.predict`)."""
    model = TaskModule.load_checkpoint(checkpoint)
    task = task_api(model.config.task)
    if not hasattr(task, "predict"):
        raise ValueError(f"predict is not available for {model.config.task} checkpoints")
    return task.predict(model, inputs, Path(out), overwrite=overwrite, say=say, **options)


def _is_main() -> bool:
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def _progress(say):
    last = {"t": 0.0}

    def report(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - last["t"] > 2:
            last["t"] = now
            say(f"{stage}: {done}/{total}")

    return report
