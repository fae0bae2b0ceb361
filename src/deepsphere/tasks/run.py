"""Training, evaluation and prediction runs, as the ``deepsphere`` command does them.

A run folder holds ``config.yaml`` (the resolved config), ``checkpoints/{best,last}.ckpt``,
``logs/version_*/metrics.csv`` (one version per start or resume), and at the end ``report.md``,
``report.json`` and ``figures/*.png``.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import healpy as hp
import lightning as L
import numpy as np
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from ..data import atomic_write, read_healpix_map
from ..data.patches import check_patches
from .baselines import run_baselines
from .config import Config, apply_overrides, build
from .datamodule import MapDataModule, TrackTrainedBatches, prepare_store
from .module import MapClassifier

CONFIG_FILE = "config.yaml"

# Lightning's start-up chatter (GPU/TPU availability, tips, model summary) says nothing about the run.
for _name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda"):
    logging.getLogger(_name).setLevel(logging.WARNING)
warnings.filterwarnings("ignore", message=".*isinstance.treespec, LeafSpec.*")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written to a temporary file and renamed: a killed run never leaves half a checkpoint."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp), overwrite=True)


@dataclass
class RunResult:
    """What a training run measured: test metrics of the CNN and of each baseline, on the same splits."""

    out_dir: Path
    test: dict[str, float]
    confusion: list[list[int]]
    classes: list[str]
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
    say=print,
) -> RunResult | None:
    """Train ``config``'s model, test its best checkpoint and the baselines, write the report.

    Returns the result on the main process (None on the other DDP processes)."""
    start = time.perf_counter()
    out = config.out_dir
    if resume:
        saved = out / CONFIG_FILE
        if not saved.is_file():
            raise ValueError(f"--resume: {out} has no {CONFIG_FILE}")
        config = build(Config, yaml.safe_load(saved.read_text()), "")
    if _is_main():  # DDP's other processes start later, inside fit, in the prepared folder
        prepare_run_dir(out, resume, overwrite)
    ckpt = out / "checkpoints" / "last.ckpt" if resume else None
    L.seed_everything(config.seed, workers=True, verbose=False)
    store = prepare_store(config.data, _progress(say) if _is_main() else None)
    check_patches(store.nside, config.data.patches)
    data = MapDataModule(config, store)
    model = MapClassifier(config.to_dict(), store.nside, list(store.classes), data.scale)
    if _is_main():
        atomic_write(out / CONFIG_FILE, lambda tmp: tmp.write_text(config.to_yaml()), overwrite=True)
        sizes = {s: len(d) for s, d in data.datasets.items()}
        say(
            f"data: {store.n_maps} maps at nside {store.nside} ({', '.join(store.classes)}), "
            f"{config.data.patches} patches each of {data.datasets['train'].size} pixels; samples {sizes}"
        )
        n_params = sum(p.numel() for p in model.parameters())
        say(
            f"model: SphericalCNN, {n_params} parameters, "
            f"channels {config.model.channels}, K={config.model.K}"
        )
    trainer = make_trainer(config, out, list(callbacks))
    trainer.fit(model, datamodule=data, ckpt_path=ckpt)
    if not trainer.is_global_zero:
        return None
    best = Path(trainer.checkpoint_callbacks[0].best_model_path or out / "checkpoints" / "last.ckpt")
    say(f"testing {best.name} on {len(data.datasets['test'])} test samples")
    result = evaluate_model(MapClassifier.load_checkpoint(best), config, data)
    result.out_dir = out
    for name in config.baselines:
        say(f"baseline: linear SVM on {name.replace('_', ' ')} features")
    result.baselines = run_baselines(config.baselines, data, config.seed)
    result.seconds = time.perf_counter() - start
    from .report import write_report

    write_report(result, config, data, MapClassifier.load_checkpoint(best))
    return result


def evaluate_model(model: MapClassifier, config: Config, data: MapDataModule) -> RunResult:
    """Test metrics and confusion matrix of ``model`` on ``data``'s test split."""
    trainer = make_trainer(config, config.out_dir, test=True)
    metrics = trainer.test(model, datamodule=data, verbose=False)[0]
    confusion = model.test_confusion().tolist()
    test = {k.split("/", 1)[1]: float(v) for k, v in metrics.items()}
    return RunResult(config.out_dir, test, confusion, list(model.classes))


