"""Tests of deepsphere.data.cosmo.make_cosmo_maps: the built-in data set as FITS files plus a manifest.

The maps' statistics are tested in test_lognormal.py; here: the files, the manifest, seeds and overwrites.
"""

import json
import warnings

import healpy as hp
import numpy as np
import pytest

from deepsphere.data.collection import MapCollection
from deepsphere.data.cosmo import make_cosmo_maps
from deepsphere.data.lognormal import PAPER_MODELS, CosmologyModel
from deepsphere.data.store import MapStore

pytestmark = pytest.mark.usefixtures("healpy_on_one_thread")

NSIDE = 16
PER_CLASS = 2


def _read(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return hp.read_map(str(path), nest=None, h=True, dtype=None)


def _values(collection):
    return np.stack([_read(f)[0] for f in collection.files])


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cosmo") / "maps"
    calls = []
    collection = make_cosmo_maps(
        folder, nside=NSIDE, maps_per_class=PER_CLASS, seed=7, progress=lambda *a: calls.append(a)
    )
    return folder, collection, calls


def test_writes_one_fits_file_per_map(made):
    folder, collection, calls = made
    names = [m.name for m in PAPER_MODELS]
    expected = sorted(
        [folder / "manifest.json"]
        + [folder / n / f"{n}-{i:03d}.fits" for n in names for i in range(PER_CLASS)]
    )
    assert sorted(p for p in folder.rglob("*") if p.is_file()) == expected
    assert calls == [(i, PER_CLASS * len(names)) for i in range(1, PER_CLASS * len(names) + 1)]

    for c, model in enumerate(PAPER_MODELS):
        for i in range(PER_CLASS):
            values, header = _read(folder / model.name / f"{model.name}-{i:03d}.fits")
            header = dict(header)
            assert header["ORDERING"] == "NESTED"
            assert header["NSIDE"] == NSIDE
            assert header["OMEGA_M"] == str(model.omega_m)
            assert header["SIGMA8"] == str(model.sigma8)
            assert header["SEED"] == f"7,{c},{i}"
            assert values.shape == (12 * NSIDE**2,)
            assert values.dtype.itemsize == 4
            assert np.all(np.isfinite(values))
            assert not np.any(hp.mask_bad(values))
            assert abs(values.mean(dtype=np.float64)) < 1e-6  # mean-subtracted
            assert values.std() > 1e-3  # a real field, not a constant


def test_the_manifest_describes_the_collection(made):
    folder, collection, _ = made
    names = tuple(m.name for m in PAPER_MODELS)
    read = MapCollection.from_folder(folder)
    assert read.classes == names == collection.classes
    np.testing.assert_array_equal(read.labels, np.repeat([0, 1], PER_CLASS))
    np.testing.assert_array_equal(collection.labels, read.labels)
    assert read.files == collection.files
    assert collection.root == folder.resolve()
    spec = json.loads((folder / "manifest.json").read_text())
    assert spec["maps"][0] == {"file": f"{names[0]}/{names[0]}-000.fits", "class": names[0]}
    # The files' headers decide the ordering (they all say NESTED).
    assert read.ordering is None


def test_the_data_set_builds_a_store(made, tmp_path):
    folder, collection, _ = made
    store = MapStore.build(MapCollection.from_folder(folder), tmp_path / "cache")
    assert store.nside == NSIDE
    np.testing.assert_array_equal(store.values, _values(collection))
    np.testing.assert_allclose(store.mean, 0, atol=1e-6)


def test_same_seed_same_maps_different_seed_different_maps(made, tmp_path):
    _, collection, _ = made
    reference = _values(collection)
    again = make_cosmo_maps(tmp_path / "again", nside=NSIDE, maps_per_class=PER_CLASS, seed=7)
    np.testing.assert_array_equal(_values(again), reference)
    other = _values(make_cosmo_maps(tmp_path / "other", nside=NSIDE, maps_per_class=PER_CLASS, seed=8))
    for a, b in zip(other, reference, strict=True):
        assert not np.allclose(a, b)
    # Map i of class c depends on (seed, c, i) only, not on how many maps are made.
    fewer = _values(make_cosmo_maps(tmp_path / "fewer", nside=NSIDE, maps_per_class=1, seed=7))
    np.testing.assert_array_equal(fewer, reference[[0, PER_CLASS]])
    # The maps of one data set all differ.
    assert len({a.tobytes() for a in reference}) == len(reference)


def test_custom_models(tmp_path):
    models = (
        CosmologyModel("low", omega_m=0.2, sigma8=1.0),
        CosmologyModel("mid", omega_m=0.3, sigma8=0.8),
        CosmologyModel("high", omega_m=0.4, sigma8=0.7),
    )
    collection = make_cosmo_maps(tmp_path / "three", nside=NSIDE, maps_per_class=1, models=models, seed=1)
    assert collection.classes == ("low", "mid", "high")
    read = MapCollection.from_folder(tmp_path / "three")
    assert read.classes == ("low", "mid", "high")
    np.testing.assert_array_equal(read.labels, [0, 1, 2])
    assert [f.parent.name for f in read.files] == ["low", "mid", "high"]


def test_refuses_to_overwrite_a_data_set(tmp_path):
    folder = tmp_path / "maps"
    first = make_cosmo_maps(folder, nside=NSIDE, maps_per_class=1, seed=1)
    first_values = _values(first)
    before = {f: f.read_bytes() for f in folder.rglob("*") if f.is_file()}
    with pytest.raises(FileExistsError, match="overwrite=True") as err:
        make_cosmo_maps(folder, nside=NSIDE, maps_per_class=1, seed=2)
    assert "manifest.json" in str(err.value)
    assert {f: f.read_bytes() for f in folder.rglob("*") if f.is_file()} == before

    second = make_cosmo_maps(folder, nside=NSIDE, maps_per_class=1, seed=2, overwrite=True)
    assert second.files == first.files
    assert not np.allclose(_values(second), first_values)
    np.testing.assert_array_equal(
        _values(second), _values(make_cosmo_maps(tmp_path / "fresh", nside=NSIDE, maps_per_class=1, seed=2))
    )
    assert not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


def test_refuses_to_replace_map_files_without_a_manifest(tmp_path):
    folder = tmp_path / "maps"
    make_cosmo_maps(folder, nside=NSIDE, maps_per_class=1, seed=1)
    (folder / "manifest.json").unlink()
    first_map = folder / PAPER_MODELS[0].name / f"{PAPER_MODELS[0].name}-000.fits"
    before = first_map.read_bytes()
    with pytest.raises(FileExistsError, match=first_map.name):
        make_cosmo_maps(folder, nside=NSIDE, maps_per_class=1, seed=2)
    assert first_map.read_bytes() == before


@pytest.mark.parametrize("maps_per_class", [0, -1, 1.5, 2.0, True, "2", None])
def test_bad_maps_per_class(tmp_path, maps_per_class):
    folder = tmp_path / "maps"
    with pytest.raises(ValueError, match="maps_per_class must be a positive integer") as err:
        make_cosmo_maps(folder, nside=NSIDE, maps_per_class=maps_per_class)
    assert repr(maps_per_class) in str(err.value)
    assert not folder.exists()
