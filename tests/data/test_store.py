"""Tests of deepsphere.data.collection (labelled map folders) and deepsphere.data.store (the memmap cache).

Map files are written with healpy.write_map directly; expected NESTED values come from healpy's pixel
geometry (the RING pixel at each NESTED pixel's centre), not from the package.
"""

import json
import os
import warnings
from pathlib import Path

import healpy as hp
import numpy as np
import pytest

from deepsphere.data import store as store_module
from deepsphere.data.collection import MapCollection
from deepsphere.data.store import MapStore, default_cache_dir

NSIDE = 8
NPIX = 12 * NSIDE**2


def _random_map(seed, nside=NSIDE):
    rng = np.random.default_rng(seed)
    return rng.normal(loc=seed, scale=1.0 + 0.1 * seed, size=12 * nside**2)


def _hp_write(path, values, nest):
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hp.write_map(str(path), values, nest=nest, dtype=np.float64, overwrite=True)
    return path


def _as_nested(values, nest):
    if nest:
        return values
    theta, phi = hp.pix2ang(NSIDE, np.arange(NPIX), nest=True)
    return values[hp.ang2pix(NSIDE, theta, phi, nest=False)]


def _class_folders(root, counts=(("beta", 3), ("alpha", 2))):
    """Class sub-folders of maps, alternately NESTED and RING; returns {absolute path: NESTED float32}."""
    expected = {}
    seed = 0
    for name, count in counts:
        for i in range(count):
            nest = seed % 2 == 0
            values = _random_map(seed)
            path = _hp_write(root / name / f"{name}_{i}.fits", values, nest=nest)
            expected[path.resolve()] = _as_nested(values, nest).astype(np.float32)
            seed += 1
    return expected


def _write_manifest(root, spec):
    (root / "manifest.json").write_text(json.dumps(spec))


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "data"
    return root, _class_folders(root)


# --- MapCollection: class sub-folders -------------------------------------------------------------------


def test_class_folders_give_sorted_classes_and_labels(folder):
    root, _ = folder
    (root / "alpha" / "README.txt").write_text("not a map")
    (root / ".hidden").mkdir()
    _hp_write(root / ".hidden" / "x.fits", _random_map(99), nest=True)
    collection = MapCollection.from_folder(root)
    assert collection.classes == ("alpha", "beta")
    assert collection.root == root.resolve()
    assert collection.n_maps == 5
    assert [f.name for f in collection.files] == [
        "alpha_0.fits",
        "alpha_1.fits",
        "beta_0.fits",
        "beta_1.fits",
        "beta_2.fits",
    ]
    assert all(f.is_absolute() for f in collection.files)
    np.testing.assert_array_equal(collection.labels, [0, 0, 1, 1, 1])
    assert collection.ordering is None


def test_class_folders_accept_all_fits_suffixes(tmp_path):
    for i, name in enumerate(["a.fits", "b.FIT", "c.fits.gz"]):
        _hp_write(tmp_path / "one" / name, _random_map(i), nest=True)
    _hp_write(tmp_path / "two" / "d.fits", _random_map(3), nest=True)
    collection = MapCollection.from_folder(tmp_path, ordering="RING")
    assert [f.name for f in collection.files] == ["a.fits", "b.FIT", "c.fits.gz", "d.fits"]
    np.testing.assert_array_equal(collection.labels, [0, 0, 0, 1])
    assert collection.ordering == "RING"


def test_from_folder_accepts_a_user_path(tmp_path, monkeypatch):
    _class_folders(tmp_path / "data")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert MapCollection.from_folder("~/data").root == (tmp_path / "data").resolve()


# --- MapCollection: manifest ----------------------------------------------------------------------------


