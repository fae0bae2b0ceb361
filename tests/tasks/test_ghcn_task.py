"""The ghcn task end to end on the synthetic stations written in the GHCN-Daily formats: forecasting with
the K = 1 baseline beside, R² in the report against an independent computation, and the day-of-year target."""

import json
import re

import numpy as np
import pytest

from deepsphere.tasks import load_config
from deepsphere.tasks.ghcn import _split_days

TINY_GHCN = [
    "data.make.n_stations=60",
    "data.make.years=2",
    "model.channels=[8,8]",
    "trainer.max_epochs=2",
    "trainer.accelerator=cpu",
]


@pytest.fixture(scope="module")
def trained(train_tiny):
    return train_tiny("ghcn", TINY_GHCN)


def test_forecast_reports_r2_of_both_networks(trained):
    cwd, done = trained
    report = json.loads((cwd / "run/report.json").read_text())
    assert set(report["r2_per_target"]) == {"TMIN", "TMAX"}
    assert -1 < report["r2"] <= 1 and -1 < report["baselines"]["K=1"]["r2"] <= 1
    assert re.search(r"K = 5 +-?[0-9.]+\n +K = 1 +-?[0-9.]+\n", done.stdout)  # aligned, named alike
    assert (cwd / "run/figures/stations.png").is_file()


def test_evaluate_reproduces_the_r2(trained, run_cli):
    cwd, _ = trained
    report = json.loads((cwd / "run/report.json").read_text())
    done = run_cli("evaluate", "run/checkpoints/best.ckpt", cwd=cwd)
    assert f"{report['r2']:.3f}" in done.stdout


def test_day_of_year_target(tmp_path, run_cli):
    run_cli("train", "ghcn", *TINY_GHCN, "data.target=day_of_year", "out=doy", "--quiet", cwd=tmp_path)
    report = json.loads((tmp_path / "doy/report.json").read_text())
    assert set(report["r2_per_target"]) == {"cos", "sin"} and 0 <= report["mean_error_days"] <= 182.625


def test_days_split_in_time_order_and_bad_values_named():
    parts = _split_days(100, [0.7, 0.15, 0.15])
    assert [(p.start, p.stop) for p in parts] == [(0, 70), (70, 85), (85, 100)]
    with pytest.raises(ValueError, match="data.target must be one of"):
        from deepsphere.tasks.ghcn import StationRegressor

        config = load_config("ghcn", ["data.target=tomorrow"])
        StationRegressor(config.to_dict(), np.eye(3).tolist(), 4)
