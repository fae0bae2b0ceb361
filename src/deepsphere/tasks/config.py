"""Experiment configs: typed sections, read from YAML, any value overridable as ``section.key=value``.

A config is a :class:`Config` of dataclass sections. :func:`load_config` takes a built-in experiment's name
(the YAML files in ``deepsphere/tasks/experiments/``) or a path to a YAML file, applies overrides, and
checks every key and type: a mistyped key fails with the allowed keys and the closest match.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml


@dataclass
class MakeConfig:
    """The built-in data set's generator (``deepsphere data make``): log-normal convergence maps."""

    nside: int = 256
    maps_per_class: int = 20
    kappa_std: float = 0.04
    smoothing_arcmin: float | None = None  # Gaussian FWHM; None: 2 pixels
    z_source: float = 1.0
    seed: int = 0


@dataclass
class DataConfig:
    root: str | None = None  # folder of FITS maps; None: the built-in data set (made once, cached)
    ordering: str | None = None  # RING or NESTED to override the files' ORDERING header
    cache: str | None = None  # where memory-mapped stores and made data go (default ~/.cache/deepsphere)
    make: MakeConfig = field(default_factory=MakeConfig)
    patches: int = 192  # the sphere cut into 12·4^m equal-area patches: 12, 48, 192, …
    noise: float = 0.5  # white-noise std per pixel, in units of the training maps' pixel std
    split: list[float] = field(default_factory=lambda: [0.6, 0.2, 0.2])  # train/val/test, by whole maps
    batch_size: int = 32
    num_workers: int = 0


@dataclass
class ModelConfig:
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 64, 64])
    K: int = 5
    k: int = 8
    pool: str = "avg"
    pool_levels: int = 1
    head: str = "conv"


@dataclass
class OptimConfig:
    name: str = "adam"  # adam or rmsprop
    lr: float = 1e-3
    lr_decay: float = 0.998  # multiplied into the learning rate after every step
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in ("adam", "rmsprop"):
            raise ConfigError(f"optim.name must be adam or rmsprop, got {self.name!r}")


@dataclass
class TrainerConfig:
    max_epochs: int = 12
    accelerator: str = "auto"  # cpu, gpu, auto
    devices: int | str = 1  # a count, or "auto"
    num_nodes: int = 1
    strategy: str = "auto"  # e.g. ddp, ddp_spawn (Lightning's strategies)
    precision: str = "32-true"  # e.g. 16-mixed, bf16-mixed
    patience: int = 6  # early stopping after this many epochs without a better val/loss; 0: never
    checkpoint_every_n_steps: int = 50  # also save last.ckpt mid-epoch, to resume after an interruption
    log_every_n_steps: int = 10
    progress: bool = True
    # before each validation, batch norms' statistics re-estimated on this many of the epoch's training
    # batches (deepsphere.nn.recalibrate_batch_norm); 0: keep the running averages
    bn_batches: int = 32

    def __post_init__(self) -> None:
        if self.bn_batches < 0:
            raise ConfigError(f"trainer.bn_batches must be >= 0 (0: off), got {self.bn_batches!r}")


@dataclass
class Config:
    """The sections every experiment has; each task adds its ``data`` and ``model`` (see ``TASKS``)."""

    name: str = "experiment"
    task: str = "maps"  # what is learned: one of TASKS (maps, shapes, climate, ghcn)
    seed: int = 0
    out: str = "runs/{name}"  # the run folder; {name} is replaced by the config's name
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    figures: bool = True

    @property
    def out_dir(self) -> Path:
        return Path(self.out.format(name=self.name))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


