"""The climate data layer: UGSCNN format, mesh order, statistics, NetCDF regridding, the synthetic set."""

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse

from deepsphere.data import climate
from deepsphere.data.climate import (
    CLIMATE_CHANNELS,
    ClimateCollection,
    ClimateDataset,
    channel_stats,
    class_frequencies,
    icosahedral_order,
    inverse_frequency_weights,
    make_climate,
    read_climate_file,
    read_mesh_vertices,
    regrid_netcdf,
    ugscnn_icosphere,
    write_climate_file,
)
from deepsphere.sampling import HEALPix, Icosahedral


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("climate")
    return make_climate(folder, level=2, n_steps=10, seed=3)


# --- the mesh ---------------------------------------------------------------------------------------------


def test_base_icosahedron_is_trimesh_icosahedron():
    trimesh = pytest.importorskip("trimesh")
    ico = trimesh.creation.icosahedron()
    np.testing.assert_allclose(ugscnn_icosphere(0), ico.vertices, atol=1e-15)


@pytest.mark.parametrize("level", [1, 2, 3])
def test_icosphere_is_hierarchical_midpoint_subdivision(level):
    fine, coarse = ugscnn_icosphere(level), ugscnn_icosphere(level - 1)
    assert fine.shape == (10 * 4**level + 2, 3)
    np.testing.assert_allclose(np.linalg.norm(fine, axis=1), 1.0, atol=1e-15)
    np.testing.assert_allclose(fine[: len(coarse)], coarse, atol=1e-15)  # coarse vertices come first
    # every new vertex is the normalised midpoint of its two nearest coarse vertices, equidistant
    for v in fine[len(coarse) :: 5]:
        a, b = coarse[np.argsort(-(coarse @ v))[:2]]
        np.testing.assert_allclose(v, (a + b) / np.linalg.norm(a + b), atol=1e-14)


@pytest.mark.parametrize("level", [0, 2, 4])
def test_icosahedral_order_is_a_rotation_onto_our_mesh(level):
    theirs = ugscnn_icosphere(level)
    order = icosahedral_order(theirs)
    ours = Icosahedral(level).coords
    # Kabsch: the best rotation taking theirs[order] to ours must fit exactly and be proper
    u, _, vt = np.linalg.svd(theirs[order].T @ ours)
    rotation = (u @ vt).T
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    np.testing.assert_allclose(theirs[order] @ rotation.T, ours, atol=1e-12)


def test_icosahedral_order_rejects_other_points():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="not an icosphere size"):
        icosahedral_order(rng.normal(size=(100, 3)))
    with pytest.raises(ValueError, match="not a regular icosahedron"):
        icosahedral_order(rng.normal(size=(42, 3)))
    shuffled = ugscnn_icosphere(2)[np.r_[12:24, 0:12, 24:162]]
    with pytest.raises(ValueError, match="not a regular icosahedron"):
        icosahedral_order(shuffled)


def test_read_mesh_vertices(tmp_path):
    v = ugscnn_icosphere(1)
    np.save(tmp_path / "v.npy", 2 * v)
    np.testing.assert_allclose(read_mesh_vertices(tmp_path / "v.npy"), v)  # normalised
    np.savez(tmp_path / "m.npz", V=v)
    np.testing.assert_allclose(read_mesh_vertices(tmp_path / "m.npz"), v)
    # UGSCNN's pickle: a dict with the vertices and its FEM matrices
    with (tmp_path / "icosphere_1.pkl").open("wb") as f:
        pickle.dump({"V": v, "F": np.zeros((80, 3), int), "nv_prev": 12, "L": scipy.sparse.eye(42)}, f)
    np.testing.assert_allclose(read_mesh_vertices(tmp_path / "icosphere_1.pkl"), v)
    np.savez(tmp_path / "other.npz", faces=np.zeros(3))
    with pytest.raises(ValueError, match="no array 'V', 'vertices' or 'coords'"):
        read_mesh_vertices(tmp_path / "other.npz")
    np.save(tmp_path / "flat.npy", v[:, :2])
    with pytest.raises(ValueError, match=r"shape \(V, 3\)"):
        read_mesh_vertices(tmp_path / "flat.npy")
    v.tofile(tmp_path / "v.bin")
    with pytest.raises(ValueError, match="suffix must be .npy, .npz or .pkl"):
        read_mesh_vertices(tmp_path / "v.bin")


