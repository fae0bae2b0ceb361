"""Tests of deepsphere.data.shapes: the SHREC'17 and ModelNet readers, and the synthetic set's writer.

Hand-written folders in the two layouts (CSV tables, ModelNet's ``OFF490 518 0`` header) check the
readers independently of the writer; files written by make_shapes are then read back and compared with
the tables parsed by the csv module and with the meshes' geometry (a perturbed shape is a rotated copy
of its normal twin: same pairwise vertex distances).
"""

import csv

import numpy as np
import pytest
from scipy.spatial.distance import pdist

from deepsphere.data import shapes as shapes_module
from deepsphere.data.meshes import load_mesh
from deepsphere.data.shapes import (
    SHREC17_HEADER,
    SYNTHETIC_CLASSES,
    ShapeCollection,
    make_shapes,
    random_primitive,
)

HEADER = ",".join(SHREC17_HEADER) + "\n"
TRIANGLE_OBJ = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n"


def _hand_shrec17(root):
    """Two classes (synsets 04379243 and 02691156); ids written without zero padding in val.csv."""
    (root / "train_normal").mkdir(parents=True)
    (root / "val_normal").mkdir()
    (root / "train.csv").write_text(
        HEADER + "000010,04379243,04379243,aaa,train\n000002,02691156,02691156,bbb,train\n"
        "000031,04379243,03001627,ccc,train\n"
    )
    (root / "val.csv").write_text(HEADER + "7,02691156,02691156,ddd,val\n")
    for name in ("000010", "000002", "000031"):
        (root / "train_normal" / f"{name}.obj").write_text(TRIANGLE_OBJ)
    (root / "val_normal" / "000007.obj").write_text(TRIANGLE_OBJ)


def test_shrec17_reader_on_a_hand_written_folder(tmp_path):
    _hand_shrec17(tmp_path)
    train = ShapeCollection.from_shrec17(tmp_path, "train")
    assert train.classes == ("02691156", "04379243")
    assert train.ids == ("000010", "000002", "000031")
    np.testing.assert_array_equal(train.labels, [1, 0, 1])
    assert [f.name for f in train.files] == ["000010.obj", "000002.obj", "000031.obj"]
    assert train.source == "shrec17" and train.split == "train" and train.n_shapes == 3
    val = ShapeCollection.from_shrec17(tmp_path, "val")
    assert val.classes == train.classes  # labels agree across splits
    assert val.ids == ("7",) and val.files[0].name == "000007.obj"  # the evaluator's zero padding
    np.testing.assert_array_equal(val.labels, [0])


def test_shrec17_reader_takes_all_csv(tmp_path):
    _hand_shrec17(tmp_path)
    rows = (tmp_path / "train.csv").read_text().splitlines()[1:] + (
        tmp_path / "val.csv"
    ).read_text().splitlines()[1:]
    (tmp_path / "all.csv").write_text(HEADER + "\n".join(rows) + "\n")
    (tmp_path / "train.csv").unlink()
    (tmp_path / "val.csv").unlink()
    train = ShapeCollection.from_shrec17(tmp_path, "train")
    assert train.ids == ("000010", "000002", "000031") and train.classes == ("02691156", "04379243")


def test_shrec17_reader_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        ShapeCollection.from_shrec17(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no SHREC'17 tables"):
        ShapeCollection.from_shrec17(tmp_path)
    _hand_shrec17(tmp_path)
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'val', 'test'\), got 'dev'"):
        ShapeCollection.from_shrec17(tmp_path, "dev")
    with pytest.raises(ValueError, match="no test.csv"):
        ShapeCollection.from_shrec17(tmp_path, "test")
    with pytest.raises(ValueError, match="missing mesh folder train_perturbed/"):
        ShapeCollection.from_shrec17(tmp_path, "train", perturbed=True)
    (tmp_path / "train_normal" / "000031.obj").unlink()
    with pytest.raises(ValueError, match="1 shapes listed in the CSV have no mesh file \\(000031.obj"):
        ShapeCollection.from_shrec17(tmp_path, "train")
    (tmp_path / "train.csv").write_text("id;synsetId\n1;2\n")
    with pytest.raises(
        ValueError, match="train.csv: the header must be id,synsetId,subSynsetId,modelId,split"
    ):
        ShapeCollection.from_shrec17(tmp_path, "val")
    (tmp_path / "train.csv").write_text(HEADER + "1,2,3\n")
    with pytest.raises(ValueError, match="train.csv, line 2: need 5 fields"):
        ShapeCollection.from_shrec17(tmp_path, "train")