def evaluate(checkpoint: str | Path, overrides: list[str] = (), say=print) -> RunResult:
    """Test a checkpoint on its run's test split; ``overrides`` (e.g. ``data.noise=1``) change the data."""
    model = MapClassifier.load_checkpoint(checkpoint)
    raw = model.config.to_dict()
    config = build(Config, apply_overrides(raw, overrides, prefix="data."), "")
    store = prepare_store(config.data, _progress(say))
    if store.nside != model.hparams.nside or list(store.classes) != model.classes:
        raise ValueError(
            f"the data (nside {store.nside}, classes {list(store.classes)}) do not match the checkpoint "
            f"(nside {model.hparams.nside}, classes {model.classes})"
        )
    data = MapDataModule(config, store)
    data.scale = model.hparams.scale
    for d in data.datasets.values():
        d.scale = model.hparams.scale
    return evaluate_model(model, config, data)


def predict(
    checkpoint: str | Path,
    inputs: list[str],
    out: str | Path,
    ordering: str | None = None,
    overwrite: bool = False,
    batch_size: int = 64,
    say=print,
) -> list[Path]:
    """Classify every patch of each full-sky FITS map in ``inputs``; write into ``out``:

    - ``patches.csv``: one row per (file, patch): predicted class and class probabilities;
    - ``maps.csv``: one row per file: the class of the mean probability over its patches;
    - ``<stem>_probability.fits``: per-pixel class probabilities (one column per class, NESTED) at the
      model's coarsest resolution, the full sky assembled from the patches (fully convolutional models).

    Inputs are divided by the training scale; no noise is added (real maps carry their own).
    """
    model = MapClassifier.load_checkpoint(checkpoint).eval()
    nside, n_patches = model.hparams.nside, model.config.data.patches
    out = Path(out)
    targets = [out / "patches.csv", out / "maps.csv"]
    if model.config.model.head == "conv":
        targets += [out / f"{_stem(p)}_probability.fits" for p in inputs]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise ValueError(f"{existing[0]} exists; pass --overwrite to replace the outputs in {out}")
    maps = [read_healpix_map(p, nside, ordering) for p in inputs]  # all checked before anything is written
    size = check_patches(nside, n_patches)
    rows, summary, written = [], [], []
    for path, values in zip(inputs, maps, strict=True):
        x = torch.from_numpy(values.reshape(n_patches, size, 1) / np.float32(model.hparams.scale))
        with torch.no_grad():
            probs = torch.cat([model(b).softmax(1) for b in x.split(batch_size)]).numpy()
        for j, p in enumerate(probs):
            rows.append([path, j, model.classes[int(p.argmax())], *p.round(6).tolist()])
        mean = probs.mean(0)
        summary.append([path, model.classes[int(mean.argmax())], *mean.round(6).tolist()])
        if model.config.model.head == "conv":
            with torch.no_grad():
                pix = torch.cat([model.pixel_logits(b).softmax(2) for b in x.split(batch_size)]).numpy()
            full = pix.reshape(-1, len(model.classes)).T  # patches are consecutive NESTED blocks
            target = out / f"{_stem(path)}_probability.fits"
            column_names = [f"P_{c}"[:68] for c in model.classes]
            atomic_write(
                target,
                lambda tmp, full=full, names=column_names: hp.write_map(
                    str(tmp), list(full.astype(np.float32)), nest=True, overwrite=True, column_names=names
                ),
                overwrite=True,
            )
            written.append(target)
    header = [f"p_{c}" for c in model.classes]
    _write_csv(targets[0], ["file", "patch", "class", *header], rows)
    _write_csv(targets[1], ["file", "class", *header], summary)
    say(f"{len(inputs)} maps × {n_patches} patches classified; wrote {targets[0]}, {targets[1]}")
    return [targets[0], targets[1], *written]


def _stem(path: str | Path) -> str:
    name = Path(path).name
    for suffix in (".fits.gz", ".fits", ".fit"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)

    atomic_write(path, write, overwrite=True)


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


def result_json(result: RunResult) -> str:
    return json.dumps(
        {
            "test": result.test,
            "confusion": result.confusion,
            "classes": result.classes,
            "baselines": result.baselines,
            "seconds": round(result.seconds, 1),
        },
        indent=1,
        default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v),
    )