# --- one file ---------------------------------------------------------------------------------------------


def test_write_read_round_trip_in_ugscnn_layout(tmp_path):
    rng = np.random.default_rng(1)
    data = rng.normal(size=(42, 16)).astype(np.float32)
    labels = rng.integers(0, 3, 42)
    path = write_climate_file(tmp_path / "data-2106-01-01-00-1-mesh.npz", data, labels)
    with np.load(path) as raw:  # the real layout: channels first, one-hot labels
        assert raw["data"].shape == (16, 42) and raw["labels"].shape == (3, 42)
        np.testing.assert_array_equal(raw["labels"].sum(axis=0), 1)
    got, got_labels = read_climate_file(path, n_vertices=42)
    np.testing.assert_array_equal(got, data)
    np.testing.assert_array_equal(got_labels, labels)
    assert got.dtype == np.float32 and got_labels.dtype == np.int64
    with pytest.raises(FileExistsError):
        write_climate_file(path, data, labels)


def test_read_accepts_other_layouts_like_ugscnn(tmp_path):
    data = np.arange(42 * 16, dtype=np.float64).reshape(42, 16)
    soft = np.zeros((42, 3))
    soft[:, 1] = 1.0
    soft[0] = [0.4, 0.6, 0.0]  # UGSCNN casts to int before argmax: a soft label becomes background
    np.savez(tmp_path / "a.npz", data=data, labels=soft)
    got, labels = read_climate_file(tmp_path / "a.npz")
    np.testing.assert_array_equal(got, data.astype(np.float32))
    assert labels[0] == 0 and np.all(labels[1:] == 1)
    np.savez(tmp_path / "b.npz", data=data.T, labels=np.full(42, 2))
    assert np.all(read_climate_file(tmp_path / "b.npz")[1] == 2)


