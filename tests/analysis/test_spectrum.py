"""Graph spectra against the sphere's: harmonics, eigenpairs, subspace alignment, the report."""

import json
import sys

import healpy as hp
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.special

from deepsphere.analysis import spectrum
from deepsphere.analysis.spectrum import (
    degree_eigenvalues,
    graph_spectrum,
    real_spherical_harmonics,
    spectrum_report,
    subspace_alignment,
)
from deepsphere.graph import knn_graph
from deepsphere.sampling import GaussLegendre, HEALPix


@pytest.fixture(scope="module")
def healpix8_graph():
    sampling = HEALPix(nside=8)
    return sampling, knn_graph(sampling, k=8)


def random_unit_vectors(n, seed):
    x = np.random.default_rng(seed).standard_normal((n, 3))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def column(ell, m):
    return ell * ell + ell + m


# -- real spherical harmonics ------------------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(scipy.special, "sph_harm_y"), reason="scipy < 1.15 has no sph_harm_y")
def test_real_harmonics_match_scipy_complex_harmonics():
    xyz = random_unit_vectors(200, seed=1)
    theta, phi = np.arccos(xyz[:, 2]), np.arctan2(xyz[:, 1], xyz[:, 0])
    y = real_spherical_harmonics(xyz, lmax=7)
    for ell in range(8):
        assert np.allclose(
            y[:, column(ell, 0)], scipy.special.sph_harm_y(ell, 0, theta, phi).real, atol=1e-12
        )
        for m in range(1, ell + 1):
            complex_y = scipy.special.sph_harm_y(ell, m, theta, phi)  # with the Condon-Shortley phase
            assert np.allclose(y[:, column(ell, m)], np.sqrt(2) * (-1) ** m * complex_y.real, atol=1e-12)
            assert np.allclose(y[:, column(ell, -m)], np.sqrt(2) * (-1) ** m * complex_y.imag, atol=1e-12)


def test_real_harmonics_match_healpy_synthesis_of_single_alm(healpy_on_one_thread):
    # alm2map of a_lm = 1 is 2 Re Y_lm = (-1)^m √2 Y_l,m; of a_lm = i, -2 Im Y_lm = -(-1)^m √2 Y_l,-m.
    nside, lmax = 8, 6
    y = real_spherical_harmonics(HEALPix(nside, nest=False), lmax)
    for ell, m in [(0, 0), (1, 0), (1, 1), (3, 2), (5, 5), (6, 3)]:
        for value in (1.0, 1j) if m > 0 else (1.0,):
            alm = np.zeros(hp.Alm.getsize(lmax), dtype=np.complex128)
            alm[hp.Alm.getidx(lmax, ell, m)] = value
            synthesised = hp.alm2map(alm, nside, lmax=lmax)
            if m == 0:
                expected = y[:, column(ell, 0)]
            elif value == 1.0:
                expected = (-1) ** m * np.sqrt(2) * y[:, column(ell, m)]
            else:
                expected = -((-1) ** m) * np.sqrt(2) * y[:, column(ell, -m)]
            assert np.allclose(synthesised, expected, atol=1e-10), (ell, m, value)


def test_real_harmonics_are_orthonormal_under_quadrature():
    # Gauss-Legendre with nlat = 8 integrates products of degree <= 7 exactly; HEALPix approximately.
    gl = GaussLegendre(nlat=8)
    y = real_spherical_harmonics(gl, lmax=7)
    assert np.allclose(y.T @ (gl.area[:, None] * y), np.eye(64), atol=1e-12)
    fine = HEALPix(nside=16)
    y = real_spherical_harmonics(fine, lmax=6)
    assert np.abs(y.T @ (fine.area[:, None] * y) - np.eye(49)).max() < 5e-3


def test_real_harmonics_hand_values():
    # Y_10 = sqrt(3/4π) z, Y_11 = sqrt(3/4π) x, Y_1,-1 = sqrt(3/4π) y; Y_20 = sqrt(5/16π) (3z² − 1).
    xyz = random_unit_vectors(50, seed=2)
    y = real_spherical_harmonics(xyz, lmax=2)
    c1 = np.sqrt(3 / (4 * np.pi))
    assert np.allclose(y[:, 0], 1 / np.sqrt(4 * np.pi))
    assert np.allclose(y[:, [1, 2, 3]], c1 * xyz[:, [1, 2, 0]])
    assert np.allclose(y[:, column(2, 0)], np.sqrt(5 / (16 * np.pi)) * (3 * xyz[:, 2] ** 2 - 1))
    assert np.allclose(y[:, column(2, 2)], np.sqrt(15 / (16 * np.pi)) * (xyz[:, 0] ** 2 - xyz[:, 1] ** 2))


def test_real_harmonics_reject_bad_input():
    with pytest.raises(ValueError, match="lmax"):
        real_spherical_harmonics(random_unit_vectors(5, 0), lmax=-1)
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        real_spherical_harmonics(np.ones((4, 2)), lmax=2)
    with pytest.raises(ValueError, match="unit vectors"):
        real_spherical_harmonics(2 * random_unit_vectors(5, 0), lmax=2)
    with pytest.raises(ValueError, match="NaN"):
        real_spherical_harmonics(np.full((3, 3), np.nan), lmax=2)


