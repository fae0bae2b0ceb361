"""Chebyshev spectral filters against exact ones: coefficients, recurrence, heat kernel, the report."""

import json

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import scipy.special

from deepsphere.analysis import filters
from deepsphere.analysis.filters import (
    chebyshev_coefficients,
    chebyshev_filter,
    exact_filter,
    filter_report,
    heat_kernel,
    spectral_response,
)
from deepsphere.graph import knn_graph
from deepsphere.sampling import HEALPix


@pytest.fixture(scope="module")
def graph():
    g = knn_graph(HEALPix(nside=4), k=8)
    return g.laplacian(), g.lmax()


@pytest.fixture(scope="module")
def signals():
    return np.random.default_rng(0).standard_normal((192, 3))


def test_polynomials_of_degree_below_K_are_reproduced(graph, signals):
    laplacian, lmax = graph

    def cubic(lam):
        return 1.0 - 2.0 * lam + 0.5 * lam**3

    lam = np.random.default_rng(1).uniform(0, lmax, 50)
    x = signals[:, 0]
    direct = x - 2.0 * (laplacian @ x) + 0.5 * (laplacian @ (laplacian @ (laplacian @ x)))
    for K in (4, 7):
        c = chebyshev_coefficients(cubic, K, lmax)
        assert np.allclose(spectral_response(c, lmax, lam), cubic(lam), atol=1e-12)
        assert np.allclose(chebyshev_filter(laplacian, c, x, lmax), direct, rtol=1e-11, atol=1e-11)
    assert np.allclose(chebyshev_coefficients(cubic, 7, lmax)[4:], 0.0, atol=1e-13)


def test_coefficients_of_the_exponential_are_bessel_values():
    # exp(−τλ) on [0, lmax] is exp(−a (y + 1)), a = τ lmax / 2, with Chebyshev series
    # e^{−a} (I_0(a) + 2 Σ_k (−1)^k I_k(a) T_k(y)); the interpolant's aliasing error is below 1e-20 at K = 30.
    tau, lmax = 1.5, 4.0
    a = tau * lmax / 2
    c = chebyshev_coefficients(heat_kernel(tau), 30, lmax)
    k = np.arange(30)
    expected = 2 * np.exp(-a) * (-1.0) ** k * scipy.special.iv(k, a)
    expected[0] /= 2
    assert np.allclose(c, expected, rtol=0, atol=5e-15)


def test_constant_filter_and_single_coefficient(graph, signals):
    laplacian, lmax = graph
    c = chebyshev_coefficients(lambda lam: 3.0, 1, lmax)
    assert c.tolist() == pytest.approx([3.0])
    assert np.allclose(chebyshev_filter(laplacian, c, signals, lmax), 3.0 * signals)


def test_heat_kernel_agrees_with_expm_multiply(graph, signals):
    laplacian, lmax = graph
    tau = 3.0  # τ·lmax ≈ 7.7
    reference = spla.expm_multiply(-tau * laplacian.tocsc(), signals)
    exact = exact_filter(laplacian, heat_kernel(tau), signals)
    assert np.allclose(exact, reference, rtol=1e-10, atol=1e-12)
    errors = []
    for K in range(2, 22, 2):
        y = chebyshev_filter(laplacian, chebyshev_coefficients(heat_kernel(tau), K, lmax), signals, lmax)
        errors.append(np.linalg.norm(y - reference) / np.linalg.norm(reference))
    assert errors[-1] < 1e-6  # K = 20
    assert all(later < 1.5 * earlier for earlier, later in zip(errors, errors[1:], strict=False))
    assert errors[0] / errors[-1] > 1e5


def test_filters_act_column_by_column(graph, signals):
    laplacian, lmax = graph
    c = chebyshev_coefficients(heat_kernel(1.0), 8, lmax)
    together = chebyshev_filter(laplacian, c, signals, lmax)
    one = chebyshev_filter(laplacian, c, signals[:, 1], lmax)
    assert one.shape == (192,) and np.allclose(together[:, 1], one)
    exact_one = exact_filter(laplacian, heat_kernel(1.0), signals[:, 2])
    assert exact_one.shape == (192,)


def test_exact_filter_scales_eigenvectors(graph):
    laplacian, _ = graph
    values, vectors = np.linalg.eigh(laplacian.toarray())
    out = exact_filter(laplacian, np.sqrt, vectors[:, [5, 40]])
    assert np.allclose(out, vectors[:, [5, 40]] * np.sqrt(values[[5, 40]]), atol=1e-12)


