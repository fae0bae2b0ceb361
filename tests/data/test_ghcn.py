"""GHCN-Daily: the fixed-width formats, the cached data set, station subsets, task samples, the stand-in."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from deepsphere.analysis.segmentation import circular_error_days
from deepsphere.data import ghcn
from deepsphere.data.ghcn import (
    GHCNDataset,
    day_of_year_samples,
    forecast_samples,
    make_ghcn,
    read_dly,
    read_stations,
    select_stations,
    stations_sampling,
)

STATIONS = """\
ACW00011604  17.1167  -61.7833   10.1    ST JOHNS COOLIDGE FLD
AQC00914000 -14.3167 -170.7667 -999.9 AS ONENOA                         GSN CRN
USW00094728  40.7789  -73.9692   39.6 NY NEW YORK CNTRL PK TWR              HCN 72506
"""


def _day(value, mflag=" ", qflag=" ", sflag=" "):
    """One day of a .dly line: VALUE in 5 columns, then MFLAG, QFLAG, SFLAG."""
    return f"{value:>5}{mflag}{qflag}{sflag}"


def _line(header, days):
    return header + "".join(days) + _day(-9999) * (31 - len(days))


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("ghcn")
    make_ghcn(root, n_stations=120, years=(2010, 2010), seed=1)
    cache = tmp_path_factory.mktemp("cache")
    return root, cache, GHCNDataset.build(root, "2010-01-01", "2010-12-31", cache_dir=cache)


# --- the formats ------------------------------------------------------------------------------------------


def test_read_stations_fixed_width(tmp_path):
    path = tmp_path / "ghcnd-stations.txt"
    path.write_text(STATIONS + "\n")
    st = read_stations(path)
    assert st["id"].tolist() == ["ACW00011604", "AQC00914000", "USW00094728"]
    np.testing.assert_allclose(st["lat_deg"], [17.1167, -14.3167, 40.7789])
    np.testing.assert_allclose(st["lon_deg"], [-61.7833, -170.7667, -73.9692])
    assert st["elevation_m"][0] == 10.1 and np.isnan(st["elevation_m"][1])  # −999.9: missing
    assert st["state"].tolist() == ["", "AS", "NY"]
    assert st["name"][2] == "NEW YORK CNTRL PK TWR"
    assert st["gsn_flag"].tolist() == ["", "GSN", ""]
    assert st["hcn_crn_flag"].tolist() == ["", "CRN", "HCN"]
    assert st["wmo_id"].tolist() == ["", "", "72506"]


@pytest.mark.parametrize(
    "bad_line, match",
    [
        ("ACW00011605  17.11x7  -61.7833   10.1    X", "line 2: LATITUDE"),
        ("ACW00011605  97.1167  -61.7833   10.1    X", "line 2: latitude 97.1167"),
        ("ACW00011604  17.1167  -61.7833   10.1    X", "line 2: station ACW00011604 is already on line 1"),
        ("ACW 0011605  17.1167  -61.7833", "line 2: ID"),
        ("ACW00011605  17.1167", "line 2: a station line"),
    ],
)
def test_malformed_station_line_names_file_and_line(tmp_path, bad_line, match):
    path = tmp_path / "stations.txt"
    path.write_text(STATIONS.splitlines()[0] + "\n" + bad_line + "\n")
    with pytest.raises(ValueError, match=match) as err:
        read_stations(path)
    assert str(path) in str(err.value)


def test_read_dly_values_flags_and_dates(tmp_path):
    path = tmp_path / "USC00026481.dly"
    feb = "USC00026481201002TMAX"
    days = [_day(123), _day(-9999), _day(50, qflag="I"), _day(-15, mflag="T", sflag="S")]
    days += [_day(-9999)] * 24 + [_day(99), _day(98), _day(97)]  # 29–31 February 2010 do not exist
    lines = [
        _line(feb, days),
        _line("USC00026481201002TMIN", [_day(-40, sflag="7")]),
        _line("USC00026481201002PRCP", [_day(25)]),
        _line("USC00026481201202TMAX", [_day(0)] * 29),  # 2012 is a leap year: 29 February exists
    ]
    assert len(lines[0]) == 269 and lines[0][21:29] == "  123   "
    path.write_text("\n".join(lines) + "\n")
    records = read_dly(path)
    tmax = records[records["element"] == "TMAX"]
    assert tmax["date"][:2].astype(str).tolist() == ["2010-02-01", "2010-02-04"]
    assert tmax["value"][:2].tolist() == [12.3, -1.5]  # tenths of °C → °C
    assert tmax["mflag"][1] == "T" and tmax["sflag"][1] == "S"
    assert "2012-02-29" in tmax["date"].astype(str).tolist() and len(tmax) == 2 + 29
    tmin = records[records["element"] == "TMIN"]
    assert tmin["value"].tolist() == [-4.0] and tmin["sflag"][0] == "7"
    assert (records["id"] == "USC00026481").all() and "PRCP" not in records["element"]
    flagged = read_dly(path, elements=["TMAX"], keep_flagged=True)
    third = flagged[flagged["date"] == np.datetime64("2010-02-03")]
    assert third["value"].tolist() == [5.0] and third["qflag"][0] == "I"
    prcp = read_dly(path, elements="PRCP")
    assert prcp["value"].tolist() == [2.5]  # tenths of mm → mm


@pytest.mark.parametrize(
    "bad_line, match",
    [
        (_line("USC00026481201003TMAX", [_day(1), _day(2), "12a45   "]), r"line 2: VALUE3 \(columns 38–42\)"),
        (_line("USC00026481201013TMAX", []), "line 2: year 2010 / month 13"),
        (_line("USC00026481201003TMAX", [])[:200], "line 2: a .dly line has 269 characters, got 200"),
        (_line("USC00099999201003TMAX", []), "line 2: ID 'USC00099999' differs"),
        (_line("USC000264812O1003TMAX", []), r"line 2: YEAR \(12–15\)"),
    ],
)
def test_malformed_dly_line_names_file_and_line(tmp_path, bad_line, match):
    path = tmp_path / "USC00026481.dly"
    path.write_text(_line("USC00026481201002TMAX", [_day(1)]) + "\n" + bad_line + "\n")
    with pytest.raises(ValueError, match=match) as err:
        read_dly(path)
    assert str(path) in str(err.value)


def test_read_dly_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="4-character GHCN element codes"):
        read_dly(tmp_path / "x.dly", elements=["TMAXX"])
    with pytest.raises(ValueError, match="does not exist"):
        read_dly(tmp_path / "x.dly")


# --- the stand-in and the data set ------------------------------------------------------------------------


def test_make_ghcn_writes_the_real_formats(synthetic):
    root, _, dataset = synthetic
    stations = read_stations(root / "ghcnd-stations.txt")
    assert len(stations) == 120 and stations["id"][0] == "ZZ000000000"
    lines = (root / "ghcnd_all" / "ZZ000000007.dly").read_text().splitlines()
    assert len(lines) == 24 and {len(line) for line in lines} == {269}  # 12 months × TMAX, TMIN
    assert all(line.startswith("ZZ000000007") for line in lines)
    assert (root / "ghcnd-stations.txt").read_text().splitlines()[0][
        12:20
    ] == f"{stations['lat_deg'][0]:8.4f}"
    np.testing.assert_array_equal(dataset.stations, stations)
    assert dataset.values.shape == (365, 120, 2) and dataset.elements == ("TMIN", "TMAX")
    assert 0.75 < dataset.mask.mean() < 0.95  # missing values and gaps, as documented


def test_dataset_matches_the_dly_files(synthetic):
    root, _, dataset = synthetic
    for s in (0, 37, 119):
        station = dataset.stations["id"][s]
        records = read_dly(root / "ghcnd_all" / f"{station}.dly")
        for f, element in enumerate(dataset.elements):
            rec = records[records["element"] == element]
            day = (rec["date"] - np.datetime64("2010-01-01")).astype(int)
            expected = np.zeros(365, dtype=bool)
            expected[day] = True
            np.testing.assert_array_equal(dataset.mask[:, s, f], expected)
            np.testing.assert_allclose(dataset.values[day, s, f], rec["value"], rtol=1e-6)
            assert np.all(dataset.values[~expected, s, f] == 0)
    # every quality-flagged value of the files is masked out
    flagged = 0
    for s, station in enumerate(dataset.stations["id"]):
        records = read_dly(root / "ghcnd_all" / f"{station}.dly", keep_flagged=True)
        for record in records[records["qflag"] != " "]:
            day = int((record["date"] - np.datetime64("2010-01-01")).astype(int))
            assert not dataset.mask[day, s, dataset.elements.index(record["element"])]
            flagged += 1
    assert flagged > 0


def test_make_ghcn_is_deterministic_and_never_overwrites(tmp_path):
    make_ghcn(tmp_path / "a", n_stations=6, years=(2011, 2011), seed=2)
    make_ghcn(tmp_path / "b", n_stations=6, years=(2011, 2011), seed=2)
    make_ghcn(tmp_path / "c", n_stations=6, years=(2011, 2011), seed=3)
    one = (tmp_path / "a" / "ghcnd_all" / "ZZ000000003.dly").read_bytes()
    assert one == (tmp_path / "b" / "ghcnd_all" / "ZZ000000003.dly").read_bytes()
    assert one != (tmp_path / "c" / "ghcnd_all" / "ZZ000000003.dly").read_bytes()
    with pytest.raises(FileExistsError, match=r"overwrite=True \(--overwrite\)"):
        make_ghcn(tmp_path / "a", n_stations=6, years=(2011, 2011), seed=2)
    make_ghcn(tmp_path / "e", n_stations=4, years=2, seed=2)  # a number of years, from 2010
    lines = (tmp_path / "e" / "ghcnd_all" / "ZZ000000000.dly").read_text().splitlines()
    assert len(lines) == 48 and lines[0][11:17] == "201001" and lines[-1][11:17] == "201112"
    with pytest.raises(ValueError, match="years must be"):
        make_ghcn(tmp_path / "d", years=(2012, 2011))
    with pytest.raises(ValueError, match="n_stations must be an integer ≥ 4"):
        make_ghcn(tmp_path / "d", n_stations=3)


def test_cache_is_reused(synthetic, monkeypatch):
    root, cache, dataset = synthetic

    def fail(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(ghcn, "read_dly", fail)
    again = GHCNDataset.build(root, "2010-01-01", "2010-12-31", cache_dir=cache)
    np.testing.assert_array_equal(again.values, dataset.values)
    np.testing.assert_array_equal(again.mask, dataset.mask)
    assert not list(cache.glob("*.tmp"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "meta"])
def test_corrupt_cache_is_detected_and_rebuilt(tmp_path, synthetic, damage):
    root, _, dataset = synthetic
    cache = tmp_path / "cache"
    GHCNDataset.build(root, "2010-03-01", "2010-03-31", cache_dir=cache)
    (values,) = cache.glob("ghcn-*-values.npy")
    (meta,) = cache.glob("ghcn-*.json")
    if damage == "flip":
        raw = bytearray(values.read_bytes())
        raw[-5] ^= 0xFF
        values.write_bytes(bytes(raw))
    elif damage == "truncate":
        values.write_bytes(values.read_bytes()[:-100])
    else:
        meta.write_text("{")
    with pytest.warns(RuntimeWarning, match="corrupt"):
        rebuilt = GHCNDataset.build(root, "2010-03-01", "2010-03-31", cache_dir=cache)
    np.testing.assert_array_equal(rebuilt.values, dataset.values[59:90])
    np.testing.assert_array_equal(rebuilt.mask, dataset.mask[59:90])


def test_build_arguments(tmp_path, synthetic):
    root, cache, dataset = synthetic
    whole = GHCNDataset.build(root, cache_dir=cache)  # no dates: the years found in the files
    assert whole.dates[0] == np.datetime64("2010-01-01") and whole.dates[-1] == np.datetime64("2010-12-31")
    np.testing.assert_array_equal(whole.mask, dataset.mask)
    with pytest.raises(ValueError, match="end 2010-01-01 is before start 2010-02-01"):
        GHCNDataset.build(root, "2010-02-01", "2010-01-01", cache_dir=cache)
    with pytest.raises(ValueError, match="start must be a date"):
        GHCNDataset.build(root, "yesterday", "2010-01-01", cache_dir=cache)
    with pytest.raises(ValueError, match="ghcnd-stations.txt does not exist"):
        GHCNDataset.build(tmp_path, "2010-01-01", "2010-01-02", cache_dir=cache)


# --- stations and samples ---------------------------------------------------------------------------------


def _great_circle_km(stations):
    lat, lon = np.radians(stations["lat_deg"]), np.radians(stations["lon_deg"])
    dlat, dlon = lat[:, None] - lat[None, :], lon[:, None] - lon[None, :]
    h = np.sin(dlat / 2) ** 2 + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin(dlon / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(h))  # haversine


def test_select_stations(synthetic):
    _, _, dataset = synthetic
    dense = select_stations(dataset, min_valid_fraction=0.9)
    np.testing.assert_array_equal(dense, np.flatnonzero(dataset.valid_fraction() >= 0.9))
    sparse = select_stations(dataset, min_distance_km=1500, seed=4)
    distance = _great_circle_km(dataset.stations[sparse])
    assert distance[np.triu_indices(len(sparse), 1)].min() >= 1500
    # maximal: every dropped station is within 1500 km of a kept one
    full = _great_circle_km(dataset.stations)
    dropped = np.setdiff1d(np.arange(120), sparse)
    assert np.all(full[np.ix_(dropped, sparse)].min(axis=1) < 1500)
    few = select_stations(dataset, max_stations=10, seed=4)
    assert len(few) == 10 and np.array_equal(few, select_stations(dataset, max_stations=10, seed=4))
    assert not np.array_equal(few, select_stations(dataset, max_stations=10, seed=5))
    subset = dataset.subset(few)
    np.testing.assert_array_equal(subset.values, dataset.values[:, few])
    with pytest.raises(ValueError, match="min_valid_fraction must be in"):
        select_stations(dataset, min_valid_fraction=1.5)
    with pytest.raises(ValueError, match="max_stations must be a positive integer"):
        select_stations(dataset, max_stations=0)


def test_stations_sampling(synthetic):
    _, _, dataset = synthetic
    sampling = dataset.sampling()
    lat, lon = np.radians(dataset.stations["lat_deg"]), np.radians(dataset.stations["lon_deg"])
    expected = np.c_[np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)]
    np.testing.assert_allclose(sampling.coords, expected, atol=1e-12)
    twins = np.concatenate([dataset.stations[:5], dataset.stations[2:3]])
    twins["id"][-1] = "ZZ099999999"
    with pytest.raises(ValueError, match="stations ZZ000000002 and ZZ099999999 are at the same place"):
        stations_sampling(twins)


def test_forecast_samples_by_loops():
    rng = np.random.default_rng(5)
    values = rng.normal(size=(9, 4, 2)).astype(np.float32)
    mask = rng.random(values.shape) > 0.3
    s = forecast_samples(np.where(mask, values, np.nan), mask, n_days_past=3)
    assert s.inputs.shape == (6, 4, 6) and s.targets.shape == (6, 4, 2)
    for i in range(6):
        for p in range(3):
            for f in range(2):
                day = i + p
                assert s.input_mask[i, :, p * 2 + f].tolist() == mask[day, :, f].tolist()
                np.testing.assert_array_equal(
                    s.inputs[i, :, p * 2 + f], np.where(mask[day, :, f], values[day, :, f], 0)
                )
        np.testing.assert_array_equal(s.targets[i], np.where(mask[i + 3], values[i + 3], 0))
        np.testing.assert_array_equal(s.target_mask[i], mask[i + 3])
    with pytest.raises(ValueError, match=r"n_days_past must be an integer in \[1, 8\]"):
        forecast_samples(values, mask, n_days_past=9)
    with pytest.raises(ValueError, match="NaN/inf entries where mask is True"):
        forecast_samples(np.full(values.shape, np.nan), np.ones(values.shape, bool))


def test_day_of_year_samples():
    dates = np.array(["2011-01-01", "2011-04-02", "2011-07-02", "2011-12-31"], dtype="M8[D]")
    mask = np.ones((4, 3, 2), bool)
    mask[1] = False  # nobody observed on 2 April: left out
    s = day_of_year_samples(np.ones((4, 3, 2)), mask, dates)
    assert s.dates.astype(str).tolist() == ["2011-01-01", "2011-07-02", "2011-12-31"]
    angle = 2 * np.pi * np.array([0, 182, 364]) / 365.25
    np.testing.assert_allclose(s.targets, np.c_[np.cos(angle), np.sin(angle)], atol=1e-6)
    assert circular_error_days(s.targets, s.targets).max() < 1e-3
    with pytest.raises(ValueError, match="dates must be datetime64"):
        day_of_year_samples(np.ones((4, 3, 2)), mask, np.arange(4))


def test_past_days_and_neighbours_help_the_forecast(synthetic):
    """What the K = 5 vs K = 1 comparison relies on: a linear forecast of tomorrow's TMAX improves with
    the past days and again with the neighbours' values (the stand-in's weather persists and moves)."""
    _, _, dataset = synthetic
    s = forecast_samples(dataset.values, dataset.mask, n_days_past=5)
    _, neighbours = cKDTree(dataset.sampling().coords).query(dataset.sampling().coords, 9)
    x, m = s.inputs, s.input_mask.astype(np.float32)
    around = (x[:, neighbours[:, 1:]] * m[:, neighbours[:, 1:]]).sum(2) / np.maximum(
        m[:, neighbours[:, 1:]].sum(2), 1
    )
    target, valid = s.targets[..., 1], s.target_mask[..., 1]

    def r2(features):
        a = np.c_[features[valid], np.ones(int(valid.sum()))]
        coef, *_ = np.linalg.lstsq(a, target[valid], rcond=None)
        return 1 - np.var(target[valid] - a @ coef) / np.var(target[valid])

    today = r2(np.concatenate([x[..., -2:], m[..., -2:]], -1))
    past = r2(np.concatenate([x, m], -1))
    with_neighbours = r2(np.concatenate([x, m, around], -1))
    assert past > today + 0.02
    assert with_neighbours > past + 0.005