# -- graph spectrum ----------------------------------------------------------------------------------------


def test_graph_spectrum_solves_the_eigenproblem(healpix8_graph):
    _, graph = healpix8_graph
    laplacian = graph.laplacian()
    values, vectors = graph_spectrum(graph, 30)
    assert np.allclose(values, np.linalg.eigvalsh(laplacian.toarray())[:30], atol=1e-12)
    assert np.allclose(laplacian @ vectors, vectors * values, atol=1e-10)
    assert np.allclose(vectors.T @ vectors, np.eye(30), atol=1e-10)
    peaks = vectors[np.abs(vectors).argmax(axis=0), np.arange(30)]
    assert (peaks > 0).all()
    normalized, _ = graph_spectrum(graph, 5, normalized=True)
    assert np.allclose(normalized, np.linalg.eigvalsh(graph.laplacian(True).toarray())[:5], atol=1e-12)


def test_graph_spectrum_sparse_path_matches_dense(healpix8_graph, monkeypatch):
    _, graph = healpix8_graph
    dense_values, dense_vectors = graph_spectrum(graph, 16)
    monkeypatch.setattr(spectrum, "DENSE_SPECTRUM_LIMIT", 100)
    values, vectors = graph_spectrum(graph.laplacian(), 16)
    assert np.allclose(values, dense_values, atol=1e-10)
    # Same subspaces (the degenerate groups may be mixed differently): projectors agree.
    assert np.allclose(vectors @ vectors.T, dense_vectors @ dense_vectors.T, atol=1e-6)


def test_eigenvalues_come_in_groups_of_2l_plus_1(healpix8_graph):
    _, graph = healpix8_graph
    values, _ = graph_spectrum(graph, 36)
    groups = [values[ell**2 : (ell + 1) ** 2] for ell in range(6)]
    for ell in range(1, 5):
        spread = np.ptp(groups[ell])
        gap_below = groups[ell].min() - groups[ell - 1].max()
        gap_above = groups[ell + 1].min() - groups[ell].max()
        assert spread < 0.1 * min(gap_below, gap_above), ell
    scaled = degree_eigenvalues(values, lmax=4)
    assert np.allclose(scaled, [0, 2, 6, 12, 20], rtol=0.05, atol=1e-9)


def test_graph_spectrum_rejects_bad_input(healpix8_graph):
    _, graph = healpix8_graph
    with pytest.raises(ValueError, match="n_eigenvalues"):
        graph_spectrum(graph, 0)
    with pytest.raises(ValueError, match="n_eigenvalues must be at most"):
        graph_spectrum(graph, 769)
    with pytest.raises(ValueError, match="symmetric"):
        graph_spectrum(sp.csr_matrix(np.triu(np.ones((4, 4)))), 2)
    with pytest.raises(ValueError, match="square"):
        graph_spectrum(np.ones((3, 4)), 2)
    with pytest.raises(ValueError, match="normalized=True"):
        graph_spectrum(graph.laplacian(), 2, normalized=True)
    with pytest.raises(ValueError, match="graph_or_laplacian must be"):
        graph_spectrum([[1.0, 0.0], [0.0, 1.0]], 1)


# -- subspace alignment ------------------------------------------------------------------------------------


def test_alignment_of_graph_fourier_modes_with_harmonics(healpix8_graph):
    sampling, graph = healpix8_graph
    _, vectors = graph_spectrum(graph, 49)
    alignment = subspace_alignment(vectors, real_spherical_harmonics(sampling, 6), lmax=6, area=sampling.area)
    assert alignment.shape == (7, 7)
    assert (np.diag(alignment)[:5] > 0.98).all()
    assert np.abs(alignment - np.diag(np.diag(alignment)))[:5, :5].max() < 0.02


def test_alignment_of_exact_harmonics_is_the_identity():
    gl = GaussLegendre(nlat=8)
    y = real_spherical_harmonics(gl, lmax=6)
    assert np.allclose(subspace_alignment(y, y, lmax=6, area=gl.area), np.eye(7), atol=1e-12)
    healpix = HEALPix(nside=8)
    y = real_spherical_harmonics(healpix, lmax=5)
    assert np.allclose(subspace_alignment(y, y, lmax=5), np.eye(6), atol=1e-3)


def test_alignment_of_mixed_subspaces_is_cos_squared():
    # Group 1 tilted by α towards three degree-2 harmonics: overlaps cos²α with degree 1, sin²α with 2.
    gl = GaussLegendre(nlat=6)
    y = real_spherical_harmonics(gl, lmax=3)
    alpha = 0.4
    vectors = y.copy()
    vectors[:, 1:4] = np.cos(alpha) * y[:, 1:4] + np.sin(alpha) * y[:, 4:7]
    rotation, _ = np.linalg.qr(np.random.default_rng(3).standard_normal((3, 3)))
    vectors[:, 1:4] = vectors[:, 1:4] @ rotation  # a basis change within the group changes nothing
    alignment = subspace_alignment(vectors, y, lmax=3, area=gl.area)
    assert alignment[1, 1] == pytest.approx(np.cos(alpha) ** 2, abs=1e-12)
    assert alignment[1, 2] == pytest.approx(np.sin(alpha) ** 2, abs=1e-12)
    assert alignment[1, [0, 3]] == pytest.approx([0.0, 0.0], abs=1e-12)
    assert alignment[0, 0] == pytest.approx(1.0)


