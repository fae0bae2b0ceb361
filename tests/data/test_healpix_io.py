"""Tests of deepsphere.data.healpix_io: reading, checking and atomically writing HEALPix FITS maps.

Files are written with healpy.write_map or astropy directly (independent writers), and read back with
healpy.read_map (an independent reader) where the module writes them.
"""

import os
import warnings

import healpy as hp
import numpy as np
import pytest
from astropy.io import fits

from deepsphere.data import healpix_io
from deepsphere.data.healpix_io import atomic_write, check_map, read_healpix_map, write_healpix_map

NSIDE = 8
NPIX = 12 * NSIDE**2


def _random_map(seed, nside=NSIDE, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (3.0 + 2.0 * rng.standard_normal(12 * nside**2)).astype(dtype)


def _hp_write(path, values, nest, dtype=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hp.write_map(str(path), values, nest=nest, dtype=dtype or values.dtype, overwrite=True)
    return path


def _plain_table(path, values, ordering=None, nside=NSIDE):
    """A HEALPix-like binary table written with astropy: ORDERING and NSIDE only if given."""
    cards = [("PIXTYPE", "HEALPIX")] + ([("NSIDE", nside)] if nside is not None else [])
    if ordering is not None:
        cards.append(("ORDERING", ordering))
    column = fits.Column(name="SIGNAL", format="E", array=np.asarray(values, dtype=np.float32))
    fits.BinTableHDU.from_columns([column], header=fits.Header(cards)).writeto(path)
    return path


def _ring_to_nest(ring_values, nside=NSIDE):
    """NESTED pixel p carries the value of the RING pixel at the same centre (healpy's pixel geometry)."""
    theta, phi = hp.pix2ang(nside, np.arange(12 * nside**2), nest=True)
    return ring_values[hp.ang2pix(nside, theta, phi, nest=False)]


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


# --- read_healpix_map ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_read_nested_file_gives_the_same_values_as_float32(tmp_path, dtype):
    values = _random_map(0, dtype=dtype)
    path = _hp_write(tmp_path / "nest.fits", values, nest=True)
    out = read_healpix_map(path)
    assert out.dtype == np.float32
    assert out.shape == (NPIX,)
    np.testing.assert_array_equal(out, values.astype(np.float32))


def test_read_ring_file_is_converted_to_nested(tmp_path):
    values = _random_map(1)
    path = _hp_write(tmp_path / "ring.fits", values, nest=False)
    out = read_healpix_map(path)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, hp.reorder(values, r2n=True).astype(np.float32))
    np.testing.assert_array_equal(out, _ring_to_nest(values).astype(np.float32))


def test_read_accepts_the_expected_nside(tmp_path):
    path = _hp_write(tmp_path / "m.fits", _random_map(2), nest=True)
    assert read_healpix_map(path, nside=NSIDE).shape == (NPIX,)
    assert read_healpix_map(str(path), nside=NSIDE).shape == (NPIX,)  # a str path works too


@pytest.mark.parametrize(
    ("written_nest", "ordering", "reordered"),
    [
        (False, "NESTED", False),  # header says RING, the caller says the values are NESTED: taken as is
        (True, "RING", True),  # header says NESTED, the caller says RING: converted
        (True, "ring", True),  # case-insensitive
        (False, "RING", True),
        (True, "nested", False),
    ],
)
def test_ordering_argument_overrides_the_header(tmp_path, written_nest, ordering, reordered):
    values = _random_map(3)
    path = _hp_write(tmp_path / "m.fits", values, nest=written_nest)
    # healpy stores the values in the order given; only the ORDERING keyword differs.
    expected = _ring_to_nest(values) if reordered else values
    np.testing.assert_array_equal(read_healpix_map(path, ordering=ordering), expected.astype(np.float32))


def test_bad_ordering_argument_is_rejected(tmp_path):
    path = _hp_write(tmp_path / "m.fits", _random_map(4), nest=True)
    with pytest.raises(ValueError, match="ordering must be one of") as err:
        read_healpix_map(path, ordering="GALACTIC")
    assert "GALACTIC" in str(err.value)


def test_file_without_ordering_keyword_needs_an_ordering(tmp_path):
    values = _random_map(5, dtype=np.float32)
    path = _plain_table(tmp_path / "plain.fits", values)
    assert "ORDERING" not in fits.getheader(path, 1)
    with pytest.raises(ValueError, match="no ORDERING keyword") as err:
        read_healpix_map(path)
    assert "plain.fits" in str(err.value)
    np.testing.assert_array_equal(read_healpix_map(path, ordering="NESTED"), values)
    np.testing.assert_array_equal(read_healpix_map(path, ordering="RING"), _ring_to_nest(values))


def test_unknown_ordering_keyword_in_the_header_is_rejected(tmp_path):
    path = _plain_table(tmp_path / "odd.fits", _random_map(6), ordering="SPIRAL")
    with pytest.raises(ValueError, match="SPIRAL"):
        read_healpix_map(path)
    # An explicit ordering overrides a keyword the reader does not know.
    assert read_healpix_map(path, ordering="NESTED").shape == (NPIX,)


def test_plain_table_with_ordering_keyword(tmp_path):
    values = _random_map(7, dtype=np.float32)
    path = _plain_table(tmp_path / "ring.fits", values, ordering="RING")
    np.testing.assert_array_equal(read_healpix_map(path), _ring_to_nest(values))


def test_wrong_nside_names_the_pixel_counts(tmp_path):
    path = _hp_write(tmp_path / "small.fits", _random_map(8), nest=True)
    with pytest.raises(ValueError, match="pixels") as err:
        read_healpix_map(path, nside=16)
    message = str(err.value)
    assert f"{NPIX} pixels" in message
    assert str(12 * 16**2) in message
    assert "small.fits" in message


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nest", [True, False])
def test_nan_and_infinite_pixels_are_rejected_with_their_count(tmp_path, dtype, nest):
    values = _random_map(9, dtype=dtype)
    values[[3, 100, 500]] = np.nan
    values[[7, 9]] = [np.inf, -np.inf]
    path = _hp_write(tmp_path / "nan.fits", values, nest=nest)
    with pytest.raises(ValueError, match="5 NaN/infinite") as err:
        read_healpix_map(path)
    assert "nan.fits" in str(err.value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nest", [True, False])
def test_unseen_pixels_are_rejected_with_their_count(tmp_path, dtype, nest):
    # Regression: with an exact float32 comparison, UNSEEN in a float64 array (as healpy.read_map returns
    # it, whatever the file's dtype) went through unnoticed.
    values = _random_map(10, dtype=dtype)
    values[[0, 11, 12, 700]] = hp.UNSEEN
    path = _hp_write(tmp_path / "unseen.fits", values, nest=nest)
    with pytest.raises(ValueError, match="4 UNSEEN") as err:
        read_healpix_map(path)
    assert "0 NaN" in str(err.value)
    assert "unseen.fits" in str(err.value)


def test_file_that_is_not_fits_gives_a_clear_error(tmp_path):
    path = tmp_path / "notes.fits"
    path.write_text("these are not the maps you are looking for\n" * 10)
    with pytest.raises(ValueError, match="not a readable HEALPix FITS map") as err:
        read_healpix_map(path)
    assert "notes.fits" in str(err.value)


def test_fits_table_with_a_non_healpix_size_is_rejected(tmp_path):
    path = tmp_path / "table.fits"
    _plain_table(path, np.random.default_rng(11).standard_normal(1000), ordering="NESTED", nside=None)
    with pytest.raises(ValueError, match="not a readable HEALPix FITS map") as err:
        read_healpix_map(path)
    assert "table.fits" in str(err.value)


def test_missing_file_and_folder_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="does not exist") as err:
        read_healpix_map(tmp_path / "absent.fits")
    assert "absent.fits" in str(err.value)
    with pytest.raises(ValueError, match="does not exist"):
        read_healpix_map(tmp_path)


# --- check_map ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nside", [1, 2, 8, 32])
def test_check_map_returns_the_nside(nside):
    values = _random_map(nside, nside=nside)
    assert check_map(values, "m") == nside
    assert check_map(values.astype(np.float32), "m", nside=nside) == nside


def test_check_map_accepts_large_finite_values():
    values = _random_map(12)
    values[:5] = [-1e30, 1e30, -1.6e29, np.finfo(np.float32).max, -1.6375e31]  # near UNSEEN, but not it
    assert check_map(values, "m") == NSIDE


def test_check_map_errors():
    values = _random_map(13)
    with pytest.raises(ValueError, match="one-dimensional") as err:
        check_map(values.reshape(12, -1), "the map")
    assert "the map" in str(err.value)
    with pytest.raises(ValueError, match="100 pixels is not a HEALPix map size"):
        check_map(np.ones(100) * np.arange(100), "m")
    with pytest.raises(ValueError, match=rf"map has {NPIX} pixels, HEALPix nside=16 needs 3072"):
        check_map(values, "m", nside=16)
    for dtype in (np.float32, np.float64):
        bad = values.astype(dtype)
        bad[[1, 2]] = hp.UNSEEN
        bad[3] = np.nan
        with pytest.raises(ValueError, match="1 NaN/infinite and 2 UNSEEN"):
            check_map(bad, "m")


# --- write_healpix_map ----------------------------------------------------------------------------------


def test_write_reads_back_with_healpy_and_keeps_the_header(tmp_path):
    values = _random_map(14, dtype=np.float32)
    path = write_healpix_map(tmp_path / "out.fits", values, OMEGA_M="0.31", seed="1,2,3")
    assert path == tmp_path / "out.fits"
    back, header = hp.read_map(path, nest=True, h=True, dtype=None)
    np.testing.assert_array_equal(back, values)
    assert back.dtype.kind == "f" and back.dtype.itemsize == 4  # written as float32 (big-endian in FITS)
    header = dict(header)
    assert header["ORDERING"] == "NESTED"
    assert header["NSIDE"] == NSIDE
    assert header["OMEGA_M"] == "0.31"
    assert header["SEED"] == "1,2,3"
    assert _leftovers(tmp_path) == ["out.fits"]


def test_write_ring_values_reads_back_as_nested(tmp_path):
    values = _random_map(15)
    path = write_healpix_map(tmp_path / "ring.fits", values, nest=False)
    assert dict(hp.read_map(path, h=True)[1])["ORDERING"] == "RING"
    np.testing.assert_array_equal(read_healpix_map(path), _ring_to_nest(values).astype(np.float32))
    np.testing.assert_array_equal(hp.read_map(path, nest=False, dtype=None), values)


def test_write_creates_missing_folders(tmp_path):
    path = write_healpix_map(tmp_path / "a" / "b" / "m.fits", _random_map(16))
    np.testing.assert_array_equal(read_healpix_map(path), _random_map(16).astype(np.float32))


def test_write_refuses_to_overwrite_and_leaves_the_original(tmp_path):
    first, second = _random_map(17, dtype=np.float32), _random_map(18, dtype=np.float32)
    path = write_healpix_map(tmp_path / "m.fits", first)
    original = path.read_bytes()
    with pytest.raises(FileExistsError, match="overwrite=True") as err:
        write_healpix_map(path, second)
    assert "m.fits" in str(err.value)
    assert path.read_bytes() == original
    assert _leftovers(tmp_path) == ["m.fits"]

    write_healpix_map(path, second, overwrite=True)
    np.testing.assert_array_equal(hp.read_map(path, nest=True, dtype=None), second)
    assert _leftovers(tmp_path) == ["m.fits"]


@pytest.mark.parametrize("bad", [np.nan, hp.UNSEEN])
def test_write_rejects_bad_maps_before_writing(tmp_path, bad):
    values = _random_map(19)
    values[5] = bad
    with pytest.raises(ValueError, match="values"):
        write_healpix_map(tmp_path / "m.fits", values)
    assert _leftovers(tmp_path) == []
    with pytest.raises(ValueError, match="not a HEALPix map size"):
        write_healpix_map(tmp_path / "m.fits", values[:-1])
    assert _leftovers(tmp_path) == []


# --- atomic_write ---------------------------------------------------------------------------------------


def test_atomic_write_writes_through_a_temporary_file(tmp_path):
    seen = []

    def write(tmp):
        seen.append(tmp)
        assert tmp.parent == tmp_path  # same folder, so the rename is atomic
        assert tmp != tmp_path / "out.txt"
        tmp.write_text("payload")

    assert atomic_write(tmp_path / "out.txt", write) == tmp_path / "out.txt"
    assert (tmp_path / "out.txt").read_text() == "payload"
    assert not seen[0].exists()
    assert _leftovers(tmp_path) == ["out.txt"]


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_atomic_write_cleans_up_when_the_writer_fails(tmp_path, error):
    def write(tmp):
        tmp.write_text("half a fi")
        raise error

    with pytest.raises(type(error)):
        atomic_write(tmp_path / "new.txt", write)
    assert _leftovers(tmp_path) == []

    target = tmp_path / "kept.txt"
    target.write_text("the user's data")
    with pytest.raises(type(error)):
        atomic_write(target, write, overwrite=True)
    assert target.read_text() == "the user's data"
    assert _leftovers(tmp_path) == ["kept.txt"]


def test_atomic_write_refuses_an_existing_file_without_calling_the_writer(tmp_path):
    target = tmp_path / "kept.txt"
    target.write_text("original")
    calls = []
    with pytest.raises(FileExistsError, match="kept.txt"):
        atomic_write(target, calls.append)
    assert calls == []
    assert target.read_text() == "original"
    atomic_write(target, lambda tmp: tmp.write_text("replaced"), overwrite=True)
    assert target.read_text() == "replaced"


def test_atomic_write_reports_a_folder_it_cannot_create_a_file_in(tmp_path, monkeypatch):
    # Runs as root too: the operating system's refusal is simulated where the temporary file is made.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(healpix_io.tempfile, "mkstemp", refuse)
    calls = []
    with pytest.raises(PermissionError, match="cannot write to folder") as err:
        atomic_write(tmp_path / "sub" / "m.txt", calls.append)
    assert str(tmp_path / "sub") in str(err.value)
    assert "Permission denied" in str(err.value)
    assert calls == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions")
def test_atomic_write_into_an_unwritable_folder_names_the_folder(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="cannot write to folder") as err:
            atomic_write(folder / "m.txt", lambda tmp: tmp.write_text("x"))
        assert str(folder) in str(err.value)
        with pytest.raises(PermissionError, match="locked"):
            write_healpix_map(folder / "m.fits", _random_map(20))
        with pytest.raises(PermissionError, match="locked"):
            atomic_write(folder / "sub" / "m.txt", lambda tmp: tmp.write_text("x"))
    finally:
        folder.chmod(0o700)
    assert _leftovers(folder) == []
