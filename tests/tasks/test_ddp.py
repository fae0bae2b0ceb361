"""Two CPU processes with Lightning's DDP strategy (gloo) train the tiny experiment to the end."""

import json


def test_ddp_two_processes_gloo(tmp_path, tiny, run_cli):
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
    import torch

    saved = torch.load(tmp_path / "ddp/checkpoints/best.ckpt", map_location="cpu", weights_only=False)
    assert saved["global_step"] == 9  # 288 samples / 2 processes / batch 16: half the single-process steps
