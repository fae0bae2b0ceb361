"""The tutorials run as scripts and draw their figures; the documentation builds without a warning.

Each tutorial runs in a fresh Python process, as a user would run it, under matplotlib's Agg backend;
afterwards every figure it left open is saved (as sphinx-gallery does when it builds the docs) and must
show something. The full documentation build (which executes the tutorials again, through
sphinx-gallery) is marked ``slow``: it takes minutes.
"""

import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.image
import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted((ROOT / "tutorials").glob("plot_*.py"))
TIMEOUT_S = 300  # each tutorial takes well under a minute on 2 idle cores; this catches a hang

# Figures each tutorial must draw (at least).
MIN_FIGURES = {
    "plot_01_sphere_to_graph": 4,
    "plot_02_partial_sky_pooling": 3,
    "plot_03_filtering": 4,
    "plot_04_own_fits_maps": 4,
    "plot_05_equivariance_kernel_width": 3,
}

# Runs a script as __main__ under Agg, then saves the figures it left open, as sphinx-gallery's scraper
# does; argv: the script, the folder for the figures.
DRIVER = """
import runpy, sys
from pathlib import Path
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
script, out = sys.argv[1], Path(sys.argv[2])
sys.argv = [script]
runpy.run_path(script, run_name="__main__")
for number in plt.get_fignums():
    plt.figure(number).savefig(out / f"figure_{number:02d}.png", dpi=50)
"""


def _environment(tmp_path: Path) -> dict[str, str]:
    # One OpenMP thread: on a shared machine an OpenMP team spin-waits for descheduled members and
    # healpy's small transforms slow down by orders of magnitude (see tests/conftest.py).
    return dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg", DEEPSPHERE_CACHE=str(tmp_path / "cache"))


def test_the_five_tutorials_are_there():
    assert [path.stem for path in TUTORIALS] == sorted(MIN_FIGURES)


@pytest.mark.parametrize("script", TUTORIALS, ids=[path.stem for path in TUTORIALS])
def test_tutorial_runs_and_draws_its_figures(script: Path, tmp_path: Path):
    figures = tmp_path / "figures"
    figures.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", DRIVER, str(script), str(figures)],
        cwd=tmp_path,
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, f"{script.name} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    saved = sorted(figures.glob("*.png"))
    assert len(saved) >= MIN_FIGURES[script.stem], f"{script.name} drew {len(saved)} figures"
    for path in saved:
        pixels = matplotlib.image.imread(path)[..., :3]
        assert pixels.std() > 0.01, f"{path.name} of {script.name} is blank"
    assert "Traceback" not in done.stderr


def test_gallery_configuration_runs_every_tutorial():
    """The docs build must execute every tutorial and stop at the first that fails, offline."""
    pytest.importorskip("sphinx_gallery")
    conf = runpy.run_path(str(ROOT / "docs" / "conf.py"))
    gallery = conf["sphinx_gallery_conf"]
    assert gallery["abort_on_example_error"] is True
    assert gallery["only_warn_on_example_error"] is False
    assert all(re.search(gallery["filename_pattern"], str(path)) for path in TUTORIALS)
    assert Path(gallery["examples_dirs"]) == ROOT / "tutorials"
    assert conf["nitpicky"] is True
    assert "sphinx.ext.intersphinx" not in conf["extensions"]  # offline: no inventories fetched


@pytest.mark.slow
def test_documentation_builds_without_warnings(tmp_path: Path):
    """``sphinx-build -W --keep-going -n``, on a copy of docs/ and tutorials/ (the gallery and the API
    stubs are generated inside the source folder, which must stay clean)."""
    pytest.importorskip("sphinx_gallery")
    for folder in ("docs", "tutorials"):
        ignore = shutil.ignore_patterns("_build", "generated", "__pycache__")
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=ignore)
    shutil.rmtree(tmp_path / "docs" / "tutorials", ignore_errors=True)  # a gallery made by an earlier build
    html = tmp_path / "html"
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-b", "html", "docs", str(html)],
        cwd=tmp_path,
        env=_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == 0, f"sphinx-build failed:\n{done.stdout[-5000:]}\n{done.stderr[-5000:]}"
    for page in (
        "index",
        "getting-started",
        "about",
        "api/index",
        "tutorials/index",
        "experiments/cosmology",
        "experiments/shapes",
        "experiments/climate",
        "experiments/weather",
    ):
        assert (html / f"{page}.html").is_file(), page
    for script in TUTORIALS:
        page = (html / "tutorials" / f"{script.stem}.html").read_text()
        assert page.count("<img") >= MIN_FIGURES[script.stem], f"{script.stem}: figures missing from its page"
    reference = (html / "api" / "generated" / "deepsphere.graph.knn_graph.html").read_text()
    assert "kernel_width" in reference and "Returns" in reference
