"""Two CPU processes with Lightning's DDP strategy (gloo) train the tiny experiment to the end."""

import json

import torch


def test_ddp_two_processes_gloo(tmp_path, tiny, run_cli, reestimated_bn):
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
    per_rank = []
    for rank in (0, 1):
        norms, again, used = reestimated_bn(tmp_path / "ddp/checkpoints/best.ckpt", 0, rank, 2)
        assert used == 9
        per_rank.append([m.running_mean for m in again])
    for norm, first, second in zip(norms, *per_rank, strict=True):
        torch.testing.assert_close(norm.running_mean, (first + second) / 2)
        assert not torch.allclose(first, second)  # the processes did see different batches