def test_modelnet_reader_with_a_merged_off_header(tmp_path):
    for name, split, stem in [
        ("chair", "train", "chair_0001"),
        ("bed", "train", "bed_0001"),
        ("bed", "test", "bed_0002"),
    ]:
        (tmp_path / name / split).mkdir(parents=True, exist_ok=True)
        (tmp_path / name / split / f"{stem}.off").write_text("OFF3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 2\n")
    (tmp_path / "bed" / "train" / "notes.txt").write_text("not a mesh")
    train = ShapeCollection.from_modelnet(tmp_path, "train")
    assert train.classes == ("bed", "chair") and train.ids == ("bed_0001", "chair_0001")
    np.testing.assert_array_equal(train.labels, [0, 1])
    test = ShapeCollection.from_modelnet(tmp_path, "test")
    assert test.ids == ("bed_0002",) and test.classes == ("bed", "chair")
    assert load_mesh(test.files[0]).area == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test'\), got 'val'"):
        ShapeCollection.from_modelnet(tmp_path, "val")
    with pytest.raises(ValueError, match="has no class folders"):
        ShapeCollection.from_modelnet(tmp_path / "bed" / "train")


def test_subset_and_collection_checks(tmp_path):
    _hand_shrec17(tmp_path)
    train = ShapeCollection.from_shrec17(tmp_path, "train")
    part = train.subset([2, 0])
    assert (
        part.ids == ("000031", "000010") and part.labels.tolist() == [1, 1] and part.classes == train.classes
    )
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 3\)"):
        train.subset([3])
    with pytest.raises(TypeError, match="indices must be a 1-D sequence of ints"):
        train.subset([0.5])
    with pytest.raises(ValueError, match="3 files but 2 labels"):
        ShapeCollection(tmp_path, train.files, train.labels[:2], train.classes, train.ids, "train", "shrec17")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        ShapeCollection(tmp_path, train.files, train.labels + 1, train.classes, train.ids, "train", "shrec17")


# -- the synthetic set ------------------------------------------------------------------------------------


def _csv_rows(path):
    with open(path, newline="") as file:
        return list(csv.reader(file))


def test_make_shapes_writes_the_shrec17_layout(tmp_path):
    root = make_shapes(tmp_path / "shrec", classes=("box", "torus", "cone"), per_class=10, seed=3)
    sizes = {"train": 7, "val": 1, "test": 2}  # 70/10/20
    all_ids = []
    for split, size in sizes.items():
        rows = _csv_rows(root / f"{split}.csv")
        assert tuple(rows[0]) == SHREC17_HEADER and len(rows) == 1 + 3 * size
        normal = ShapeCollection.from_shrec17(root, split)
        perturbed = ShapeCollection.from_shrec17(root, split, perturbed=True)
        assert normal.classes == ("box", "cone", "torus")
        assert normal.ids == tuple(r[0] for r in rows[1:]) == perturbed.ids
        assert [normal.classes[k] for k in normal.labels] == [r[1] for r in rows[1:]]
        assert all(r[4] == split and len(r[3]) == 32 and r[0].isdigit() and len(r[0]) == 6 for r in rows[1:])
        np.testing.assert_array_equal(np.bincount(normal.labels), [size] * 3)
        for a, b in zip(normal.files[:3], perturbed.files[:3], strict=True):
            upright, turned = load_mesh(a), load_mesh(b)
            np.testing.assert_allclose(pdist(turned.vertices), pdist(upright.vertices), atol=1e-12)
            assert not np.allclose(turned.vertices, upright.vertices, atol=1e-3)
        all_ids += list(normal.ids)
    assert sorted(all_ids) == [f"{k:06d}" for k in range(1, 31)]


