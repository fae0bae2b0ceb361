"""Where the package keeps what it makes once per machine (data stores, compiled kernels)."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$DEEPSPHERE_CACHE``, else ``$XDG_CACHE_HOME/deepsphere``, else ``~/.cache/deepsphere``."""
    if "DEEPSPHERE_CACHE" in os.environ:
        return Path(os.environ["DEEPSPHERE_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "deepsphere"