def test_manifest_layout(tmp_path):
    for i, name in enumerate(["sims/run_b.fits", "sims/run_a.fits", "other/deep/x.fits"]):
        _hp_write(tmp_path / name, _random_map(i), nest=False)
    _write_manifest(
        tmp_path,
        {
            "classes": ["zeta", "alpha"],  # the manifest's order, not sorted
            "ordering": "RING",
            "maps": [
                {"file": "sims/run_b.fits", "class": "alpha"},
                {"file": "sims/run_a.fits", "class": "zeta"},
                {"file": "other/deep/x.fits", "class": "zeta"},
            ],
        },
    )
    collection = MapCollection.from_folder(tmp_path)
    assert collection.classes == ("zeta", "alpha")
    assert collection.files == tuple(
        (tmp_path / n).resolve() for n in ["sims/run_b.fits", "sims/run_a.fits", "other/deep/x.fits"]
    )
    np.testing.assert_array_equal(collection.labels, [1, 0, 0])
    assert collection.ordering == "RING"
    assert MapCollection.from_folder(tmp_path, ordering="NESTED").ordering == "NESTED"


def test_manifest_takes_precedence_over_class_folders(folder):
    root, _ = folder
    _write_manifest(
        root,
        {
            "classes": ["x", "y"],
            "maps": [
                {"file": "beta/beta_2.fits", "class": "y"},
                {"file": "alpha/alpha_0.fits", "class": "x"},
            ],
        },
    )
    collection = MapCollection.from_folder(root)
    assert collection.classes == ("x", "y")
    assert [f.name for f in collection.files] == ["beta_2.fits", "alpha_0.fits"]
    np.testing.assert_array_equal(collection.labels, [1, 0])
    assert collection.ordering is None


def test_write_manifest_round_trip(folder):
    root, _ = folder
    collection = MapCollection.from_folder(root, ordering="NESTED")
    path = collection.write_manifest()
    assert path == root.resolve() / "manifest.json"
    spec = json.loads(path.read_text())
    assert spec["classes"] == ["alpha", "beta"]
    assert spec["ordering"] == "NESTED"
    assert spec["maps"][0] == {"file": os.path.join("alpha", "alpha_0.fits"), "class": "alpha"}
    assert all(not Path(m["file"]).is_absolute() for m in spec["maps"])

    again = MapCollection.from_folder(root)
    assert again.files == collection.files
    assert again.classes == collection.classes
    assert again.ordering == "NESTED"
    np.testing.assert_array_equal(again.labels, collection.labels)

    # The folder moves with its manifest: relative paths still resolve.
    moved = root.parent / "moved"
    root.rename(moved)
    assert [f.name for f in MapCollection.from_folder(moved).files] == [f.name for f in collection.files]


def test_write_manifest_does_not_overwrite_without_asking(folder):
    root, _ = folder
    collection = MapCollection.from_folder(root)
    collection.write_manifest()
    before = (root / "manifest.json").read_text()
    with pytest.raises(FileExistsError, match="manifest.json"):
        collection.write_manifest()
    assert (root / "manifest.json").read_text() == before
    reduced = MapCollection(
        collection.root, collection.files[1:4], collection.labels[1:4], collection.classes, "RING"
    )
    reduced.write_manifest(overwrite=True)
    assert MapCollection.from_folder(root).n_maps == 3
    assert sorted(p.name for p in root.iterdir()) == ["alpha", "beta", "manifest.json"]


# --- MapCollection: errors ------------------------------------------------------------------------------


def test_missing_folder(tmp_path):
    with pytest.raises(ValueError, match="does not exist") as err:
        MapCollection.from_folder(tmp_path / "nowhere")
    assert "nowhere" in str(err.value)


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no manifest.json and no class sub-folders"):
        MapCollection.from_folder(tmp_path)


def test_only_one_class(tmp_path):
    _class_folders(tmp_path, counts=(("only", 3),))
    with pytest.raises(ValueError, match="at least 2 classes") as err:
        MapCollection.from_folder(tmp_path)
    assert "'only': 3" in str(err.value)


def test_class_folder_without_maps(tmp_path):
    _class_folders(tmp_path, counts=(("full", 2),))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="at least 2 classes") as err:
        MapCollection.from_folder(tmp_path)
    assert "'empty': 0" in str(err.value)


def test_manifest_naming_a_missing_file(folder):
    root, _ = folder
    _write_manifest(
        root,
        {
            "classes": ["a", "b"],
            "maps": [{"file": "alpha/alpha_0.fits", "class": "a"}, {"file": "beta/gone.fits", "class": "b"}],
        },
    )
    with pytest.raises(ValueError, match="1 map files are missing") as err:
        MapCollection.from_folder(root)
    assert "gone.fits" in str(err.value)