def test_read_errors_name_file_and_array(tmp_path):
    np.savez(tmp_path / "nolabels.npz", data=np.zeros((16, 42)))
    with pytest.raises(ValueError, match=r"nolabels\.npz: missing array 'labels'"):
        read_climate_file(tmp_path / "nolabels.npz")
    bad = np.zeros((16, 42))
    bad[5, 3] = np.nan
    np.savez(tmp_path / "nan.npz", data=bad, labels=np.zeros((3, 42)))
    with pytest.raises(ValueError, match=r"1 NaN/infinite values in channels \['QREFHT'\]"):
        read_climate_file(tmp_path / "nan.npz")
    np.savez(tmp_path / "small.npz", data=np.zeros((16, 12)), labels=np.zeros((3, 12)))
    with pytest.raises(ValueError, match="has 12 vertices, expected 42"):
        read_climate_file(tmp_path / "small.npz", n_vertices=42)
    np.savez(tmp_path / "channels.npz", data=np.zeros((4, 42)), labels=np.zeros((3, 42)))
    with pytest.raises(ValueError, match=r"'data' must have shape \(16, n_vertices\)"):
        read_climate_file(tmp_path / "channels.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(ValueError, match="not a readable .npz"):
        read_climate_file(tmp_path / "junk.npz")
    with pytest.raises(ValueError, match="does not exist"):
        read_climate_file(tmp_path / "none.npz")


# --- the synthetic set and the collection -----------------------------------------------------------------


def test_make_climate_writes_splits_like_partition(synthetic):
    train, val, test = (synthetic.files(s) for s in ("train", "val", "test"))
    assert (len(train), len(val), len(test)) == (7, 1, 2)
    assert len(set(train) | set(val) | set(test)) == 10
    names = sorted(p.name for p in train + val + test)  # 3-hourly steps: 8 slots a day, run 1
    assert names[0] == "data-2106-01-01-00-1-mesh.npz" and names[-1] == "data-2106-01-02-01-1-mesh.npz"
    assert synthetic.n_vertices == 162 and synthetic.vertices.shape == (162, 3)
    assert not list(Path(synthetic.root).glob("*.tmp"))


def test_make_climate_is_deterministic_and_never_overwrites(tmp_path, synthetic):
    again = make_climate(tmp_path / "a", level=2, n_steps=10, seed=3)
    for a, b in zip(synthetic.files("train"), again.files("train"), strict=True):
        assert a.name == b.name and a.read_bytes() == b.read_bytes()
    other = make_climate(tmp_path / "b", level=2, n_steps=10, seed=4)
    assert (
        read_climate_file(other.files("train")[0])[0].tobytes()
        != read_climate_file(again.files("train")[0])[0].tobytes()
    )
    with pytest.raises(FileExistsError, match=r"overwrite=True \(--overwrite\)"):
        make_climate(tmp_path / "a", level=2, n_steps=10, seed=3)
    make_climate(tmp_path / "a", level=2, n_steps=10, seed=5, overwrite=True)
    with pytest.raises(ValueError, match="n_steps must be an integer ≥ 3"):
        make_climate(tmp_path / "c", level=2, n_steps=2)


def test_synthetic_class_shares_and_event_signatures(tmp_path):
    collection = make_climate(tmp_path, level=5, n_steps=8, seed=0)
    counts = np.zeros(3)
    psl, tmq = [], []
    lat = np.degrees(np.arcsin(collection.vertices[:, 2]))
    for split in ("train", "val", "test"):
        for file in collection.files(split):
            data, labels = read_climate_file(file, 10242)
            counts += np.bincount(labels, minlength=3)
            z = (data - np.array(climate.UGSCNN_MEAN)) / np.array(climate.UGSCNN_STD)
            p, q = CLIMATE_CHANNELS.index("PSL"), CLIMATE_CHANNELS.index("TMQ")
            psl.append((z[labels == 1, p].mean(), z[labels == 0, p].mean()))
            tmq.append((z[labels == 2, q].mean(), z[labels == 0, q].mean()))
            assert np.abs(lat[labels == 1]).max() < 35  # cyclones at low latitudes
    share = counts / counts.sum()
    assert 0.95 < share[0] < 0.985  # documented: ≈ 97.5 % background
    assert 0.001 <= share[1] <= 0.01  # TC 0.1–1 %
    assert 0.01 <= share[2] <= 0.04  # AR ≈ 2.2 %
    assert all(tc < bg - 2 for tc, bg in psl)  # low sea-level pressure in cyclones
    assert all(ar > bg + 1.5 for ar, bg in tmq)  # moist rivers


def test_from_folder_errors(tmp_path, synthetic):
    with pytest.raises(ValueError, match="val_split.txt does not exist"):
        folder = tmp_path / "x"
        folder.mkdir()
        (folder / "train_split.txt").write_text("")
        ClimateCollection.from_folder(folder)
    root = Path(synthetic.root)
    lists = tmp_path / "lists"
    lists.mkdir()
    for split in ("train", "val", "test"):
        (lists / f"{split}_split.txt").write_text((root / f"{split}_split.txt").read_text())
    assert ClimateCollection.from_folder(root, split_dir=lists).files("test") == synthetic.files("test")
    (lists / "test_split.txt").write_text(f"\n{synthetic.files('test')[0].name}\ndata-missing.npz\n")
    with pytest.raises(ValueError, match=r"test_split.txt, line 3: .*data-missing.npz does not exist"):
        ClimateCollection.from_folder(root, split_dir=lists)
    (lists / "test_split.txt").write_text(synthetic.files("train")[0].name)
    with pytest.raises(ValueError, match="already in the train split"):
        ClimateCollection.from_folder(root, split_dir=lists)
    np.save(tmp_path / "wrong.npy", ugscnn_icosphere(1))
    with pytest.raises(ValueError, match="has 42 vertices but the climate files have 162"):
        ClimateCollection.from_folder(root, mesh=tmp_path / "wrong.npy")
    with pytest.raises(ValueError, match="split must be one of"):
        synthetic.files("validation")


def test_mesh_file_and_sampling(tmp_path, synthetic):
    np.save(tmp_path / "mesh.npy", ugscnn_icosphere(2))
    with_mesh = ClimateCollection.from_folder(synthetic.root, mesh=tmp_path / "mesh.npy")
    np.testing.assert_allclose(with_mesh.vertices, synthetic.vertices, atol=1e-15)
    sampling = synthetic.sampling()
    assert sampling.npix == 162 and sampling.area.sum() == pytest.approx(4 * np.pi)
    np.testing.assert_allclose(sampling.coords, synthetic.vertices, atol=1e-12)


def test_channel_stats_use_the_training_split_only(tmp_path, synthetic):
    train = np.concatenate([read_climate_file(f)[0] for f in synthetic.files("train")]).astype(np.float64)
    everything = np.concatenate(
        [read_climate_file(f)[0] for s in ("train", "val", "test") for f in synthetic.files(s)]
    ).astype(np.float64)
    mean, std = channel_stats(synthetic)
    np.testing.assert_allclose(mean, train.mean(axis=0), rtol=1e-10, atol=1e-18)
    np.testing.assert_allclose(std, train.std(axis=0), rtol=1e-9, atol=1e-18)
    assert not np.allclose(mean, everything.mean(axis=0), rtol=1e-6)
    labels = np.concatenate([read_climate_file(f)[1] for f in synthetic.files("train")])
    np.testing.assert_allclose(class_frequencies(synthetic), np.bincount(labels, minlength=3) / labels.size)


def test_channel_stats_cache(tmp_path, synthetic, monkeypatch):
    mean, std = channel_stats(synthetic, cache_dir=tmp_path)
    (cache,) = tmp_path.glob("climate-stats-*.json")

    def fail(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(climate, "read_climate_file", fail)
    cached_mean, cached_std = channel_stats(synthetic, cache_dir=tmp_path)
    np.testing.assert_array_equal(cached_mean, mean)
    monkeypatch.undo()
    cache.write_text('{"mean": [1')
    with pytest.warns(RuntimeWarning, match="corrupt"):
        again, _ = channel_stats(synthetic, cache_dir=tmp_path)
    np.testing.assert_array_equal(again, mean)


def test_inverse_frequency_weights():
    f = np.array([0.977, 0.001, 0.022])
    w = inverse_frequency_weights(f)
    assert w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(w * f, (w * f)[0])  # w ∝ 1/f
    with pytest.raises(ValueError, match="positive shares"):
        inverse_frequency_weights([0.5, 0.0, 0.5])


def test_dataset_normalises_and_reorders(synthetic):
    mean, std = channel_stats(synthetic)
    dataset = ClimateDataset(synthetic, "train", mean, std)
    x = np.concatenate([dataset[i][0] for i in range(len(dataset))])
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(x.std(axis=0), 1, atol=1e-4)
    order = synthetic.icosahedral_order()
    ordered = ClimateDataset(synthetic, "train", mean, std, order=order)
    np.testing.assert_array_equal(ordered[0][0], dataset[0][0][order])
    np.testing.assert_array_equal(ordered[0][1], dataset[0][1][order])
    with pytest.raises(ValueError, match=r"channels \['PS'\] are not"):
        ClimateDataset(synthetic, "train", mean, np.where(np.arange(16) == 6, 0.0, std))
    with pytest.raises(ValueError, match="permutation of 162"):
        ClimateDataset(synthetic, "train", mean, std, order=np.zeros(162, int))


# --- NetCDF regridding ------------------------------------------------------------------------------------


def _grid_dataset(lon_deg, lat_deg, fields):
    xr = pytest.importorskip("xarray")
    lat_grid, lon_grid = np.meshgrid(np.radians(lat_deg), np.radians(lon_deg), indexing="ij")
    data = {name: (("lat", "lon"), f(lat_grid, lon_grid)) for name, f in fields.items()}
    return xr.Dataset(data, coords={"lat": lat_deg, "lon": lon_deg})


def _smooth(lat, lon):
    return np.sin(lat) * np.cos(2 * lon) + 0.5 * np.cos(lat) ** 2 * np.sin(lon)


def test_regrid_reproduces_an_analytic_field():
    lat = np.arange(-89.5, 90, 1.0)
    lon = np.arange(0.5, 360, 1.0)
    ds = _grid_dataset(lon, lat, {"f": _smooth, "g": lambda la, lo: 3.0 + np.degrees(la) / 10})
    sampling = HEALPix(16)
    out = regrid_netcdf(ds, ["f", "g"], sampling)
    assert out.shape == (sampling.npix, 2)
    exact = _smooth(sampling.lat, sampling.lon)
    # bilinear error ≤ h²/8 · (|f_θθ| + |f_φφ|) ≲ (1°)²/8 · 6 ≈ 2.3e-4 away from the poles
    np.testing.assert_allclose(out[:, 0], exact, atol=3e-4)
    inside = np.abs(np.degrees(sampling.lat)) <= 89.5
    np.testing.assert_allclose(out[inside, 1], 3.0 + np.degrees(sampling.lat[inside]) / 10, atol=1e-12)
    # beyond the last row (polar caps) the nearest row is used
    np.testing.assert_allclose(out[~inside, 1], 3.0 + np.sign(sampling.lat[~inside]) * 8.95, atol=1e-12)


def test_regrid_wraps_longitude_and_accepts_any_axis_direction():
    lat = np.arange(-89.5, 90, 1.0)
    lon = np.arange(0.5, 360, 1.0)
    ds = _grid_dataset(lon, lat, {"f": _smooth})
    sampling = HEALPix(8)
    reference = regrid_netcdf(ds, "f", sampling)
    flipped = ds.isel(lat=slice(None, None, -1))
    shifted = ds.assign_coords(lon=((ds.lon + 180) % 360) - 180).sortby("lon")  # [-180, 180)
    np.testing.assert_allclose(regrid_netcdf(flipped, "f", sampling), reference, atol=1e-13)
    np.testing.assert_allclose(regrid_netcdf(shifted, "f", sampling), reference, atol=1e-13)
    # a point at longitude 0 lies between the last column (359.5°) and the first (0.5°)
    on_meridian = regrid_netcdf(_grid_dataset(lon, lat, {"c": lambda la, lo: np.cos(lo)}), "c", sampling)
    at_zero = np.isclose(sampling.lon, 0.0) & (np.abs(sampling.lat) < 1.4)
    assert at_zero.any()
    np.testing.assert_allclose(on_meridian[at_zero, 0], np.cos(np.radians(0.5)), atol=1e-12)


def test_regrid_netcdf_file_with_time(tmp_path):
    xr = pytest.importorskip("xarray")
    pytest.importorskip("netCDF4")
    lat = np.linspace(-90, 90, 91)
    lon = np.arange(0, 360, 2.0)
    la, lo = np.meshgrid(np.radians(lat), np.radians(lon), indexing="ij")
    steps = np.stack([_smooth(la, lo) * (1 + t) for t in range(3)])
    times = np.array(["2000-01-01", "2000-01-02", "2000-01-03"], dtype="M8[ns]")
    ds = xr.Dataset(
        {
            "TMQ": (("time", "latitude", "longitude"), steps),
            "PSL": (("time", "latitude", "longitude"), -steps),
        },
        coords={"time": times, "latitude": lat, "longitude": lon},
    )
    path = tmp_path / "fields.nc"
    ds.to_netcdf(path, engine="netcdf4")
    sampling = Icosahedral(3)
    by_index = regrid_netcdf(path, ["TMQ", "PSL"], sampling, time=1)
    by_value = regrid_netcdf(path, ["TMQ", "PSL"], sampling, time=np.datetime64("2000-01-02"))
    np.testing.assert_array_equal(by_index, by_value)
    np.testing.assert_allclose(by_index[:, 0], 2 * _smooth(sampling.lat, sampling.lon), atol=2e-3)
    np.testing.assert_allclose(by_index[:, 1], -by_index[:, 0])
    with pytest.raises(ValueError, match=r"extra dimensions \{'time': 3\}: pass time="):
        regrid_netcdf(path, "TMQ", sampling)
    with pytest.raises(
        ValueError, match=r"variable 'T500' is not in the dataset; available variables: \['PSL', 'TMQ'\]"
    ):
        regrid_netcdf(path, ["TMQ", "T500"], sampling, time=0)
    with pytest.raises(ValueError, match="time=7 is out of range"):
        regrid_netcdf(path, "TMQ", sampling, time=7)
    with pytest.raises(ValueError, match="does not exist"):
        regrid_netcdf(tmp_path / "none.nc", "TMQ", sampling)


def test_regrid_refuses_nan_and_points_off_a_regional_grid():
    lat = np.arange(-60.0, 61.0, 1.0)
    lon = np.arange(-30.0, 31.0, 1.0)  # a regional grid across the meridian
    ds = _grid_dataset(lon, lat, {"f": _smooth})
    with pytest.raises(ValueError, match="latitude .* but the grid covers"):
        regrid_netcdf(ds, "f", HEALPix(4))
    full = HEALPix(8)
    lat_deg, lon_deg = np.degrees(full.lat), (np.degrees(full.lon) + 180) % 360 - 180
    inside = np.flatnonzero((np.abs(lat_deg) <= 60) & (np.abs(lon_deg) <= 30))
    part = full.with_indices(inside)
    np.testing.assert_allclose(regrid_netcdf(ds, "f", part)[:, 0], _smooth(part.lat, part.lon), atol=1e-3)
    beyond = np.flatnonzero((np.abs(lat_deg) <= 60) & (np.abs(lon_deg) <= 60))
    with pytest.raises(ValueError, match="outside the grid's longitudes"):
        regrid_netcdf(ds, "f", full.with_indices(beyond))
    holes = ds.copy()
    holes["f"] = holes["f"].where(holes["lat"] < 50)
    with pytest.raises(ValueError, match="variable 'f': .* interpolate NaN grid values"):
        regrid_netcdf(holes, "f", part)


def test_regrid_bad_arguments():
    ds = _grid_dataset(np.arange(0, 360, 10.0), np.arange(-90, 91, 10.0), {"f": _smooth})
    with pytest.raises(ValueError, match="variables must be a name"):
        regrid_netcdf(ds, [], HEALPix(1))
    with pytest.raises(TypeError, match="sampling must be a deepsphere Sampling"):
        regrid_netcdf(ds, "f", np.zeros((3, 3)))
    with pytest.raises(ValueError, match="lat_name='y' is not in the dataset"):
        regrid_netcdf(ds, "f", HEALPix(1), lat_name="y")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert regrid_netcdf(ds, "f", HEALPix(1)).shape == (12, 1)


def test_files_to_predict_on_may_hold_data_only(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "step.npz"
    data = rng.normal(size=(16, 42)).astype(np.float32)
    np.savez(path, data=data)
    got, labels = read_climate_file(path, 42, labels=False)
    assert labels is None and np.array_equal(got, data.T)
    with pytest.raises(ValueError, match="missing array 'labels'"):
        read_climate_file(path, 42)
