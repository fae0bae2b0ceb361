"""End to end through the command line: train a tiny cosmology run, evaluate it, predict with it,
and every user error answered with one line and exit status 2."""

import csv
import json
import re

import healpy as hp
import numpy as np
import pytest
import torch

from deepsphere.cli import main
from deepsphere.data import write_healpix_map


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cache_dir, tiny):
    import os
    import subprocess
    import sys

    cwd = tmp_path_factory.mktemp("work")
    env = dict(os.environ, DEEPSPHERE_CACHE=str(cache_dir), OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-m", "deepsphere", "train", "cosmo", *tiny, "out=run", "--quiet"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return cwd, done


def test_train_writes_checkpoints_log_report_and_figures(trained):
    cwd, done = trained
    run = cwd / "run"
    for name in [
        "config.yaml",
        "checkpoints/best.ckpt",
        "checkpoints/last.ckpt",
        "logs/version_0/metrics.csv",
        "report.md",
        "report.json",
        "figures/curves.png",
        "figures/inputs.png",
        "figures/predictions.png",
    ]:
        assert (run / name).is_file(), name
    report = json.loads((run / "report.json").read_text())
    confusion = np.array(report["confusion"])
    assert confusion.sum() == 2 * 48  # one test map per class, 48 patches each
    assert report["test"]["acc"] == pytest.approx(np.trace(confusion) / confusion.sum(), abs=1e-6)
    assert set(report["baselines"]) == {"power_spectrum", "histogram"}
    out = done.stdout
    assert "DeepSphere CNN" in out and "power spectrum" in out and "histogram" in out
    assert f"{report['test']['acc']:.3f}" in out
    rows = list(csv.DictReader((run / "logs/version_0/metrics.csv").open()))
    assert {r["epoch"] for r in rows if r.get("val/acc")} == {"0", "1"}
    assert "| DeepSphere CNN |" in (run / "report.md").read_text()


def test_same_folder_again_is_refused_without_flags(trained, run_cli, tiny):
    cwd, _ = trained
    before = (cwd / "run/report.json").read_text()
    done = run_cli("train", "cosmo", *tiny, "out=run", cwd=cwd, check=False)
    assert done.returncode == 2
    assert "is not empty; use --resume" in done.stderr and "Traceback" not in done.stderr
    assert (cwd / "run/report.json").read_text() == before


def test_checkpoints_hold_batch_norm_statistics_of_the_training_data(trained, reestimated_bn):
    """trainer.bn_batches (default 32): before each validation the statistics are re-estimated on the
    epoch's training batches, so the best checkpoint holds exactly those (not the running averages)."""
    cwd, _ = trained
    path = cwd / "run/checkpoints/best.ckpt"
    epoch = torch.load(path, map_location="cpu", weights_only=False)["epoch"]
    saved, again, used = reestimated_bn(path, epoch)
    assert used == 18  # 288 samples / 16
    for old, new in zip(saved, again, strict=True):
        torch.testing.assert_close(old.running_var, new.running_var)


def test_evaluate_reproduces_the_test_accuracy(trained, run_cli):
    cwd, _ = trained
    report = json.loads((cwd / "run/report.json").read_text())
    done = run_cli("evaluate", "run/checkpoints/best.ckpt", cwd=cwd)
    assert re.search(rf"DeepSphere CNN\s+{report['test']['acc']:.3f}\n", done.stdout)


def test_predict_writes_csv_and_fits_that_healpy_reads(trained, run_cli, cache_dir):
    cwd, _ = trained
    maps = sorted((cache_dir / "made").glob("*/*/*.fits"))[:2]
    ring = cwd / "ring.fits"
    values = hp.read_map(maps[1], nest=True)
    hp.write_map(ring, hp.reorder(values, n2r=True), nest=False, overwrite=True)
    run_cli("predict", "run/checkpoints/best.ckpt", str(maps[0]), str(ring), "--out", "pred", cwd=cwd)
    patches = list(csv.DictReader((cwd / "pred/patches.csv").open()))
    assert len(patches) == 2 * 48
    names = [k for k in patches[0] if k.startswith("p_")]
    assert len(names) == 2
    for row in patches:
        assert sum(float(row[k]) for k in names) == pytest.approx(1, abs=1e-4)
    summary = list(csv.DictReader((cwd / "pred/maps.csv").open()))
    assert len(summary) == 2
    probability = hp.read_map(cwd / "pred/ring_probability.fits", field=None, nest=True)
    assert np.array(probability).shape == (2, 12 * 8**2)  # nside 32 pooled twice by 4: nside 8
    np.testing.assert_allclose(np.sum(probability, axis=0), 1, atol=1e-5)
    # The RING copy of a map gets the same per-patch probabilities as the NESTED original read directly.
    again = run_cli("predict", "run/checkpoints/best.ckpt", str(maps[1]), "--out", "pred2", cwd=cwd)
    assert again.returncode == 0
    direct = list(csv.DictReader((cwd / "pred2/patches.csv").open()))
    ring_rows = [r for r in patches if r["file"] == str(ring)]
    for a, b in zip(direct, ring_rows, strict=True):
        assert float(a[names[0]]) == pytest.approx(float(b[names[0]]), abs=1e-5)
    refused = run_cli(
        "predict", "run/checkpoints/best.ckpt", str(maps[0]), "--out", "pred", cwd=cwd, check=False
    )
    assert refused.returncode == 2 and "--overwrite" in refused.stderr


def test_user_errors_are_one_line_with_exit_2(trained, tmp_path, tiny, cache_dir, capsys, monkeypatch):
    cwd, _ = trained
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "hyper_parameters": {"lr": 1}}, other)
    small = tmp_path / "small.fits"
    write_healpix_map(small, np.random.default_rng(0).standard_normal(12 * 16**2))
    nan = tmp_path / "nan.fits"
    values = np.random.default_rng(1).standard_normal(12 * 32**2)
    values[[3, 77]] = np.nan
    hp.write_map(nan, values, nest=True)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    cases = [
        (("train", "cosmos"), "unknown experiment 'cosmos'"),
        (("train", "cosmo", "data.nosie=1"), "did you mean 'data.noise'"),
        (("evaluate", str(other)), "not a deepsphere checkpoint"),
        (("evaluate", str(tmp_path / "missing.ckpt")), "does not exist"),
        (("predict", "run/checkpoints/best.ckpt", str(small), "--out", "p3"), "nside=32 needs 12288"),
        (("predict", "run/checkpoints/best.ckpt", str(nan), "--out", "p4"), "2 NaN/infinite"),
        (("data", "make", "cosmos", "--out", "d"), "unknown data set 'cosmos'"),
    ]
    import os

    if os.geteuid() != 0:
        cases.append((("train", "cosmo", *tiny, f"out={locked / 'run'}"), "cannot write"))
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("DEEPSPHERE_CACHE", str(cache_dir))
    for args, message in cases:  # in this process: main() is what the console script calls
        capsys.readouterr()
        assert main(list(args)) == 2, args
        err = capsys.readouterr().err
        assert message in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    assert not (cwd / "p3").exists() and not (cwd / "p4").exists()


def test_help_at_every_level(capsys):
    for args in [(), ("train",), ("evaluate",), ("predict",), ("data",), ("data", "make")]:
        with pytest.raises(SystemExit) as exit_:
            main([*args, "--help"])
        assert exit_.value.code == 0
        assert "usage: deepsphere" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "data.noise = 0.5" in capsys.readouterr().out