def test_manifest_with_an_unknown_class(folder):
    root, _ = folder
    _write_manifest(
        root,
        {
            "classes": ["a", "b"],
            "maps": [
                {"file": "alpha/alpha_0.fits", "class": "a"},
                {"file": "beta/beta_0.fits", "class": "c"},
            ],
        },
    )
    with pytest.raises(ValueError, match=r"classes \['c'\] are not in 'classes'"):
        MapCollection.from_folder(root)


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        json.dumps({"classes": ["a", "b"]}),
        json.dumps({"classes": ["a", "b"], "maps": [{"path": "alpha/alpha_0.fits", "class": "a"}]}),
        json.dumps(["a", "b"]),
    ],
)
def test_invalid_manifest(folder, text):
    root, _ = folder
    (root / "manifest.json").write_text(text)
    with pytest.raises(ValueError, match="not a valid manifest") as err:
        MapCollection.from_folder(root)
    assert "manifest.json" in str(err.value)


def test_manifest_without_maps(folder):
    # Regression: an empty map list gave numpy's TypeError (float labels) instead of this message.
    root, _ = folder
    _write_manifest(root, {"classes": ["a", "b"], "maps": []})
    with pytest.raises(ValueError, match="at least 2 classes"):
        MapCollection.from_folder(root)


def test_constructor_checks(tmp_path):
    files = (tmp_path / "a.fits", tmp_path / "b.fits")
    with pytest.raises(ValueError, match="2 files but 3 labels"):
        MapCollection(tmp_path, files, np.array([0, 1, 1]), ("a", "b"))
    with pytest.raises(ValueError, match="ordering must be one of"):
        MapCollection(tmp_path, files, np.array([0, 1]), ("a", "b"), ordering="ring")
    with pytest.raises(ValueError, match="at least 2 classes"):
        MapCollection(tmp_path, files, np.array([0, 2]), ("a", "b"))


# --- MapStore.build -------------------------------------------------------------------------------------


def test_store_holds_the_maps_as_nested_float32_memmap(folder, tmp_path):
    root, expected = folder
    collection = MapCollection.from_folder(root)
    calls = []
    store = MapStore.build(collection, tmp_path / "cache", progress=lambda *a: calls.append(a))
    assert calls == [(i, 5) for i in range(1, 6)]
    assert isinstance(store.values, np.memmap)
    assert Path(store.values.filename) == store.path
    assert store.path.parent == tmp_path / "cache"
    assert store.values.dtype == np.float32
    assert store.values.shape == (5, NPIX)
    assert store.n_maps == 5
    assert store.nside == NSIDE
    assert store.classes == ("alpha", "beta")
    np.testing.assert_array_equal(store.labels, [0, 0, 1, 1, 1])
    assert store.files == tuple(str(f) for f in collection.files)
    for i, file in enumerate(collection.files):
        np.testing.assert_array_equal(store.values[i], expected[file])
        np.testing.assert_allclose(store.mean[i], np.mean(expected[file], dtype=np.float64), rtol=1e-12)
        np.testing.assert_allclose(store.std[i], np.std(expected[file], dtype=np.float64), rtol=1e-12)
    assert not store.values.flags.writeable
    assert "5 maps" in repr(store) and "nside=8" in repr(store)


def test_store_with_forced_ordering(tmp_path):
    values = [_random_map(i) for i in range(4)]
    for i, v in enumerate(values):
        _hp_write(tmp_path / "data" / ("a" if i < 2 else "b") / f"{i}.fits", v, nest=True)
    # The files say NESTED; the collection insists on RING, so every map is converted.
    collection = MapCollection.from_folder(tmp_path / "data", ordering="RING")
    store = MapStore.build(collection, tmp_path / "cache")
    for i, v in enumerate(values):
        np.testing.assert_array_equal(store.values[i], _as_nested(v, nest=False).astype(np.float32))
    # A different ordering is a different store.
    plain = MapStore.build(MapCollection.from_folder(tmp_path / "data"), tmp_path / "cache")
    assert plain.path != store.path
    np.testing.assert_array_equal(plain.values[2], values[2].astype(np.float32))