@dataclass
class MapsConfig(Config):
    """Classification of partial-sky patches of HEALPix maps (the cosmology experiment)."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    baselines: list[str] = field(default_factory=lambda: ["power_spectrum", "histogram"])


@dataclass
class ShapesMakeConfig:
    """The built-in synthetic shape set (``deepsphere.data.make_shapes``): trimesh primitives."""

    per_class: int = 40
    classes: list[str] | None = None  # a subset of box, sphere, cylinder, cone, capsule, torus; None: all
    seed: int = 0


@dataclass
class ShapesDataConfig:
    root: str | None = None  # a SHREC'17 or ModelNet40 folder; None: the built-in synthetic set
    format: str = "shrec17"  # the root's layout: shrec17 or modelnet
    perturbed: bool = False  # SHREC'17: the randomly rotated ("perturbed") meshes
    make: ShapesMakeConfig = field(default_factory=ShapesMakeConfig)
    sampling: str = "healpix"  # healpix (nside) or equiangular (bandwidth: 2b × 2b SOFT grid)
    nside: int = 32
    bandwidth: int = 64
    augment: int = 3  # random translations per shape (each a sample); the papers: 3
    translation: float = 0.1  # largest translation, in units of the bounding sphere's radius
    rotate: bool = False  # a random SO(3) rotation per sample (train and test)
    val_fraction: float = 0.1  # ModelNet has no validation split: this share of train shapes
    on_bad: str = "skip"  # unreadable or degenerate meshes: skip (listed) or error
    cache: str | None = None  # where projected features go (default ~/.cache/deepsphere)
    batch_size: int = 32
    num_workers: int = 0


@dataclass
class ShapesModelConfig:
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256])
    K: int = 4
    k: int = 8
    pool: str = "max"
    triplet_weight: float = 1.0  # cross-entropy + weight × triplet loss on the global features
    triplet_margin: float = 1.0


@dataclass
class ShapesConfig(Config):
    """3D shape classification and retrieval: meshes cast onto a sphere of rays (SHREC'17, ModelNet40)."""

    data: ShapesDataConfig = field(default_factory=ShapesDataConfig)
    model: ShapesModelConfig = field(default_factory=ShapesModelConfig)


@dataclass
class ClimateMakeConfig:
    """The built-in synthetic climate set (``deepsphere.data.make_climate``): smooth fields with events."""

    level: int = 5  # icosahedral level of the mesh: 10 · 4^level + 2 vertices
    n_steps: int = 48  # time steps (files)
    seed: int = 0


@dataclass
class ClimateDataConfig:
    root: str | None = None  # a folder in the UGSCNN climate format; None: the built-in synthetic set
    make: ClimateMakeConfig = field(default_factory=ClimateMakeConfig)
    level: int = 5  # icosahedral level of the files' mesh (the real set: 5)
    cache: str | None = None
    batch_size: int = 8
    num_workers: int = 0


@dataclass
class ClimateModelConfig:
    channels: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    K: int = 4
    k: int = 6
    pool: str = "max"
    unpool: str = "nearest"
    loss_weights: str = "balanced"  # balanced (inverse class frequency of the train split) or none


@dataclass
class ClimateConfig(Config):
    """Per-vertex segmentation of extreme weather events (background, tropical cyclone, atmospheric river)."""

    data: ClimateDataConfig = field(default_factory=ClimateDataConfig)
    model: ClimateModelConfig = field(default_factory=ClimateModelConfig)


@dataclass
class GHCNMakeConfig:
    """The built-in synthetic GHCN-Daily set (``deepsphere.data.make_ghcn``), in the real formats."""

    n_stations: int = 400
    years: int = 3
    seed: int = 0


@dataclass
class GHCNDataConfig:
    root: str | None = None  # a folder with ghcnd-stations.txt and the .dly files; None: built-in set
    make: GHCNMakeConfig = field(default_factory=GHCNMakeConfig)
    target: str = "forecast"  # forecast (tomorrow's TMIN, TMAX) or day_of_year (from one day's field)
    past_days: int = 5  # forecast: days of TMIN, TMAX given as input
    first_year: int | None = None  # None: the data's first year
    last_year: int | None = None
    min_valid: float = 0.8  # keep stations with values on at least this share of days (dense subset)
    max_stations: int | None = None  # a random subset of this many stations (sparse subset); None: all
    split: list[float] = field(default_factory=lambda: [0.7, 0.15, 0.15])  # train/val/test, in time order
    cache: str | None = None
    batch_size: int = 16
    num_workers: int = 0


@dataclass
class GHCNModelConfig:
    channels: list[int] = field(default_factory=lambda: [50, 100, 100])
    K: int = 5
    k: int = 5


@dataclass
class GHCNConfig(Config):
    """Weather from GHCN-Daily stations on an irregular sampling: forecasting, or the day of the year."""

    data: GHCNDataConfig = field(default_factory=GHCNDataConfig)
    model: GHCNModelConfig = field(default_factory=GHCNModelConfig)
    baselines: list[str] = field(default_factory=lambda: ["K=1"])  # the same network without neighbours


TASKS: dict[str, type[Config]] = {
    "maps": MapsConfig,
    "shapes": ShapesConfig,
    "climate": ClimateConfig,
    "ghcn": GHCNConfig,
}


class ConfigError(ValueError):
    """A config that cannot be used; the message names the key."""


def experiments() -> list[str]:
    """Names of the built-in experiments."""
    folder = resources.files("deepsphere.tasks") / "experiments"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_config(name_or_path: str, overrides: list[str] = ()) -> Config:
    """A built-in experiment by name, or a YAML file, with ``key.sub=value`` overrides applied."""
    builtin = resources.files("deepsphere.tasks") / "experiments" / f"{name_or_path}.yaml"
    if builtin.is_file():
        text = builtin.read_text()
    elif Path(name_or_path).is_file():
        text = Path(name_or_path).read_text()
    else:
        raise ConfigError(
            f"unknown experiment {name_or_path!r}: built-in experiments are {experiments()}, "
            "or give the path of a YAML config file"
        )
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{name_or_path}: not valid YAML ({err})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{name_or_path}: a config must be a mapping of keys, got {type(raw).__name__}")
    return config_from_dict(apply_overrides(raw, overrides))


def config_from_dict(raw: Any) -> Config:
    """The config of ``raw['task']`` (default ``maps``) built from the mapping ``raw``."""
    if not isinstance(raw, dict):
        raise ConfigError(f"a config must be a mapping of keys, got {type(raw).__name__}")
    task = raw.get("task", "maps")
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; tasks are {sorted(TASKS)}")
    return build(TASKS[task], raw, "")


def apply_overrides(raw: dict, overrides: list[str], prefix: str = "") -> dict:
    """Set each ``section.key=value`` of ``overrides`` (values read as YAML) in the mapping ``raw``;
    every key must start with ``prefix``. Returns ``raw``."""
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} must look like section.key=value, e.g. data.noise=1.5")
        if not key.startswith(prefix):
            raise ConfigError(f"only {prefix}* keys can be changed here, got {key!r}")
        _set_key(raw, key.split("."), yaml.safe_load(value) if value.strip() else None, key)
    return raw


def _set_key(raw: dict, path: list[str], value: Any, key: str) -> None:
    node = raw
    for part in path[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {key}: {part!r} is a value, not a section")
    node[path[-1]] = value


def build(cls: type, raw: Any, prefix: str) -> Any:
    """The dataclass ``cls`` from a mapping, checking keys and types (``prefix``: for messages)."""
    where = prefix.rstrip(".") or "the config"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be a mapping of keys, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    values = {}
    for key, value in raw.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean '{prefix}{close[0]}'?)" if close else ""
            raise ConfigError(f"unknown config key '{prefix}{key}'{hint}; allowed keys of {where}: {names}")
        values[key] = _coerce(value, hints[key], f"{prefix}{key}")
    return cls(**values)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    if dataclasses.is_dataclass(hint):
        return build(hint, value if value is not None else {}, f"{key}.")
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _coerce(value, option, key)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0])
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list of {item.__name__}, got {value!r}")
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML reads 2e-4 (no dot) as a string
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value)
    raise ConfigError(f"{key} must be {getattr(hint, '__name__', hint)}, got {value!r}")
