"""Two CPU processes with Lightning's DDP strategy (gloo) train the tiny experiment to the end."""

import copy
import json
from types import SimpleNamespace

import torch

from deepsphere.nn import BatchNorm, recalibrate_batch_norm
from deepsphere.tasks.base import TaskModule, task_api


def test_ddp_two_processes_gloo(tmp_path, tiny, run_cli, cache_dir, monkeypatch):
    done = run_cli(
        "train",
        "cosmo",
        *tiny,
        "baselines=[]",
        "figures=false",
        "trainer.max_epochs=1",
        "trainer.devices=2",
        "trainer.strategy=ddp",
        "out=ddp",
        "--quiet",
        cwd=tmp_path,
    )
    assert "DeepSphere CNN" in done.stdout
    report = json.loads((tmp_path / "ddp/report.json").read_text())
    assert sum(map(sum, report["confusion"])) == 96
    saved = torch.load(tmp_path / "ddp/checkpoints/best.ckpt", map_location="cpu", weights_only=False)
    assert saved["global_step"] == 9  # 288 samples / 2 processes / batch 16: half the single-process steps

    # Batch-norm statistics: each process re-estimated them on its half of the epoch's batches and the
    # checkpoint holds their average (recomputed here, one process at a time).
    monkeypatch.setenv("DEEPSPHERE_CACHE", str(cache_dir))
    model = TaskModule.load_checkpoint(tmp_path / "ddp/checkpoints/best.ckpt")
    per_rank = []
    for rank in (0, 1):
        data = task_api(model.config.task).datamodule_for(model, model.config, None)
        data.trainer = SimpleNamespace(global_rank=rank, world_size=2)
        again = copy.deepcopy(model)
        assert recalibrate_batch_norm(again, data.training_inputs(0, 32)) == 9
        per_rank.append([m.running_mean for m in again.modules() if isinstance(m, BatchNorm)])
    means = [m.running_mean for m in model.modules() if isinstance(m, BatchNorm)]
    for mean, first, second in zip(means, *per_rank, strict=True):
        torch.testing.assert_close(mean, (first + second) / 2)
        assert not torch.allclose(first, second)  # the processes did see different batches