def test_second_build_reuses_the_cache(folder, tmp_path, monkeypatch):
    root, _ = folder
    cache = tmp_path / "cache"
    first = MapStore.build(MapCollection.from_folder(root), cache)

    def no_reading(*args, **kwargs):
        raise AssertionError("the store was rebuilt")

    monkeypatch.setattr(store_module, "read_healpix_map", no_reading)
    second = MapStore.build(MapCollection.from_folder(root), cache)
    assert second.path == first.path
    np.testing.assert_array_equal(second.values, first.values)
    np.testing.assert_array_equal(second.mean, first.mean)
    assert sorted(p.suffix for p in cache.iterdir()) == [".json", ".npy"]


def test_touched_file_makes_a_new_store(folder, tmp_path):
    root, _ = folder
    cache = tmp_path / "cache"
    collection = MapCollection.from_folder(root)
    first = MapStore.build(collection, cache)
    stat = collection.files[1].stat()
    os.utime(collection.files[1], ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    second = MapStore.build(collection, cache)
    assert second.path != first.path
    np.testing.assert_array_equal(second.values, first.values)
    assert len(list(cache.glob("*.npy"))) == 2


def test_rewritten_file_makes_a_new_store_with_its_values(folder, tmp_path):
    root, expected = folder
    cache = tmp_path / "cache"
    collection = MapCollection.from_folder(root)
    first = MapStore.build(collection, cache)
    new = _random_map(42)
    _hp_write(collection.files[3], new, nest=True)
    second = MapStore.build(MapCollection.from_folder(root), cache)
    assert second.path != first.path
    np.testing.assert_array_equal(second.values[3], new.astype(np.float32))
    np.testing.assert_allclose(second.mean[3], np.mean(new.astype(np.float32), dtype=np.float64), rtol=1e-12)
    np.testing.assert_array_equal(second.values[:3], first.values[:3])
    # The first store is untouched.
    np.testing.assert_array_equal(np.load(first.path)[3], expected[collection.files[3]])


@pytest.mark.parametrize("bad_index", [0, 2, 4])
@pytest.mark.parametrize("bad", [np.nan, hp.UNSEEN])
def test_bad_map_fails_the_build_and_leaves_no_store(folder, tmp_path, bad_index, bad):
    root, _ = folder
    collection = MapCollection.from_folder(root)
    file = collection.files[bad_index]
    values = _random_map(7)
    values[[10, 20]] = bad
    _hp_write(file, values, nest=True)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="2 NaN/infinite" if np.isnan(bad) else "2 UNSEEN") as err:
        MapStore.build(collection, cache)
    assert file.name in str(err.value)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_maps_of_different_resolutions_fail_the_build(folder, tmp_path):
    root, _ = folder
    collection = MapCollection.from_folder(root)
    _hp_write(collection.files[3], _random_map(5, nside=16), nest=True)
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="3072 pixels, HEALPix nside=8 needs 768") as err:
        MapStore.build(collection, cache)
    assert collection.files[3].name in str(err.value)
    assert not cache.exists() or list(cache.iterdir()) == []


# --- default_cache_dir ----------------------------------------------------------------------------------


def test_default_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DEEPSPHERE_CACHE", str(tmp_path / "mine"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "mine"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("DEEPSPHERE_CACHE", "~/tilde")
    assert default_cache_dir() == tmp_path / "tilde"
    monkeypatch.delenv("DEEPSPHERE_CACHE")
    assert default_cache_dir() == tmp_path / "xdg" / "deepsphere"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == tmp_path / ".cache" / "deepsphere"


def test_build_uses_the_default_cache_dir(folder, tmp_path, monkeypatch):
    root, _ = folder
    monkeypatch.setenv("DEEPSPHERE_CACHE", str(tmp_path / "env-cache"))
    store = MapStore.build(MapCollection.from_folder(root))
    assert store.path.parent == tmp_path / "env-cache"
    assert store.path.name.startswith("maps-") and store.path.suffix == ".npy"
    assert store.path.with_suffix(".json").is_file()
