"""Historical weather of GHCN-Daily on an irregular sampling: the real fixed-width files, tasks, a stand-in.

GHCN-Daily (Menne et al. 2012, NOAA NCEI, ``https://www.ncei.noaa.gov/pub/data/ghcn/daily/``) ships a station
list and one ``.dly`` file per station. Their layouts (the dataset's ``readme.txt``, columns 1-based and
inclusive):

``ghcnd-stations.txt``: ID 1–11, LATITUDE 13–20, LONGITUDE 22–30 (decimal degrees), ELEVATION 32–37
(metres, missing −999.9), STATE 39–40, NAME 42–71, GSN FLAG 73–75, HCN/CRN FLAG 77–79, WMO ID 81–85.

``<ID>.dly``: one line per station, month and element: ID 1–11, YEAR 12–15, MONTH 16–17, ELEMENT 18–21,
then for each day ``d`` = 1…31 VALUE (5 characters, −9999 missing), MFLAG, QFLAG and SFLAG (1 character
each) at columns ``22 + 8(d−1)`` onward; 269 characters in all. Temperatures (TMAX, TMIN, TAVG) are in
tenths of °C and precipitation (PRCP) in tenths of mm; a non-blank QFLAG marks a value that failed a
quality check. Days that do not exist (30 February) hold −9999.

The DeepSphere ICLR 2020 paper uses GHCN stations as a point-cloud sampling (a k-NN graph of the
stations) for two tasks: forecast tomorrow's TMIN and TMAX at every station from the previous days
(:func:`forecast_samples`), and infer the day of the year from one day's temperature field, a circular
target (:func:`day_of_year_samples`). Stations missing on a day are masked, never invented.
"""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy.spatial import cKDTree

from ..sampling import PointCloud
from .healpix_io import atomic_write
from .store import default_cache_dir

__all__ = [
    "ELEMENT_DIVISORS",
    "GHCN_MISSING",
    "RECORD_DTYPE",
    "STATION_DTYPE",
    "DayOfYearSamples",
    "ForecastSamples",
    "GHCNDataset",
    "day_of_year_samples",
    "forecast_samples",
    "make_ghcn",
    "read_dly",
    "read_stations",
    "select_stations",
    "stations_sampling",
]

GHCN_MISSING = -9999
# The file's integers divided by these are in physical units: °C for temperatures, mm for precipitation and
# snow (SNOW, SNWD: already mm); other elements are kept as stored (divisor 1).
ELEMENT_DIVISORS = {"TMAX": 10, "TMIN": 10, "TAVG": 10, "PRCP": 10, "SNOW": 1, "SNWD": 1}
STATION_DTYPE = np.dtype(
    [
        ("id", "U11"),
        ("lat_deg", "f8"),
        ("lon_deg", "f8"),
        ("elevation_m", "f8"),  # NaN where the file says −999.9
        ("state", "U2"),
        ("name", "U30"),
        ("gsn_flag", "U3"),
        ("hcn_crn_flag", "U3"),
        ("wmo_id", "U5"),
    ]
)
RECORD_DTYPE = np.dtype(
    [
        ("id", "U11"),
        ("date", "M8[D]"),
        ("element", "U4"),
        ("value", "f8"),
        ("mflag", "U1"),
        ("qflag", "U1"),
        ("sflag", "U1"),
    ]
)
STATIONS_FILE = "ghcnd-stations.txt"
DLY_FOLDER = "ghcnd_all"  # the folder of ghcnd_all.tar.gz
EARTH_RADIUS_KM = 6371.0
_DLY_LENGTH = 269
_DAYS_PER_YEAR = 365.25


# --- the two file formats -------------------------------------------------------------------------------