def test_make_shapes_writes_the_modelnet_layout(tmp_path):
    root = make_shapes(tmp_path / "mn", classes=("capsule", "sphere"), per_class=5, format="modelnet")
    train = ShapeCollection.from_modelnet(root, "train")
    test = ShapeCollection.from_modelnet(root, "test")
    assert train.classes == ("capsule", "sphere")
    assert train.ids == tuple(f"{c}_{k:04d}" for c in ("capsule", "sphere") for k in (1, 2, 3, 4))
    assert test.ids == ("capsule_0005", "sphere_0005")
    assert (root / "sphere" / "test" / "sphere_0005.off").read_text().startswith("OFF\n")
    assert all(load_mesh(f).is_watertight for f in train.files)


def test_make_shapes_is_deterministic_and_never_overwrites_silently(tmp_path):
    a = make_shapes(tmp_path / "a", classes=("box", "cylinder"), per_class=3, seed=1, format="modelnet")
    b = make_shapes(tmp_path / "b", classes=("box", "cylinder"), per_class=3, seed=1, format="modelnet")
    c = make_shapes(tmp_path / "c", classes=("box", "cylinder"), per_class=3, seed=2, format="modelnet")
    files = sorted(p.relative_to(a) for p in a.rglob("*.off"))
    assert files == sorted(p.relative_to(b) for p in b.rglob("*.off"))
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert any((a / f).read_bytes() != (c / f).read_bytes() for f in files)
    with pytest.raises(FileExistsError, match=r"not empty; pass overwrite=True \(--overwrite\)"):
        make_shapes(a, classes=("box", "cylinder"), per_class=3, format="modelnet")
    (a / "user_notes.txt").write_text("mine")
    make_shapes(a, classes=("cone", "box"), per_class=2, format="modelnet", overwrite=True)
    assert sorted(p.name for p in a.iterdir()) == ["box", "cone"]  # the whole folder was replaced
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "c"]  # no temporary folder left


def test_an_interrupted_make_shapes_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def failing(name, seed=None):
        calls.append(name)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return random_primitive(name, seed)

    monkeypatch.setattr(shapes_module, "random_primitive", failing)
    with pytest.raises(KeyboardInterrupt):
        make_shapes(tmp_path / "set", classes=("box", "cone"), per_class=3)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", SYNTHETIC_CLASSES)
def test_random_primitives_are_closed_and_vary(name):
    first, second = random_primitive(name, seed=0), random_primitive(name, seed=1)
    assert first.is_watertight and first.area > 0.5
    np.testing.assert_array_equal(first.vertices, random_primitive(name, seed=0).vertices)
    assert not np.allclose(first.vertices, second.vertices)
    extent = np.ptp(first.vertices, axis=0)
    assert 0.3 < extent.min() and extent.max() < 2.0


def test_make_shapes_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="classes must be a non-empty subset of"):
        make_shapes(tmp_path / "x", classes=("box", "teapot"))
    with pytest.raises(ValueError, match="classes has repeated names"):
        make_shapes(tmp_path / "x", classes=("box", "box"))
    with pytest.raises(ValueError, match=r"format must be one of \('shrec17', 'modelnet'\), got 'ply'"):
        make_shapes(tmp_path / "x", format="ply")
    with pytest.raises(ValueError, match="per_class must be an int >= 3 for format='shrec17', got 2"):
        make_shapes(tmp_path / "x", per_class=2)
    with pytest.raises(TypeError, match="seed must be an int, got float"):
        make_shapes(tmp_path / "x", seed=1.5)
    with pytest.raises(ValueError, match="name must be one of"):
        random_primitive("teapot")
    assert not (tmp_path / "x").exists()
