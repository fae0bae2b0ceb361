"""A run killed mid-epoch and resumed ends exactly where the uninterrupted run ends (same seed, CPU)."""

import os
import subprocess
import sys
from pathlib import Path

import torch

KILL_AT = 23  # epoch 0 has 18 batches: step 23 is mid-epoch 1, after the step-20 checkpoint


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def test_kill_mid_epoch_then_resume_matches_uninterrupted(tmp_path, cache_dir, tiny, run_cli):
    common = [*tiny, "baselines=[]", "figures=false", "trainer.max_epochs=2", "trainer.patience=0"]
    run_cli("train", "cosmo", *common, "out=whole", "--quiet", cwd=tmp_path)

    env = dict(os.environ, DEEPSPHERE_CACHE=str(cache_dir), OMP_NUM_THREADS="1")
    driver = Path(__file__).with_name("kill_driver.py")
    killed = subprocess.run(
        [sys.executable, str(driver), str(KILL_AT), *common, "out=cut", "trainer.progress=false"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stdout + killed.stderr
    saved = torch.load(tmp_path / "cut/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    assert saved["global_step"] == 20 and saved["epoch"] == 1  # interrupted mid-epoch
    assert not list((tmp_path / "cut/checkpoints").glob("*.tmp"))

    resumed = run_cli("train", "cosmo", "out=cut", "--resume", "--quiet", cwd=tmp_path)
    assert "DeepSphere CNN" in resumed.stdout
    a, b = weights(tmp_path / "whole/checkpoints/last.ckpt"), weights(tmp_path / "cut/checkpoints/last.ckpt")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert (tmp_path / "whole/report.json").read_text().split('"seconds"')[0] == (
        tmp_path / "cut/report.json"
    ).read_text().split('"seconds"')[0]
    assert len(list((tmp_path / "cut/logs").glob("version_*/metrics.csv"))) == 2  # nothing overwritten
