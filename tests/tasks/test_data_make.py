"""``deepsphere data make NAME``: each built-in data set is written in its real format and read back by the
readers that ``data.root`` uses; overrides may follow the options; nothing is replaced without --overwrite."""

import pytest

from deepsphere.cli import main
from deepsphere.data import ClimateCollection, GHCNDataset, ShapeCollection, read_stations


def test_shapes_climate_and_ghcn_read_back(tmp_path, capsys):
    assert (
        main(["data", "make", "shapes", "--out", str(tmp_path / "s"), "per_class=3", "classes=[box,cone]"])
        == 0
    )
    shapes = ShapeCollection.from_shrec17(tmp_path / "s", "train")
    assert shapes.classes == ("box", "cone") and shapes.n_shapes >= 2
    assert main(["data", "make", "climate", "--out", str(tmp_path / "c"), "level=2", "n_steps=5"]) == 0
    climate = ClimateCollection.from_folder(tmp_path / "c")
    assert climate.n_vertices == 162 and sum(len(climate.files(s)) for s in ("train", "val", "test")) == 5
    assert main(["data", "make", "ghcn", "--out", str(tmp_path / "g"), "n_stations=6", "years=1"]) == 0
    assert len(read_stations(tmp_path / "g" / "ghcnd-stations.txt")) == 6
    ghcn = GHCNDataset.build(tmp_path / "g", cache_dir=tmp_path / "cache")
    assert ghcn.values.shape == (365, 6, 2)
    assert "stations in the GHCN-Daily formats" in capsys.readouterr().out


def test_unknown_set_bad_key_and_existing_output(tmp_path, capsys):
    assert main(["data", "make", "weather", "--out", str(tmp_path)]) == 2
    assert "built-in data sets: ['climate', 'cosmo', 'ghcn', 'shapes']" in capsys.readouterr().err
    assert main(["data", "make", "ghcn", "--out", str(tmp_path), "stations=3"]) == 2
    assert "did you mean 'n_stations'" in capsys.readouterr().err
    assert main(["data", "make", "ghcn", "--out", str(tmp_path / "g"), "n_stations=4", "years=1"]) == 0
    assert main(["data", "make", "ghcn", "--out", str(tmp_path / "g"), "n_stations=4", "years=1"]) == 2
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args", [["train", "cosmo", "--bogus"], ["data", "make", "cosmo", "--out", "x", "-z"]]
)
def test_stray_options_are_refused(args, capsys):
    with pytest.raises(SystemExit):
        main(args)
    assert "unrecognized arguments" in capsys.readouterr().err
