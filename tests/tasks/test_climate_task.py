"""The climate task end to end: a tiny run on the synthetic stand-in (icosahedral level 3), its per-class
scores against an independent computation, evaluation and prediction files."""

import json

import numpy as np
import pytest

TINY_CLIMATE = [
    "data.level=3",
    "data.make.level=3",
    "data.make.n_steps=10",
    "data.batch_size=4",
    "model.channels=[8,16]",
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
]


@pytest.fixture(scope="module")
def trained(train_tiny):
    return train_tiny("climate", TINY_CLIMATE)


def test_report_scores_agree_with_the_confusion_matrix(trained):
    cwd, done = trained
    report = json.loads((cwd / "run/report.json").read_text())
    confusion = np.array(report["confusion"])
    assert confusion.sum() == 2 * 642  # two test steps of 642 vertices
    scores = report["scores"]
    for c, name in enumerate(report["classes"]):
        recall = confusion[c, c] / confusion[c].sum()
        iou = confusion[c, c] / (confusion[c].sum() + confusion[:, c].sum() - confusion[c, c])
        assert scores[f"accuracy/{name}"] == pytest.approx(recall)
        assert scores[f"iou/{name}"] == pytest.approx(iou)
        assert 0 <= scores[f"ap/{name}"] <= 1
    assert (cwd / "run/figures/segmentation.png").is_file()
    assert "tropical_cyclone" in done.stdout and "mean" in done.stdout


def test_evaluate_and_predict(trained, run_cli, cache_dir):
    cwd, _ = trained
    report = json.loads((cwd / "run/report.json").read_text())
    done = run_cli("evaluate", "run/checkpoints/best.ckpt", cwd=cwd)
    assert f"{report['scores']['mean_iou']:.3f}" in done.stdout
    made = next((cache_dir / "made").glob("climate-*"))
    files = sorted(made.glob("*.npz"))[:1]
    unlabelled = cwd / "unlabelled.npz"
    np.savez(unlabelled, data=np.load(files[0])["data"])  # files to predict on need no labels
    files.append(unlabelled)
    run_cli("predict", "run/checkpoints/best.ckpt", *map(str, files), "--out", "pred", cwd=cwd)
    for f in files:
        out = np.load(cwd / "pred" / f"{f.stem}_classes.npz")
        assert out["classes"].shape == (642,) and out["probabilities"].shape == (3, 642)
        np.testing.assert_allclose(out["probabilities"].sum(0), 1, atol=1e-5)
        np.testing.assert_array_equal(out["classes"], out["probabilities"].argmax(0))