def read_stations(path: str | os.PathLike) -> np.ndarray:
    """Parse ``ghcnd-stations.txt``.

    Returns
    -------
    ndarray of :data:`STATION_DTYPE`, shape (n_stations,)
        ``id``, ``lat_deg``, ``lon_deg`` (degrees), ``elevation_m`` (NaN if missing), ``state``, ``name``,
        ``gsn_flag``, ``hcn_crn_flag``, ``wmo_id`` (strings stripped). Blank lines are skipped; a line
        with a bad or out-of-range field, or a repeated ID, raises a ValueError naming the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"stations file {path} does not exist")
    rows: list[tuple] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        if len(line) < 30:
            raise ValueError(
                f"{where}: a station line has ID, LATITUDE and LONGITUDE in columns 1–30, got {line!r}"
            )
        line = line.ljust(85)
        station = line[0:11]
        if " " in station:
            raise ValueError(
                f"{where}: ID (columns 1–11) must be 11 characters without blanks, got {station!r}"
            )
        try:
            lat, lon = float(line[12:20]), float(line[21:30])
            elevation = float(line[31:37]) if line[31:37].strip() else np.nan
        except ValueError:
            raise ValueError(
                f"{where}: LATITUDE (13–20), LONGITUDE (22–30) and ELEVATION (32–37) must be numbers, got "
                f"{line[12:20]!r}, {line[21:30]!r}, {line[31:37]!r}"
            ) from None
        if not (-90 <= lat <= 90 and -180 <= lon <= 360):
            raise ValueError(f"{where}: latitude {lat} or longitude {lon} is out of range")
        if station in seen:
            raise ValueError(f"{where}: station {station} is already on line {seen[station]}")
        seen[station] = number
        elevation = np.nan if elevation <= -999.0 else elevation
        rows.append(
            (station, lat, lon, elevation, line[38:40].strip(), line[41:71].strip(), line[72:75].strip(),
             line[76:79].strip(), line[80:85].strip())
        )  # fmt: skip
    return np.array(rows, dtype=STATION_DTYPE)


def _check_elements(elements) -> tuple[str, ...]:
    elements = (elements,) if isinstance(elements, str) else tuple(elements)
    if not elements or not all(
        isinstance(e, str) and len(e) == 4 and e.isalnum() and e.isupper() for e in elements
    ):
        raise ValueError(f"elements must be 4-character GHCN element codes such as 'TMIN', got {elements!r}")
    if len(set(elements)) != len(elements):
        raise ValueError(f"elements must not repeat, got {elements}")
    return elements


def read_dly(
    path: str | os.PathLike, elements: Sequence[str] = ("TMIN", "TMAX"), keep_flagged: bool = False
) -> np.ndarray:
    """Parse one GHCN-Daily ``.dly`` file into its observed values.

    Parameters
    ----------
    path : path
        A ``.dly`` file (lines of 269 characters; trailing blanks may be missing).
    elements : sequence of str
        Element codes to keep (others are checked and skipped).
    keep_flagged : bool
        Keep values whose QFLAG is not blank (quality-failed); dropped by default.

    Returns
    -------
    ndarray of :data:`RECORD_DTYPE`, shape (n_values,)
        One record per observed day: ``id``, ``date`` (datetime64[D]), ``element``, ``value`` in physical
        units (:data:`ELEMENT_DIVISORS`: °C for temperatures; other elements as stored), ``mflag``,
        ``qflag``, ``sflag``. Missing values (−9999) and impossible dates (30 February) are skipped.

    A malformed line (wrong length, a non-integer VALUE, a bad year or month, another station's ID)
    raises a ValueError naming the file and the line.
    """
    path = Path(path)
    wanted = _check_elements(elements)
    if not path.is_file():
        raise ValueError(f".dly file {path} does not exist")
    station = None
    ids, months, days, elems, values, flags = [], [], [], [], [], []
    for number, line in enumerate(path.read_text(encoding="latin-1").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        if len(line) < _DLY_LENGTH - 3 or len(line) > _DLY_LENGTH:
            raise ValueError(f"{where}: a .dly line has {_DLY_LENGTH} characters, got {len(line)}")
        line = line.ljust(_DLY_LENGTH)
        if station is None:
            station = line[0:11]
        elif line[0:11] != station:
            raise ValueError(f"{where}: ID {line[0:11]!r} differs from the file's first ID {station!r}")
        try:
            year, month = int(line[11:15]), int(line[15:17])
        except ValueError:
            raise ValueError(
                f"{where}: YEAR (12–15) and MONTH (16–17) must be integers, got {line[11:17]!r}"
            ) from None
        if not (1 <= month <= 12 and 1 <= year <= 9999):
            raise ValueError(f"{where}: year {year} / month {month} is not a valid date")
        element = line[17:21]
        if element not in wanted:
            continue
        n_days = calendar.monthrange(year, month)[1]
        divisor = ELEMENT_DIVISORS.get(element, 1)
        for day in range(1, 32):
            col = 21 + 8 * (day - 1)
            try:
                value = int(line[col : col + 5])
            except ValueError:
                raise ValueError(
                    f"{where}: VALUE{day} (columns {col + 1}–{col + 5}) is {line[col : col + 5]!r}, "
                    "not an integer"
                ) from None
            if value == GHCN_MISSING or day > n_days:
                continue
            qflag = line[col + 6]
            if qflag != " " and not keep_flagged:
                continue
            months.append((year - 1970) * 12 + month - 1)
            days.append(day - 1)
            elems.append(element)
            values.append(value / divisor)
            flags.append((line[col + 5], qflag, line[col + 7]))
            ids.append(station)
    out = np.empty(len(values), dtype=RECORD_DTYPE)
    out["id"] = ids
    out["date"] = np.array(months, dtype="M8[M]").astype("M8[D]") + np.array(days, dtype="m8[D]")
    out["element"] = elems
    out["value"] = values
    flag_array = np.array(flags, dtype="U1").reshape(-1, 3)
    out["mflag"], out["qflag"], out["sflag"] = flag_array[:, 0], flag_array[:, 1], flag_array[:, 2]
    return out


def _station_line(station) -> str:
    elevation = -999.9 if np.isnan(station["elevation_m"]) else station["elevation_m"]
    return (
        f"{station['id']:11s} {station['lat_deg']:8.4f} {station['lon_deg']:9.4f} {elevation:6.1f} "
        f"{station['state']:2s} {station['name']:30s} {station['gsn_flag']:3s} {station['hcn_crn_flag']:3s} "
        f"{station['wmo_id']:5s}"
    )


def _dly_line(station: str, year: int, month: int, element: str, values, qflags) -> str:
    """One .dly line: 31 integer values (GHCN_MISSING where absent) and their QFLAGs (blank MFLAG, SFLAG)."""
    days = "".join(f"{v:5d} {q} " for v, q in zip(values, qflags, strict=True))
    return f"{station:11s}{year:4d}{month:02d}{element:4s}{days}"


# --- stations as a sampling -----------------------------------------------------------------------------


def stations_sampling(stations: np.ndarray) -> PointCloud:
    """The stations as a :class:`~deepsphere.sampling.PointCloud` (latitude/longitude degrees → radians).

    Co-located stations (closer than ~1 m, as happens in GHCN) are refused naming both IDs: thin the
    stations first (:func:`select_stations` with ``min_distance_km``).
    """
    lat, lon = np.radians(stations["lat_deg"]), np.radians(stations["lon_deg"])
    xyz = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
    pairs = cKDTree(xyz).query_pairs(2e-7, output_type="ndarray")
    if len(pairs):
        i, j = sorted(int(k) for k in pairs[0])
        raise ValueError(
            f"stations {stations['id'][i]} and {stations['id'][j]} are at the same place; a point cloud "
            "needs distinct points (thin with select_stations(min_distance_km=…))"
        )
    return PointCloud(lon, lat)


# --- the assembled data set -----------------------------------------------------------------------------


def _as_day(value, name: str) -> np.datetime64:
    try:
        day = np.datetime64(value, "D")
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a date such as '2010-01-31', got {value!r}") from None
    if np.isnat(day):
        raise ValueError(f"{name} must be a date, got {value!r}")
    return day


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class GHCNDataset:
    """Daily values of GHCN stations over a date range, memory-mapped from a cache.

    Attributes
    ----------
    values : ndarray, shape (n_days, n_stations, n_features), float32
        Values in physical units (°C for temperatures), 0 where missing.
    mask : ndarray, shape (n_days, n_stations, n_features), bool
        True where a value was observed (and passed the quality check).
    dates : ndarray, shape (n_days,), datetime64[D]
    stations : ndarray of :data:`STATION_DTYPE`, shape (n_stations,)
    elements : tuple of str
        The features, e.g. ``("TMIN", "TMAX")``.
    """

    def __init__(
        self, values: np.ndarray, mask: np.ndarray, dates: np.ndarray, stations: np.ndarray, elements
    ) -> None:
        if values.shape != mask.shape or values.shape != (len(dates), len(stations), len(elements)):
            raise ValueError(
                f"values {values.shape} and mask {mask.shape} must be (n_days={len(dates)}, "
                f"n_stations={len(stations)}, n_features={len(elements)})"
            )
        self.values, self.mask, self.dates = values, mask, dates
        self.stations, self.elements = stations, tuple(elements)

    def __repr__(self) -> str:
        return (
            f"GHCNDataset({len(self.stations)} stations, {len(self.dates)} days "
            f"{self.dates[0]}…{self.dates[-1]}, elements={list(self.elements)})"
        )

    def valid_fraction(self) -> np.ndarray:
        """(n_stations,) share of the days on which every feature of the station is observed."""
        return self.mask.all(axis=2).mean(axis=0)

    def subset(self, stations) -> GHCNDataset:
        """The dataset restricted to the station indices ``stations`` (arrays copied into memory)."""
        idx = np.asarray(stations, dtype=np.int64)
        if idx.ndim != 1 or idx.size == 0 or idx.min() < 0 or idx.max() >= len(self.stations):
            raise ValueError(f"stations must be a non-empty list of indices in [0, {len(self.stations)})")
        return GHCNDataset(
            np.array(self.values[:, idx]),
            np.array(self.mask[:, idx]),
            self.dates,
            self.stations[idx],
            self.elements,
        )

    def sampling(self) -> PointCloud:
        """:func:`stations_sampling` of this dataset's stations."""
        return stations_sampling(self.stations)

    @classmethod
    def build(
        cls,
        root: str | os.PathLike,
        start: Any = None,
        end: Any = None,
        elements: Sequence[str] = ("TMIN", "TMAX"),
        keep_flagged: bool = False,
        cache_dir: str | os.PathLike | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> GHCNDataset:
        """Assemble the days ``start``…``end`` (inclusive) of every station of ``root``.

        Parameters
        ----------
        root : path
            Holds ``ghcnd-stations.txt`` and the ``<ID>.dly`` files, in ``root/ghcnd_all`` or in ``root``
            itself; stations without a ``.dly`` file are left out.
        start, end : date, optional
            ``"2010-01-01"`` or ``numpy.datetime64``; ``None``: 1 January of the first year and 31
            December of the last year found in the files for ``elements`` (a scan of their YEAR columns).
        elements : sequence of str
            The features, in this order.
        keep_flagged : bool
            Keep quality-flagged values (see :func:`read_dly`).
        cache_dir : path, optional
            Default :func:`~deepsphere.data.default_cache_dir`.
        progress : callable, optional
            ``progress(done, total)`` after each station while building.

        The arrays are cached as ``ghcn-<key>-values.npy``, ``-mask.npy`` and ``.json``, the key hashing
        the files' names, sizes and modification times and the arguments. The arrays are written under
        temporary names and renamed when complete, the JSON last; the JSON records the arrays' sizes and
        SHA-256 (checked at every load: a few seconds per GB), so a truncated or altered cache is
        rebuilt with a warning.
        """
        root = Path(root).expanduser().resolve()
        stations_file = root / STATIONS_FILE
        if not stations_file.is_file():
            raise ValueError(f"{stations_file} does not exist (the GHCN-Daily station list)")
        dly_dir = root / DLY_FOLDER if (root / DLY_FOLDER).is_dir() else root
        elements = _check_elements(elements)
        all_stations = read_stations(stations_file)
        files = [dly_dir / f"{s}.dly" for s in all_stations["id"]]
        present = np.array([f.is_file() for f in files], dtype=bool)
        if not present.any():
            raise ValueError(f"no .dly file of the {len(all_stations)} listed stations in {dly_dir}")
        stations = all_stations[present]
        files = [f for f, p in zip(files, present, strict=True) if p]
        if start is None or end is None:
            years = _year_range(files, elements)
        first = _as_day(start, "start") if start is not None else np.datetime64(f"{years[0]:04d}-01-01")
        last = _as_day(end, "end") if end is not None else np.datetime64(f"{years[1]:04d}-12-31")
        if last < first:
            raise ValueError(f"end {last} is before start {first}")
        digest = hashlib.sha256(f"{first}|{last}|{elements}|{keep_flagged}".encode())
        for file in [stations_file, *files]:
            stat = file.stat()
            digest.update(f"{file}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
        cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        base = cache / f"ghcn-{digest.hexdigest()[:16]}"
        paths = {
            "values": Path(f"{base}-values.npy"),
            "mask": Path(f"{base}-mask.npy"),
            "meta": Path(f"{base}.json"),
        }
        dates = np.arange(first, last + 1, dtype="M8[D]")
        shape = (len(dates), len(stations), len(elements))
        problem = _cache_problem(paths, shape)
        if problem is None:
            return cls(
                np.load(paths["values"], mmap_mode="r"),
                np.load(paths["mask"], mmap_mode="r"),
                dates,
                stations,
                elements,
            )
        if problem != "missing":
            warnings.warn(
                f"GHCN cache {paths['meta']} is {problem}; rebuilding it", RuntimeWarning, stacklevel=2
            )
        cache.mkdir(parents=True, exist_ok=True)
        paths["meta"].unlink(missing_ok=True)  # a half-rebuilt cache then reads as missing
        temporary = {}
        try:
            for key in ("values", "mask"):  # written in place, renamed when complete
                fd, name = tempfile.mkstemp(prefix=f".{paths[key].name}.", suffix=".tmp", dir=cache)
                os.close(fd)
                temporary[key] = Path(name)
            values = np.lib.format.open_memmap(temporary["values"], "w+", np.float32, shape)
            mask = np.lib.format.open_memmap(temporary["mask"], "w+", np.bool_, shape)
            for s, (station, file) in enumerate(zip(stations["id"], files, strict=True)):
                records = read_dly(file, elements, keep_flagged)
                if len(records) and records["id"][0] != station:
                    raise ValueError(f"{file}: holds station {records['id'][0]}, expected {station}")
                day = (records["date"] - first).astype(np.int64)
                in_range = (day >= 0) & (day < shape[0])
                for f, element in enumerate(elements):
                    sel = in_range & (records["element"] == element)
                    values[day[sel], s, f] = records["value"][sel]
                    mask[day[sel], s, f] = True
                if progress is not None:
                    progress(s + 1, len(files))
            values.flush()
            mask.flush()
            del values, mask
            for key in ("values", "mask"):
                os.replace(temporary[key], paths[key])
        finally:
            for path in temporary.values():
                path.unlink(missing_ok=True)
        meta = {
            "start": str(first),
            "end": str(last),
            "elements": list(elements),
            "stations": stations["id"].tolist(),
            "sha256": {key: _sha256(paths[key]) for key in ("values", "mask")},
            "size": {key: paths[key].stat().st_size for key in ("values", "mask")},
        }
        atomic_write(paths["meta"], lambda tmp: tmp.write_text(json.dumps(meta)), overwrite=True)
        return cls(
            np.load(paths["values"], mmap_mode="r"),
            np.load(paths["mask"], mmap_mode="r"),
            dates,
            stations,
            elements,
        )


def _year_range(files: Sequence[Path], elements: tuple[str, ...]) -> tuple[int, int]:
    """First and last YEAR (columns 12–15) of the lines of ``elements`` in the .dly ``files``."""
    years = set()
    for file in files:
        for line in file.read_text(encoding="latin-1").splitlines():
            if line[17:21] in elements and line[11:15].strip().isdigit():
                years.add(int(line[11:15]))
    if not years:
        raise ValueError(f"no {list(elements)} values in the {len(files)} .dly files: pass start and end")
    return min(years), max(years)


def _cache_problem(paths: dict[str, Path], shape: tuple[int, int, int]) -> str | None:
    """None if the cache at ``paths`` is complete, intact and of ``shape``, else what is wrong with it."""
    if not paths["meta"].is_file():
        return "missing"
    try:
        meta = json.loads(paths["meta"].read_text())
        expected = {key: (int(meta["size"][key]), str(meta["sha256"][key])) for key in ("values", "mask")}
    except (ValueError, KeyError, TypeError):
        return "corrupt (unreadable metadata)"
    for key, (size, sha) in expected.items():
        path = paths[key]
        if not path.is_file():
            return f"incomplete ({path.name} is missing)"
        if path.stat().st_size != size:
            return f"corrupt ({path.name} has {path.stat().st_size} bytes, expected {size})"
        if _sha256(path) != sha:
            return f"corrupt ({path.name} does not match its checksum)"
        if np.load(path, mmap_mode="r").shape != shape:
            return f"corrupt ({path.name} does not have shape {shape})"
    return None


def select_stations(
    dataset: GHCNDataset,
    min_valid_fraction: float = 0.0,
    min_distance_km: float | None = None,
    max_stations: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Indices of a station subset: the dense or sparse sets of the experiments.

    Three filters, in order: stations observed (all features) on at least ``min_valid_fraction`` of the
    days; spatial thinning, greedy in a random order, so that no two kept stations are closer than
    ``min_distance_km`` (great-circle, Earth radius 6371 km); a random subset of at most
    ``max_stations``. A dense set keeps well-observed stations (``min_valid_fraction=0.9``); a sparse
    one thins them (``min_distance_km=500``) or draws a few (``max_stations=100``). Deterministic by
    ``seed``. Returns sorted int64 indices into ``dataset.stations``.
    """
    if not 0.0 <= min_valid_fraction <= 1.0:
        raise ValueError(f"min_valid_fraction must be in [0, 1], got {min_valid_fraction!r}")
    if min_distance_km is not None and not min_distance_km > 0:
        raise ValueError(f"min_distance_km must be positive, got {min_distance_km!r}")
    if max_stations is not None and (
        isinstance(max_stations, bool) or not isinstance(max_stations, int) or max_stations < 1
    ):
        raise ValueError(f"max_stations must be a positive integer, got {max_stations!r}")
    rng = np.random.default_rng(seed)
    keep = np.flatnonzero(dataset.valid_fraction() >= min_valid_fraction)
    if min_distance_km is not None and len(keep) > 1:
        lat, lon = (
            np.radians(dataset.stations["lat_deg"][keep]),
            np.radians(dataset.stations["lon_deg"][keep]),
        )
        xyz = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1)
        tree = cKDTree(xyz)
        chord = 2 * np.sin(min(min_distance_km / EARTH_RADIUS_KM, np.pi) / 2)
        removed = np.zeros(len(keep), dtype=bool)
        kept = []
        for i in rng.permutation(len(keep)):
            if not removed[i]:
                kept.append(i)
                removed[tree.query_ball_point(xyz[i], chord * (1 - 1e-12))] = True
        keep = keep[np.sort(kept)]
    if max_stations is not None and len(keep) > max_stations:
        keep = np.sort(rng.choice(keep, size=max_stations, replace=False))
    if len(keep) == 0:
        raise ValueError(f"no station is observed on {min_valid_fraction:.0%} of the days")
    return keep


# --- task samples ---------------------------------------------------------------------------------------


class ForecastSamples(NamedTuple):
    """Inputs of the previous days and tomorrow's targets; missing entries are 0 in the values and False
    in the masks. ``inputs[n, v, p·F + f]`` is feature ``f`` on day ``t − P + p`` (p = 0 the oldest)."""

    inputs: np.ndarray  # (n, V, P·F) float32
    input_mask: np.ndarray  # (n, V, P·F) bool
    targets: np.ndarray  # (n, V, F) float32
    target_mask: np.ndarray  # (n, V, F) bool


class DayOfYearSamples(NamedTuple):
    """One day's field and its day of the year on the circle, ``(cos, sin)(2π·d/365.25)``."""

    inputs: np.ndarray  # (n, V, F) float32, 0 where missing
    input_mask: np.ndarray  # (n, V, F) bool
    targets: np.ndarray  # (n, 2) float32
    dates: np.ndarray  # (n,) datetime64[D]


def _check_values(values, mask) -> tuple[np.ndarray, np.ndarray]:
    x, m = np.asarray(values), np.asarray(mask)
    if x.ndim != 3:
        raise ValueError(f"values must have shape (n_days, n_stations, n_features), got {x.shape}")
    if m.shape != x.shape or m.dtype != bool:
        raise ValueError(f"mask must be a boolean array of shape {x.shape}, got {m.dtype} {m.shape}")
    bad = m & ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"values has {int(bad.sum())} NaN/inf entries where mask is True")
    return np.where(m, x, 0).astype(np.float32), m


def forecast_samples(values, mask, n_days_past: int = 5) -> ForecastSamples:
    """Samples of tomorrow's forecast: the ``P = n_days_past`` days before day ``t`` → day ``t``.

    Parameters
    ----------
    values, mask : array_like, shape (n_days, V, F)
        E.g. :attr:`GHCNDataset.values` and :attr:`GHCNDataset.mask` (F = 2: TMIN, TMAX).
    n_days_past : int
        ``P`` ≥ 1 days of history.

    Returns
    -------
    ForecastSamples
        ``n = n_days − P`` samples: sample ``i`` has the days ``i … i + P − 1`` as inputs (P·F channels)
        and day ``i + P`` as targets. Missing inputs are 0 with ``input_mask`` False (feed the mask to the
        model as extra channels); missing targets have ``target_mask`` False and must be left out of the
        loss and the scores.

    Examples
    --------
    >>> x = np.arange(12, dtype=np.float32).reshape(6, 1, 2)
    >>> s = forecast_samples(x, np.ones(x.shape, bool), n_days_past=2)
    >>> s.inputs.shape, s.inputs[0, 0].tolist(), s.targets[0, 0].tolist()
    ((4, 1, 4), [0.0, 1.0, 2.0, 3.0], [4.0, 5.0])
    """
    x, m = _check_values(values, mask)
    if (
        isinstance(n_days_past, bool)
        or not isinstance(n_days_past, int | np.integer)
        or not 1 <= n_days_past < len(x)
    ):
        raise ValueError(
            f"n_days_past must be an integer in [1, {len(x) - 1}] (n_days={len(x)}), got {n_days_past!r}"
        )
    p = int(n_days_past)
    n, v, f = len(x) - p, x.shape[1], x.shape[2]
    windows = np.lib.stride_tricks.sliding_window_view(x, p, axis=0)[:n]  # (n, V, F, P)
    window_mask = np.lib.stride_tricks.sliding_window_view(m, p, axis=0)[:n]
    inputs = np.ascontiguousarray(windows.transpose(0, 1, 3, 2)).reshape(n, v, p * f)
    input_mask = np.ascontiguousarray(window_mask.transpose(0, 1, 3, 2)).reshape(n, v, p * f)
    return ForecastSamples(inputs, input_mask, x[p:].copy(), m[p:].copy())


def day_of_year_samples(values, mask, dates) -> DayOfYearSamples:
    """Samples of the day-of-year task: each day's field → ``(cos, sin)(2π·d/365.25)``, ``d`` = days since
    1 January (0 … 365). Days on which no station is observed are left out.

    Examples
    --------
    >>> dates = np.array(["2010-01-01", "2010-07-02"], dtype="M8[D]")
    >>> s = day_of_year_samples(np.ones((2, 3, 2)), np.ones((2, 3, 2), bool), dates)
    >>> s.targets.astype(float).round(3).tolist()
    [[1.0, 0.0], [-1.0, 0.011]]
    """
    x, m = _check_values(values, mask)
    d = np.asarray(dates)
    if d.shape != (len(x),) or not np.issubdtype(d.dtype, np.datetime64):
        raise ValueError(f"dates must be datetime64 of shape ({len(x)},), got {d.dtype} {d.shape}")
    d = d.astype("M8[D]")
    keep = m.any(axis=(1, 2))
    day = (d - d.astype("M8[Y]").astype("M8[D]")).astype(np.float64)
    angle = 2 * np.pi * day / _DAYS_PER_YEAR
    targets = np.stack([np.cos(angle), np.sin(angle)], axis=1).astype(np.float32)
    return DayOfYearSamples(x[keep], m[keep], targets[keep], d[keep])


# --- the synthetic stand-in -----------------------------------------------------------------------------

# Weather of the stand-in: AR(1) persistence per day, eastward drift (deg/day), wavenumber of the random
# Fourier features (1/rad), station noise (°C).
_PERSISTENCE, _DRIFT_DEG, _WAVENUMBER, _STATION_NOISE = 0.8, 8.0, 6.0, 1.5
_QUALITY_FLAGS = np.array(list("DGIKMNORSTWXZ"))  # GHCN-Daily QFLAG codes (readme.txt, section III)


def _station_positions(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Station latitudes/longitudes (degrees): 60 % around 5 random centres, 40 % spread; ≥ 5 km apart."""
    lat, lon = np.empty(0), np.empty(0)
    centres = np.c_[rng.uniform(-35, 60, 5), rng.uniform(-180, 180, 5)]
    while len(lat) < n:
        m = 2 * n
        clustered = rng.random(m) < 0.6
        c = centres[rng.integers(0, 5, m)]
        new_lat = np.where(
            clustered, c[:, 0] + rng.normal(0, 8, m), np.degrees(np.arcsin(rng.uniform(-0.87, 0.96, m)))
        )
        new_lon = np.where(clustered, c[:, 1] + rng.normal(0, 12, m), rng.uniform(-180, 180, m))
        ok = np.abs(new_lat) < 80
        lat, lon = np.r_[lat, new_lat[ok]], np.r_[lon, (new_lon[ok] + 180) % 360 - 180]
        rad_lat, rad_lon = np.radians(lat), np.radians(lon)
        xyz = np.c_[np.cos(rad_lat) * np.cos(rad_lon), np.cos(rad_lat) * np.sin(rad_lon), np.sin(rad_lat)]
        close = cKDTree(xyz).query_pairs(5.0 / EARTH_RADIUS_KM, output_type="ndarray")
        drop = np.zeros(len(lat), dtype=bool)
        drop[close[:, 1]] = True
        lat, lon = lat[~drop], lon[~drop]
    return lat[:n], lon[:n]


def make_ghcn(
    folder: str | os.PathLike,
    n_stations: int = 300,
    years: int | tuple[int, int] = (2010, 2011),
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic GHCN-Daily set in the real formats: ``ghcnd-stations.txt``, ``ghcnd_all/<ID>.dly``.

    Stations (IDs ``ZZ0`` + 8 digits, names ``SYNTHETIC STATION n``) cluster around 5 random centres
    (60 %) or spread over latitudes −60°…74°, at least 5 km apart. Daily temperatures:

    ``T = 28 − 0.45|lat| − 6.5·elev_km − s·0.25|lat|·cos(2π(d − 20)/365.25) + W(x, t)``,
    ``TMAX/TMIN = T ± DTR/2 + ε``,

    with ``s`` the hemisphere's sign, a diurnal range DTR of 8–12 °C per station, independent station
    noise ``ε ~ N(0, 1.5 °C)``, and a weather anomaly ``W`` of standard deviation ``2 + 3|lat|/60`` °C: a
    smooth random field (64 random Fourier features, correlation length ≈ 10°) whose amplitudes follow
    an AR(1) process (ρ = 0.8 per day) and which drifts eastward 8° per day — so that yesterday and the
    stations upstream both predict tomorrow. Missing values (−9999): 0–15 % of the days at random per
    station, a 10–60 day gap at 30 % of the stations, a late start (20–40 % of the period) at 10 %, and
    2 % more for TMIN alone. 0.3 % of the observed values carry a quality flag (QFLAG) and a value off by
    15–30 °C, as quality-failed values do. Deterministic by ``seed``. Returns ``folder``.

    Parameters
    ----------
    folder : path
        Output folder (created).
    n_stations : int
        Number of stations (≥ 4).
    years : int or (int, int)
        First and last year, inclusive; an int ``n`` means ``n`` years from 2010.
    seed : int
        Random seed.
    overwrite : bool
        Replace existing files of the same names.
    """
    if isinstance(n_stations, bool) or not isinstance(n_stations, int) or n_stations < 4:
        raise ValueError(f"n_stations must be an integer ≥ 4, got {n_stations!r}")
    if isinstance(years, int) and not isinstance(years, bool) and years >= 1:
        years = (2010, 2010 + years - 1)
    if (
        not isinstance(years, tuple | list)
        or len(years) != 2
        or not all(isinstance(y, int) and not isinstance(y, bool) for y in years)
        or not 1 <= years[0] <= years[1] <= 9999
    ):
        raise ValueError(
            f"years must be a number of years ≥ 1 or (first, last) with first ≤ last, got {years!r}"
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    folder = Path(folder).expanduser()
    ids = [f"ZZ0{i:08d}" for i in range(n_stations)]
    targets = [folder / STATIONS_FILE] + [folder / DLY_FOLDER / f"{s}.dly" for s in ids]
    existing = [p for p in targets if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"{existing[0]} exists ({len(existing)} files would be replaced); "
            "pass overwrite=True (--overwrite)"
        )
    rng = np.random.default_rng(seed)
    lat, lon = _station_positions(n_stations, rng)
    elevation = np.round(np.abs(rng.normal(0, 600, n_stations)), 1)
    stations = np.zeros(n_stations, dtype=STATION_DTYPE)
    stations["id"], stations["lat_deg"], stations["lon_deg"] = ids, np.round(lat, 4), np.round(lon, 4)
    stations["elevation_m"] = elevation
    stations["name"] = [f"SYNTHETIC STATION {i}" for i in range(n_stations)]

    dates = np.arange(
        np.datetime64(f"{years[0]}-01-01"), np.datetime64(f"{years[1] + 1}-01-01"), dtype="M8[D]"
    )
    n_days = len(dates)
    day_of_year = (dates - dates.astype("M8[Y]").astype("M8[D]")).astype(np.float64)
    rad_lat, rad_lon = np.radians(stations["lat_deg"]), np.radians(stations["lon_deg"])
    abs_lat = np.abs(stations["lat_deg"])
    seasonal = -np.sign(stations["lat_deg"]) * 0.25 * abs_lat
    climate = (28 - 0.45 * abs_lat - 6.5e-3 * elevation)[None, :] + seasonal[None, :] * np.cos(
        2 * np.pi * (day_of_year[:, None] - 20) / _DAYS_PER_YEAR
    )
    n_waves, rho, drift = 64, _PERSISTENCE, np.radians(_DRIFT_DEG)
    omega = rng.normal(0.0, _WAVENUMBER, size=(3, n_waves))
    phase = rng.uniform(0, 2 * np.pi, n_waves)
    amplitude = rng.standard_normal(n_waves)
    weather = np.empty((n_days, n_stations))
    for t in range(n_days):
        if t:
            amplitude = rho * amplitude + np.sqrt(1 - rho**2) * rng.standard_normal(n_waves)
        shifted = rad_lon - drift * t  # W(lon, t) = G(lon − drift·t): the pattern moves east
        xyz = np.c_[np.cos(rad_lat) * np.cos(shifted), np.cos(rad_lat) * np.sin(shifted), np.sin(rad_lat)]
        weather[t] = np.sqrt(2.0 / n_waves) * np.cos(xyz @ omega + phase) @ amplitude
    weather *= (2 + 3 * abs_lat / 60)[None, :]
    dtr = rng.uniform(8, 12, n_stations)
    temps = {
        "TMAX": climate + weather + dtr / 2 + rng.normal(0, _STATION_NOISE, (n_days, n_stations)),
        "TMIN": climate + weather - dtr / 2 + rng.normal(0, _STATION_NOISE, (n_days, n_stations)),
    }
    missing = rng.random((n_days, n_stations)) < rng.uniform(0, 0.15, n_stations)
    for s in np.flatnonzero(rng.random(n_stations) < 0.3):
        length = int(rng.integers(10, 61))
        begin = int(rng.integers(0, max(1, n_days - length)))
        missing[begin : begin + length, s] = True
    for s in np.flatnonzero(rng.random(n_stations) < 0.1):
        missing[: int(rng.uniform(0.2, 0.4) * n_days), s] = True

    lines: dict[str, list[str]] = {s: [] for s in ids}
    months = dates.astype("M8[M]")
    for element in ("TMAX", "TMIN"):
        tenths = np.round(temps[element] * 10).astype(np.int64)
        gone = missing | (rng.random(missing.shape) < 0.02) if element == "TMIN" else missing
        flagged = ~gone & (rng.random(missing.shape) < 0.003)
        n_flagged = int(flagged.sum())
        tenths[flagged] += rng.choice([-1, 1], n_flagged) * rng.integers(150, 301, n_flagged)
        qflag = np.full(missing.shape, " ")
        qflag[flagged] = rng.choice(_QUALITY_FLAGS, n_flagged)
        tenths[gone] = GHCN_MISSING
        for month in np.unique(months):
            rows = np.flatnonzero(months == month)
            year, number = int(str(month)[:4]), int(str(month)[5:7])
            pad = 31 - len(rows)  # days that do not exist: −9999, blank flags
            for s, station in enumerate(ids):
                values = np.r_[tenths[rows, s], np.full(pad, GHCN_MISSING)]
                flags = np.r_[qflag[rows, s], np.full(pad, " ")]
                lines[station].append(_dly_line(station, year, number, element, values, flags))

    folder.mkdir(parents=True, exist_ok=True)
    for station in ids:
        text = "\n".join(sorted(lines[station], key=lambda line: (line[11:17], line[17:21]))) + "\n"
        atomic_write(
            folder / DLY_FOLDER / f"{station}.dly", lambda tmp, text=text: tmp.write_text(text), overwrite
        )
    text = "\n".join(_station_line(station) for station in stations) + "\n"
    atomic_write(folder / STATIONS_FILE, lambda tmp: tmp.write_text(text), overwrite)
    return folder