def test_alignment_rejects_bad_input():
    y = real_spherical_harmonics(random_unit_vectors(40, 4), lmax=3)
    with pytest.raises(ValueError, match="eigenvectors"):
        subspace_alignment(y[:, :8], y, lmax=2)
    with pytest.raises(ValueError, match="one row per vertex"):
        subspace_alignment(y, y[:30], lmax=3)
    with pytest.raises(ValueError, match="area"):
        subspace_alignment(y, y, lmax=3, area=-np.ones(40))
    with pytest.raises(ValueError, match="lmax"):
        subspace_alignment(y, y, lmax=1.5)
    with pytest.raises(ValueError, match="lmax=3 needs"):
        subspace_alignment(y[:10], y[:10], lmax=3)


def test_degree_eigenvalues_scale_and_reject_bad_input():
    ells = np.repeat(np.arange(5), 2 * np.arange(5) + 1)
    values = 0.37 * ells * (ells + 1) + np.random.default_rng(5).uniform(-1e-3, 1e-3, len(ells))
    shuffled = np.random.default_rng(6).permutation(values)
    assert np.allclose(degree_eigenvalues(shuffled, lmax=4), [0, 2, 6, 12, 20], atol=0.02)
    with pytest.raises(ValueError, match="at least"):
        degree_eigenvalues(values[:20], lmax=4)
    with pytest.raises(ValueError, match="lmax"):
        degree_eigenvalues(values, lmax=0)
    with pytest.raises(ValueError, match="positive"):
        degree_eigenvalues(np.zeros(9), lmax=2)


# -- report ------------------------------------------------------------------------------------------------


def test_spectrum_report_writes_numbers_and_figures(tmp_path, capsys):
    result = spectrum_report(tmp_path / "out", sampling="healpix", resolution=4, lmax=4)
    files = [tmp_path / "out" / name for name in spectrum.SPECTRUM_FILES]
    assert [str(f) for f in files] == result["files"]
    assert all(f.stat().st_size > 1000 for f in files[1:])
    assert files[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    stored = json.loads(files[0].read_text())
    assert stored == result
    assert result["npix"] == 192 and len(result["eigenvalues"]) == 25
    assert result["degree_eigenvalues"][1] == pytest.approx(2.0)
    assert np.allclose(result["degree_eigenvalues"][:4], [0, 2, 6, 12], rtol=0.1, atol=1e-9)
    assert min(result["alignment_diagonal"][:4]) > 0.95
    out = capsys.readouterr().out
    assert "ℓ(ℓ+1)" in out and "spectrum.json" in out
    with pytest.raises(FileExistsError, match="overwrite"):
        spectrum_report(tmp_path / "out", resolution=4, lmax=4)
    again = spectrum_report(tmp_path / "out", sampling="random", resolution=4, lmax=3, overwrite=True)
    assert again["sampling"] == "random" and again["npix"] == 192


def test_spectrum_report_without_matplotlib_writes_json_only(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    result = spectrum_report(tmp_path, sampling="cubed_sphere", resolution=4, lmax=3)
    assert result["files"] == [str(tmp_path / "spectrum.json")]
    assert "matplotlib is not installed" in capsys.readouterr().out


def test_spectrum_report_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="sampling must be one of"):
        spectrum_report(tmp_path / "new", sampling="hexagons")
    with pytest.raises(ValueError, match="k must be"):
        spectrum_report(tmp_path / "new", k=0)
    assert not (tmp_path / "new").exists()  # nothing written before the inputs are checked
    with pytest.raises(ValueError, match="resolution=6 for sampling 'healpix'"):
        spectrum_report(tmp_path, resolution=6)
    with pytest.raises(ValueError, match="at most 200000"):
        spectrum_report(tmp_path, sampling="icosahedral", resolution=8)
    with pytest.raises(ValueError, match="resolution"):
        spectrum_report(tmp_path, resolution=0)
    with pytest.raises(ValueError, match="lmax=8 needs"):
        spectrum_report(tmp_path, sampling="healpix", resolution=2, lmax=8)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="out_dir must be a folder"):
        spectrum_report(tmp_path / "file")
    assert not (tmp_path / "spectrum.json").exists()


def test_report_samplings_follow_the_resolution():
    sampling = spectrum.report_sampling("equiangular", 4)
    assert (sampling.nlat, sampling.nlon, sampling.kind) == (8, 16, "soft")
    cloud = spectrum.report_sampling("random", 3, seed=7)
    assert np.array_equal(cloud.coords, spectrum.report_sampling("random", 3, seed=7).coords)
    assert cloud.npix == 108 and spectrum.report_sampling("icosahedral", 2).npix == 162
