"""Tests of deepsphere.data.shape_store: building, reusing, checking and rebuilding the feature cache.

Stored features are compared with a direct projection of the same meshes under the documented random
motions (``default_rng([seed, i])``: rotation, then translation, then a rescale of the farthest vertex
to 0.99, rays from the unit sphere); statistics with numpy over the array.
"""

import json
import warnings

import numpy as np
import pytest
import trimesh

from deepsphere.data import shape_store as store_module
from deepsphere.data.augment import random_rotation_matrix, random_translation
from deepsphere.data.meshes import MeshError, load_mesh, normalize_mesh, project_mesh
from deepsphere.data.shape_store import CacheError, ShapeFeatureStore
from deepsphere.data.shapes import ShapeCollection, make_shapes
from deepsphere.sampling import HEALPix

SAMPLING = HEALPix(nside=4)


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    return make_shapes(
        tmp_path_factory.mktemp("data") / "shrec", classes=("box", "torus"), per_class=4, seed=0
    )


@pytest.fixture
def collection(shapes_root):
    return ShapeCollection.from_shrec17(shapes_root, "train")  # 2 shapes per class


def _build(collection, cache, **kwargs):
    options = {"n_augment": 2, "progress": False, "seed": 4} | kwargs
    return ShapeFeatureStore.build(collection, SAMPLING, cache, **options)


def _expected(collection, i, n_augment, translation, rotate, seed):
    rng = np.random.default_rng([seed, i])
    mesh = normalize_mesh(load_mesh(collection.files[i]), 0.99)
    rows = []
    for _ in range(n_augment):
        rotation = random_rotation_matrix(rng) if rotate else np.eye(3)
        shift = random_translation(rng, translation) if translation > 0 else np.zeros(3)
        moved = mesh.vertices @ rotation.T + shift
        scale = 0.99 / np.linalg.norm(moved, axis=1).max()
        rows.append(project_mesh(trimesh.Trimesh(scale * moved, mesh.faces, process=False), SAMPLING.coords))
    return np.stack(rows)


@pytest.mark.parametrize("rotate", [False, True])
def test_store_holds_the_projected_augmented_shapes(collection, tmp_path, rotate):
    store = _build(collection, tmp_path, rotate=rotate, translation=0.1)
    assert store.features.shape == (collection.n_shapes * 2, SAMPLING.npix, 6)
    assert store.features.dtype == np.float32 and len(store) == store.n_samples == 2 * collection.n_shapes
    np.testing.assert_array_equal(store.labels, np.repeat(collection.labels, 2))
    np.testing.assert_array_equal(store.shape_index, [0, 0, 1, 1, 2, 2, 3, 3])
    assert store.ids == collection.ids and store.classes == collection.classes and store.skipped == ()
    for i in range(collection.n_shapes):
        expected = _expected(collection, i, 2, 0.1, rotate, seed=4)
        np.testing.assert_array_equal(store.features[2 * i : 2 * i + 2], expected)
    assert np.abs(store.features[0] - store.features[1]).max() > 1e-3  # two different motions
    values = np.asarray(store.features, dtype=np.float64).reshape(-1, 6)
    np.testing.assert_allclose(store.channel_mean, values.mean(axis=0), rtol=1e-9)
    np.testing.assert_allclose(store.channel_std, values.std(axis=0), rtol=1e-6)
    with pytest.raises(ValueError, match="read-only"):
        store.features[0, 0, 0] = 1.0
    meta = json.loads(store.path.with_suffix(".json").read_text())
    assert meta["sampling"]["type"] == "HEALPix" and meta["sampling"]["npix"] == 192
    assert meta["seed"] == 4 and meta["rotate"] is rotate and meta["radius"] == 1.0
    assert [f["size"] for f in meta["files"]] == [f.stat().st_size for f in collection.files]


def test_without_augmentation_samples_are_the_plain_projection(collection, tmp_path):
    """A test split (no motion) sees the same sphere as augmented training samples and as prediction."""
    store = _build(collection, tmp_path, n_augment=1, translation=0.0)
    for i, file in enumerate(collection.files):
        np.testing.assert_array_equal(
            store.features[i], project_mesh(normalize_mesh(load_mesh(file)), SAMPLING.coords)
        )
    depth = np.asarray(store.features[..., 0])
    assert depth.min() > 0 and depth.max() < 2


