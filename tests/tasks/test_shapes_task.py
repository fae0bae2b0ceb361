"""The shapes task end to end: a tiny run on the built-in synthetic shapes (SHREC'17 layout), its report
(accuracy, confusion, retrieval metrics), evaluation of the checkpoint and prediction on mesh files."""

import csv
import json

import numpy as np
import pytest
import torch

from deepsphere.analysis.retrieval import retrieval_lists_from_predictions, retrieval_metrics
from deepsphere.tasks.shapes import batch_hard_triplet

TINY_SHAPES = [
    "data.nside=4",
    "data.make.per_class=6",
    "data.make.classes=[box,sphere,torus]",
    "data.augment=2",
    "model.channels=[8,16]",
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
    "trainer.checkpoint_every_n_steps=2",
]


@pytest.fixture(scope="module")
def trained(train_tiny):
    return train_tiny("shapes", TINY_SHAPES)


def test_report_holds_accuracy_confusion_and_retrieval(trained):
    cwd, done = trained
    run = cwd / "run"
    for name in ["checkpoints/best.ckpt", "report.md", "figures/curves.png", "figures/inputs.png"]:
        assert (run / name).is_file(), name
    report = json.loads((run / "report.json").read_text())
    confusion = np.array(report["confusion"])
    assert confusion.shape == (3, 3) and confusion.sum() == 3  # one test shape per class, no augmentation
    assert report["test"]["acc"] == pytest.approx(np.trace(confusion) / confusion.sum(), abs=1e-6)
    for average in ("micro", "macro"):
        assert set(report["retrieval"][average]) >= {"precision", "recall", "f1", "map"}
    assert "SHREC'17 retrieval" in done.stdout and "data: 18 shapes in 3 classes" in done.stdout


def test_evaluate_and_predict_from_the_checkpoint(trained, run_cli, cache_dir):
    cwd, _ = trained
    report = json.loads((cwd / "run/report.json").read_text())
    done = run_cli("evaluate", "run/checkpoints/best.ckpt", cwd=cwd)
    assert f"test accuracy (healpix, shrec17): {report['test']['acc']:.3f}" in done.stdout
    made = next((cache_dir / "made").glob("shapes-*"))
    meshes = sorted(str(p) for p in (made / "test_normal").glob("*.obj"))
    done = run_cli("predict", "run/checkpoints/best.ckpt", *meshes, "--out", "pred", cwd=cwd)
    rows = list(csv.DictReader((cwd / "pred/predictions.csv").open()))
    assert [r["file"] for r in rows] == meshes
    for r in rows:
        p = [float(r[f"p_{c}"]) for c in ("box", "sphere", "torus")]
        assert (
            sum(p) == pytest.approx(1, abs=1e-4)
            and r["class"] == ("box", "sphere", "torus")[int(np.argmax(p))]
        )
    again = run_cli("predict", "run/checkpoints/best.ckpt", *meshes, "--out", "pred", cwd=cwd, check=False)
    assert again.returncode == 2 and "exists; pass --overwrite" in again.stderr


def test_batch_hard_triplet_matches_a_loop():
    rng = np.random.default_rng(3)
    features = torch.from_numpy(rng.standard_normal((10, 5)))
    labels = torch.from_numpy(rng.integers(0, 3, 10))
    labels[9] = 7  # an anchor without a positive is left out
    expected = []
    for a in range(10):
        pos = [p for p in range(10) if p != a and labels[p] == labels[a]]
        neg = [n for n in range(10) if labels[n] != labels[a]]
        if pos and neg:
            d_pos = max(float(torch.dist(features[a], features[p])) for p in pos)
            d_neg = min(float(torch.dist(features[a], features[n])) for n in neg)
            expected.append(max(0.0, d_pos - d_neg + 0.5))
    got = batch_hard_triplet(features, labels, 0.5)
    assert float(got) == pytest.approx(np.mean(expected), rel=1e-6)


def test_perfect_predictions_give_perfect_retrieval():
    labels = np.array([0, 0, 1, 2, 2, 2])
    probabilities = np.eye(3)[labels] * 0.9 + 0.05
    metrics = retrieval_metrics(labels, retrieval_lists_from_predictions(probabilities), labels)
    assert metrics["micro"]["f1"] == pytest.approx(1) and metrics["macro"]["map"] == pytest.approx(1)
