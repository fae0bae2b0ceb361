"""End-of-run reports: Markdown and JSON next to the checkpoints, training curves, shared table pieces.

Every task writes ``report.md`` and ``report.json`` and, with matplotlib installed and ``figures: true``,
``figures/curves.png`` (loss and the main metric per epoch) plus its own figures (see the task modules).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..data import atomic_write
from .config import Config


def read_metrics(out: Path) -> list[dict[str, float]]:
    """Rows of ``logs/version_*/metrics.csv``, later versions (resumed runs) replacing the steps they redo."""
    rows: list[dict[str, float]] = []
    versions = sorted((out / "logs").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:]))
    for path in versions:
        with path.open() as f:
            new = [{k: float(v) for k, v in r.items() if v not in ("", None)} for r in csv.DictReader(f)]
        if new:
            first = min(r["step"] for r in new)
            rows = [r for r in rows if r["step"] < first] + new
    return rows


def confusion_markdown(classes: list[str], confusion: list[list[int]], what: str = "the CNN") -> list[str]:
    """A confusion matrix as Markdown lines (rows: true class, columns: predicted)."""
    lines = [f"Confusion matrix of {what} (rows: true class, columns: predicted):", ""]
    lines.append("| | " + " | ".join(classes) + " |")
    lines.append("| --- " * (len(classes) + 1) + "|")
    for name, row in zip(classes, confusion, strict=True):
        lines.append(f"| {name} | " + " | ".join(str(v) for v in row) + " |")
    return lines


def summary_markdown(result: Any, config: Config, lines: list[str], what: str = "the CNN") -> str:
    """``report.md`` of a task whose printed summary is its table: the summary ``lines`` as a code block,
    then the confusion matrix when ``result.details`` holds one."""
    text = [f"# {config.name}: test results", "", "```", *lines, "```"]
    if "confusion" in result.details:
        text += ["", *confusion_markdown(result.details["classes"], result.details["confusion"], what)]
    return "\n".join(text) + "\n"


def result_json(result: Any) -> str:
    """``report.json``: test metrics, the task's details (e.g. confusion, classes), baselines, time."""
    return json.dumps(
        {
            "test": result.test,
            **result.details,
            "baselines": result.baselines,
            "seconds": round(result.seconds, 1),
        },
        indent=1,
        default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v),
    )


def write_report(
    result: Any, config: Config, markdown: str, figures: Callable[[], dict[str, Any]] | None = None
) -> list[Path]:
    """Write ``report.md`` (``markdown``), ``report.json``, ``figures/curves.png`` and the figures that
    ``figures()`` returns (name → matplotlib figure) into the run folder; return the paths."""
    out = result.out_dir
    written = [
        atomic_write(out / "report.md", lambda tmp: tmp.write_text(markdown), overwrite=True),
        atomic_write(out / "report.json", lambda tmp: tmp.write_text(result_json(result)), overwrite=True),
    ]
    if config.figures:
        try:
            import matplotlib

            matplotlib.use("Agg")
        except ImportError:
            print("matplotlib is not installed: no figures (pip install 'deepsphere[plot]')")
            return written
        folder = out / "figures"
        folder.mkdir(exist_ok=True)
        metric = "acc" if "acc" in result.test else None
        written.append(save_figure(curves_figure(read_metrics(out), metric), folder / "curves.png"))
        for name, fig in (figures() if figures else {}).items():
            written.append(save_figure(fig, folder / f"{name}.png"))
    return written


def save_figure(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight"), True)
    plt.close(fig)
    return path


def curves_figure(rows: list[dict[str, float]], metric: str | None = "acc") -> Any:
    """The loss (and ``metric``, e.g. accuracy) against epochs: training (epoch means) and validation."""
    import matplotlib.pyplot as plt

    metrics = ("loss", metric) if metric else ("loss",)
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for stage, style in (("train", "-o"), ("val", "-s")):
            key = f"{stage}/{metric}_epoch" if stage == "train" else f"{stage}/{metric}"
            points = sorted({int(r["epoch"]): r[key] for r in rows if key in r}.items())
            if points:
                ax.plot([p[0] + 1 for p in points], [p[1] for p in points], style, ms=3, label=stage)
        ax.set_xlabel("epoch")
        ax.set_ylabel({"loss": "loss", "acc": "accuracy"}.get(metric, metric))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("training curves")
    return fig


def file_stem(path: str | Path) -> str:
    """A file name without its FITS/compression suffix."""
    name = Path(path).name
    for suffix in (".fits.gz", ".fits", ".fit"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    """Write a CSV file atomically."""

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)

    atomic_write(path, write, overwrite=True)
