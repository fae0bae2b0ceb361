"""A tiny cosmology experiment (nside 32, 48 patches of 256 pixels) shared by the task tests."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TINY = [
    "data.make.nside=32",
    "data.make.maps_per_class=5",
    "data.make.kappa_std=0.02",
    "data.patches=48",
    "data.batch_size=16",
    "data.noise=0.5",
    "model.channels=[4,8]",
    "model.K=3",
    "optim.lr=3e-3",
    "trainer.max_epochs=2",
    "trainer.checkpoint_every_n_steps=5",
    "trainer.accelerator=cpu",
]


@pytest.fixture(scope="session")
def tiny() -> list[str]:
    """Config overrides of the tiny experiment."""
    return list(TINY)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One data cache for the session: the tiny data set is made once."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def run_cli(cache_dir):
    """Run ``python -m deepsphere ARGS`` in a subprocess with the shared cache."""

    def run(*args: str, cwd: Path, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        env = dict(os.environ, DEEPSPHERE_CACHE=str(cache_dir), OMP_NUM_THREADS="1")
        done = subprocess.run(
            [sys.executable, "-m", "deepsphere", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"deepsphere {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    return run


@pytest.fixture(scope="session")
def train_tiny(tmp_path_factory, cache_dir):
    """``train_tiny(EXPERIMENT, OVERRIDES)`` runs ``deepsphere train EXPERIMENT OVERRIDES out=run --quiet``
    in a fresh folder with the shared cache and returns (folder, completed process)."""

    def train(experiment: str, overrides: list[str]):
        cwd = tmp_path_factory.mktemp(experiment)
        env = dict(os.environ, DEEPSPHERE_CACHE=str(cache_dir), OMP_NUM_THREADS="1")
        command = [sys.executable, "-m", "deepsphere", "train", experiment, *overrides, "out=run", "--quiet"]
        done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stdout + done.stderr
        return cwd, done

    return train


@pytest.fixture
def reestimated_bn(cache_dir, monkeypatch):
    """``reestimated_bn(checkpoint, epoch, rank=0, world=1)`` → (the checkpoint's batch norms, the same
    model's batch norms re-estimated on that process's share of ``epoch``'s first 32 training batches,
    the number of batches used)."""
    import copy
    from types import SimpleNamespace

    from deepsphere.nn import batch_norms, recalibrate_batch_norm
    from deepsphere.tasks.base import TaskModule, task_api

    monkeypatch.setenv("DEEPSPHERE_CACHE", str(cache_dir))

    def reestimate(checkpoint: Path, epoch: int, rank: int = 0, world: int = 1):
        model = TaskModule.load_checkpoint(checkpoint)
        data = task_api(model.config.task).datamodule_for(model, model.config, None)
        data.trainer = SimpleNamespace(global_rank=rank, world_size=world)
        again = copy.deepcopy(model)
        used = recalibrate_batch_norm(again, data.training_inputs(epoch, 32))
        return batch_norms(model), batch_norms(again), used

    return reestimate
