"""HEALPix maps as FITS files: read any ordering into NESTED, check them, write them atomically.

A map read here is float32, NESTED (the package's order), and free of NaN, infinite and
``healpy.UNSEEN`` pixels, or the read fails with a message that names the file and the problem.
Writes go to a temporary file in the target folder and are renamed into place, so a crash never
leaves half a file; an existing file is replaced only with ``overwrite=True``.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import healpy as hp
import numpy as np

ORDERINGS = ("RING", "NESTED")


def check_map(values: np.ndarray, name: str, nside: int | None = None) -> int:
    """Check one full-sky map; return its nside.

    ``values``: (12·nside²,). Raises ValueError naming ``name`` for a wrong size, NaN, infinite or
    UNSEEN pixels (with their count).
    """
    if values.ndim != 1:
        raise ValueError(f"{name}: a map must be one-dimensional, got shape {values.shape}")
    npix = values.shape[0]
    if not hp.isnpixok(npix):
        raise ValueError(f"{name}: {npix} pixels is not a HEALPix map size (12·nside²)")
    found = hp.npix2nside(npix)
    if nside is not None and found != nside:
        raise ValueError(f"{name}: map has {npix} pixels, HEALPix nside={nside} needs {12 * nside * nside}")
    bad = ~np.isfinite(values)
    n_nan = int(np.count_nonzero(bad))
    # healpy's own test (relative tolerance 1e-5): UNSEEN is -1.6375e30 in float64 but rounds in float32,
    # so an exact comparison against either constant misses the other dtype.
    n_unseen = int(np.count_nonzero(hp.mask_bad(values[~bad])))
    if n_nan or n_unseen:
        raise ValueError(
            f"{name}: {n_nan} NaN/infinite and {n_unseen} UNSEEN pixels; the maps must be full-sky and "
            "finite (fill or cut masked pixels first)"
        )
    return found


def read_healpix_map(
    path: str | os.PathLike, nside: int | None = None, ordering: str | None = None
) -> np.ndarray:
    """Read the first column of a HEALPix FITS map, as float32 in NESTED order, checked by :func:`check_map`.

    ``ordering``: ``None`` takes the file's ORDERING header keyword (an error if it has none);
    ``"RING"`` or ``"NESTED"`` overrides it. ``nside``: the expected resolution, if known.
    """
    path = Path(path)
    if ordering is not None and ordering.upper() not in ORDERINGS:
        raise ValueError(f"ordering must be one of {ORDERINGS} or None, got {ordering!r}")
    if not path.is_file():
        raise ValueError(f"map file {path} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            values, header = hp.read_map(path, field=0, nest=None, h=True, dtype=np.float64)
    except Exception as err:  # astropy raises many kinds for a file that is not FITS
        raise ValueError(f"{path}: not a readable HEALPix FITS map ({err})") from None
    if ordering is None:
        ordering = dict(header).get("ORDERING")
        if ordering is None:
            raise ValueError(f"{path}: no ORDERING keyword in the header; pass ordering='RING' or 'NESTED'")
    ordering = str(ordering).strip().upper()
    if ordering not in ORDERINGS:
        raise ValueError(f"{path}: ORDERING is {ordering!r}, expected one of {ORDERINGS}")
    values = np.asarray(values, dtype=np.float64)
    check_map(values, str(path), nside)
    if ordering == "RING":
        values = hp.reorder(values, r2n=True)
    return values.astype(np.float32)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None], overwrite: bool = False) -> Path:
    """Call ``write(tmp)`` on a temporary path in the target folder, then rename it to ``path``.

    Raises FileExistsError if ``path`` exists and not ``overwrite``; a clear error if the folder
    cannot be written. Nothing is left behind when ``write`` fails.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (--overwrite) to replace it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as err:
        raise PermissionError(f"cannot write to folder {path.parent}: {err.strerror}") from None
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files: give the result the user's usual mode
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_healpix_map(
    path: str | os.PathLike, values: np.ndarray, nest: bool = True, overwrite: bool = False, **header: str
) -> Path:
    """Write one map (12·nside²,) as a HEALPix FITS file that ``healpy.read_map`` reads back.

    ``nest``: the order of ``values`` (written into the ORDERING keyword). Extra ``header`` entries
    become FITS keywords (at most 8 characters each). Atomic; refuses to replace an existing file
    unless ``overwrite``.
    """
    values = np.asarray(values)
    check_map(values, "values")
    extra = [(key.upper(), value) for key, value in header.items()]

    def write(tmp: Path) -> None:
        hp.write_map(str(tmp), values, nest=nest, overwrite=True, dtype=values.dtype, extra_header=extra)

    return atomic_write(path, write, overwrite)