def test_exact_filter_refuses_large_graphs():
    n = filters.MAX_EXACT_VERTICES + 1
    with pytest.raises(ValueError, match=f"{n} rows, at most {filters.MAX_EXACT_VERTICES}"):
        exact_filter(sp.identity(n, format="csr"), heat_kernel(1.0), np.ones(n))


def test_heat_kernel_values():
    g = heat_kernel(0.5)
    assert g(np.array([0.0, 2.0, 4.0])) == pytest.approx([1.0, np.exp(-1.0), np.exp(-2.0)])
    assert heat_kernel(0)(np.array([7.0])) == pytest.approx([1.0])


def test_bad_inputs_are_rejected(graph, signals):
    laplacian, lmax = graph
    c = chebyshev_coefficients(heat_kernel(1.0), 4, lmax)
    with pytest.raises(ValueError, match="function must be callable"):
        chebyshev_coefficients(3.0, 4, lmax)
    with pytest.raises(ValueError, match="K must be"):
        chebyshev_coefficients(np.exp, 0, lmax)
    with pytest.raises(ValueError, match="lmax must be a positive"):
        chebyshev_coefficients(np.exp, 4, -1.0)
    with pytest.raises(ValueError, match="function must map"):
        chebyshev_coefficients(lambda lam: np.ones(3), 4, lmax)
    with pytest.raises(ValueError, match="NaN"):
        chebyshev_coefficients(lambda lam: np.where(lam > 1.0, np.nan, lam), 4, lmax)
    with pytest.raises(ValueError, match="coefficients"):
        chebyshev_filter(laplacian, [], signals, lmax)
    with pytest.raises(ValueError, match="coefficients"):
        chebyshev_filter(laplacian, np.ones((2, 2)), signals, lmax)
    with pytest.raises(ValueError, match=r"signals must have shape \(192,\)"):
        chebyshev_filter(laplacian, c, signals[:100], lmax)
    with pytest.raises(ValueError, match="signals have NaN"):
        chebyshev_filter(laplacian, c, np.full(192, np.nan), lmax)
    with pytest.raises(ValueError, match="laplacian must be symmetric"):
        chebyshev_filter(sp.random(192, 192, density=0.05, random_state=0, format="csr"), c, signals, lmax)
    with pytest.raises(ValueError, match="laplacian must be a scipy.sparse"):
        exact_filter([[1.0]], np.exp, [1.0])
    with pytest.raises(ValueError, match="tau must be"):
        heat_kernel(-1.0)
    with pytest.raises(ValueError, match="lambdas must be finite"):
        spectral_response(c, lmax, [np.inf])
    with pytest.raises(ValueError, match="lmax"):
        spectral_response(c, 0.0, [1.0])


def test_filter_report_errors_fall_with_K(tmp_path, capsys):
    result = filter_report(tmp_path / "f", nside=4, tau=4.0, K_values=(2, 6, 12, 20))
    files = [tmp_path / "f" / name for name in filters.FILTER_FILES]
    assert result["files"] == [str(f) for f in files]
    assert all(f.stat().st_size > 1000 for f in files[1:])
    assert json.loads(files[0].read_text()) == result
    for name in ("noise", "point_source"):
        errors = result["relative_error"][name]
        assert errors == sorted(errors, reverse=True) and errors[-1] < 1e-8 and errors[0] > 0.1
    assert result["response_error"][-1] < 1e-8
    assert 0 <= result["point_source_pixel"] < 192
    assert "response" in capsys.readouterr().out
    with pytest.raises(FileExistsError):
        filter_report(tmp_path / "f", nside=4)


def test_filter_report_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="nside=32 has 12288 pixels"):
        filter_report(tmp_path, nside=32)
    with pytest.raises(ValueError, match="tau must be"):
        filter_report(tmp_path, nside=4, tau=0.0)
    with pytest.raises(ValueError, match="K_values must be a non-empty"):
        filter_report(tmp_path, nside=4, K_values=())
    with pytest.raises(ValueError, match="K_values entries"):
        filter_report(tmp_path, nside=4, K_values=(2, 0))
    with pytest.raises(ValueError, match="nside"):
        filter_report(tmp_path, nside=3)
