"""``deepsphere analyze``: every analysis runs from the command line on a small input, writes its JSON and
figures into --out, and refuses to overwrite them without --overwrite."""

import json

import pytest

from deepsphere.cli import main


@pytest.mark.usefixtures("healpy_on_one_thread")
@pytest.mark.parametrize(
    "args, name",
    [
        (["equivariance", "--nsides", "4", "--ks", "8", "--n-signals", "1"], "equivariance.json"),
        (["spectrum", "--resolution", "4", "--lmax", "4"], "spectrum.json"),
        (["filter", "--nside", "4", "--K", "4,16"], "filters.json"),
        (["learn-graph", "--nside", "4", "--n-signals", "200"], "graph_learning.json"),
    ],
)
def test_each_analysis_writes_numbers_and_figures(tmp_path, capsys, args, name):
    out = tmp_path / "out"
    assert main(["analyze", *args, "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    assert json.loads((out / name).read_text())
    assert list(out.glob("*.png"))
    assert main(["analyze", *args, "--out", str(out)]) == 2  # existing outputs are kept
    assert "overwrite" in capsys.readouterr().err
    assert main(["analyze", *args, "--out", str(out), "--overwrite"]) == 0


def test_filter_numbers_follow_the_chebyshev_order(tmp_path):
    assert main(["analyze", "filter", "--nside", "4", "--K", "4,16", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "filters.json").read_text())
    low, high = report["relative_error"]["noise"]
    assert high < 1e-5 < low  # K = 16 reproduces exp(−τL) to float precision where K = 4 cannot


def test_bad_sampling_is_named_before_anything_is_written(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["analyze", "equivariance", "--samplings", "hexagons", "--out", str(out)]) == 2
    assert "samplings must be one of" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