def test_second_build_reuses_the_cache(collection, tmp_path, monkeypatch):
    first = _build(collection, tmp_path)
    monkeypatch.setattr(store_module, "project_mesh", _no_projection)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = _build(collection, tmp_path)
    assert second.path == first.path
    np.testing.assert_array_equal(second.features, first.features)
    with pytest.raises(AssertionError, match="must not project"):
        _build(collection, tmp_path, seed=5)  # another key: a new cache
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".f32", ".json"]


def _no_projection(*args, **kwargs):
    raise AssertionError("the cache must not project again")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda data, meta: data.write_bytes(data.read_bytes()[:-4]), "bytes, its metadata needs"),
        (lambda data, meta: data.write_bytes(b"\x01" + data.read_bytes()[1:]), "checksum mismatch"),
        (lambda data, meta: meta.write_text(meta.read_text()[:-20]), "not valid cache metadata"),
        (lambda data, meta: data.unlink(), "is missing"),
        (lambda data, meta: meta.unlink(), "cannot read"),
    ],
    ids=["truncated", "flipped-byte", "cut-json", "no-array", "no-json"],
)
def test_a_damaged_cache_is_detected_and_rebuilt(collection, tmp_path, damage, reason):
    original = np.array(_build(collection, tmp_path).features)
    data = next(tmp_path.glob("*.f32"))
    meta = data.with_suffix(".json")
    damage(data, meta)
    with pytest.raises(CacheError, match=reason):
        ShapeFeatureStore(data)
    with pytest.warns(UserWarning, match=f"is invalid .*{reason}.*rebuilding"):
        rebuilt = _build(collection, tmp_path)
    np.testing.assert_array_equal(rebuilt.features, original)
    ShapeFeatureStore(data)  # valid again


def test_bad_meshes_are_skipped_by_name_or_refused(shapes_root, tmp_path):
    collection = ShapeCollection.from_shrec17(shapes_root, "train")
    empty = tmp_path / "000999.obj"
    empty.write_text("# nothing here\n")
    files = collection.files[:1] + (empty,) + collection.files[1:]
    labels = np.insert(collection.labels, 1, 0)
    ids = collection.ids[:1] + ("000999",) + collection.ids[1:]
    with_bad = ShapeCollection(collection.root, files, labels, collection.classes, ids, "train", "shrec17")
    cache = tmp_path / "cache"
    with pytest.raises(MeshError, match="000999.obj: no faces"):
        _build(with_bad, cache, on_bad="error")
    assert not cache.exists() or list(cache.iterdir()) == []  # nothing half-written
    with pytest.warns(UserWarning, match=r"skipped 1 unusable meshes: .*000999.obj \(no faces"):
        store = _build(with_bad, cache)
    assert store.skipped == ((str(empty), "no faces (0 vertices)"),)
    assert store.ids == collection.ids and store.n_samples == 2 * collection.n_shapes
    np.testing.assert_array_equal(store.labels, np.repeat(collection.labels, 2))
    # the kept shapes draw the same motions as without the bad one (shape i uses default_rng([seed, i]))
    np.testing.assert_array_equal(store.features[:2], _expected(with_bad, 0, 2, 0.1, False, seed=4))
    np.testing.assert_array_equal(store.features[2:4], _expected(with_bad, 2, 2, 0.1, False, seed=4))


def test_progress_goes_to_stderr(collection, tmp_path, capsys):
    _build(collection, tmp_path, progress=True, n_augment=1, translation=0.0)
    err = capsys.readouterr().err
    assert "projecting shapes 4/4 [####################]" in err


def test_build_rejects_bad_arguments(collection, tmp_path):
    with pytest.raises(TypeError, match="collection must be a ShapeCollection, got list"):
        ShapeFeatureStore.build([], SAMPLING, tmp_path)
    with pytest.raises(TypeError, match="sampling must be a deepsphere.sampling.Sampling, got ndarray"):
        ShapeFeatureStore.build(collection, SAMPLING.coords, tmp_path)
    for name, value, message in [
        ("n_augment", 0, "n_augment must be an int >= 1, got 0"),
        ("translation", -0.1, r"translation must be a number in \[0, 1\), got -0.1"),
        ("seed", -1, "seed must be a non-negative int, got -1"),
        ("on_bad", "ignore", r"on_bad must be one of \('skip', 'error'\), got 'ignore'"),
        ("engine", "cuda", "engine must be one of"),
    ]:
        with pytest.raises(ValueError, match=message):
            _build(collection, tmp_path, **{name: value})
    assert list(tmp_path.iterdir()) == []
