"""Spectral filters on graphs: Chebyshev polynomial approximations against the exact filter.

A spectral filter ``g`` acts on a graph signal ``x`` through the Laplacian's eigendecomposition
``L = U Λ Uᵀ`` as ``g(L) x = U g(Λ) Uᵀ x`` (:func:`exact_filter`, dense, small graphs only). DeepSphere's
convolutions are instead polynomials of ``L``: with ``L̃ = 2 L / λmax − I`` (spectrum in [−1, 1]) and
the Chebyshev polynomials ``T_k``,

    g(L) x ≈ Σ_{k<K} c_k T_k(L̃) x,    T_0 = 1,  T_1 = y,  T_k(y) = 2 y T_{k−1}(y) − T_{k−2}(y),

evaluated with K − 1 sparse products (:func:`chebyshev_filter`) and no eigendecomposition. The
coefficients of the Chebyshev interpolant of g (:func:`chebyshev_coefficients`) make the error fall
geometrically with K for smooth g, such as the heat kernel ``exp(−τλ)`` (:func:`heat_kernel`).
:func:`filter_report` shows this on a HEALPix graph.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.polynomial import chebyshev

from ..graph import knn_graph
from ..sampling import HEALPix
from .spectrum import check_int, check_laplacian, prepare_outputs, save_figures, write_json

# exact_filter diagonalises densely: O(n³) time, O(n²) memory (5000 vertices: ~10 s, 200 MB).
MAX_EXACT_VERTICES = 5000
FILTER_FILES = ("filters.json", "filters_error.png", "filters_response.png", "filters_maps.png")


def chebyshev_coefficients(function: Callable[[np.ndarray], Any], K: int, lmax: float) -> np.ndarray:
    """Coefficients of the degree-(K−1) Chebyshev interpolant of ``g(λ)`` on [0, lmax].

    With the K Chebyshev nodes ``y_j = cos(π (j + ½) / K)`` and ``λ_j = lmax (y_j + 1) / 2``,

        c_k = (2 − δ_k0) / K · Σ_j g(λ_j) cos(π k (j + ½) / K),    k = 0 … K−1,

    so that ``p(λ) = Σ_k c_k T_k(2λ / lmax − 1)`` equals g at the nodes (a polynomial g of degree < K
    is reproduced exactly) and ``g(L) ≈ Σ_k c_k T_k(2L / lmax − I)``.

    Parameters
    ----------
    function : callable
        g, vectorised: takes an array of λ, returns an array of the same shape (or a scalar).
    K : int
        Number of coefficients (polynomial degree + 1), ≥ 1.
    lmax : float
        Upper end of the interval, > 0 (an upper bound of the Laplacian's spectrum).

    Returns
    -------
    ndarray (K,), float64

    Examples
    --------
    >>> np.round(chebyshev_coefficients(lambda lam: lam**2, K=3, lmax=2.0), 12).tolist()  # λ² on [0, 2]
    [1.5, 2.0, 0.5]
    """
    if not callable(function):
        raise ValueError(f"function must be callable (λ array → array), got {type(function).__name__}")
    K = check_int(K, "K", 1)
    lmax = _check_lmax(lmax)
    theta = np.pi * (np.arange(K) + 0.5) / K
    g = _evaluate(function, 0.5 * lmax * (np.cos(theta) + 1.0))
    coefficients = (2.0 / K) * (np.cos(np.outer(np.arange(K), theta)) @ g)
    coefficients[0] /= 2.0
    return coefficients


def chebyshev_filter(laplacian: Any, coefficients: Any, signals: Any, lmax: float) -> np.ndarray:
    """Apply ``Σ_k c_k T_k(L̃) x``, ``L̃ = 2 L / lmax − I``, by the three-term recurrence (float64).

    ``T_0 x = x``, ``T_1 x = L̃ x``, ``T_k x = 2 L̃ T_{k−1} x − T_{k−2} x``: K − 1 sparse products.

    Parameters
    ----------
    laplacian : scipy.sparse matrix or ndarray (n, n)
        Symmetric.
    coefficients : array (K,)
        Chebyshev coefficients c_k (e.g. :func:`chebyshev_coefficients`).
    signals : ndarray (n,) or (n, N)
        One signal, or N signals as columns.
    lmax : float
        The scale of L̃, > 0; the spectrum of L should lie in [0, lmax].

    Returns
    -------
    ndarray, the shape of ``signals``, float64
    """
    matrix = check_laplacian(laplacian, "laplacian")
    c = np.asarray(coefficients, dtype=np.float64)
    if c.ndim != 1 or c.size == 0 or not np.isfinite(c).all():
        raise ValueError(f"coefficients must be a non-empty 1-D array of finite numbers, got shape {c.shape}")
    x = _check_signals(signals, matrix.shape[0])
    lmax = _check_lmax(lmax)

    def scaled(v: np.ndarray) -> np.ndarray:
        return (2.0 / lmax) * (matrix @ v) - v

    out = c[0] * x
    if len(c) == 1:
        return out
    previous, current = x, scaled(x)
    out += c[1] * current
    for ck in c[2:]:
        previous, current = current, 2.0 * scaled(current) - previous
        out += ck * current
    return out


def exact_filter(laplacian: Any, function: Callable[[np.ndarray], Any], signals: Any) -> np.ndarray:
    """``U g(Λ) Uᵀ x`` with the dense eigendecomposition ``L = U Λ Uᵀ`` (``numpy.linalg.eigh``).

    For graphs of at most ``MAX_EXACT_VERTICES`` (5000) vertices: the cost is O(n³) time, O(n²) memory.

    Parameters
    ----------
    laplacian : scipy.sparse matrix or ndarray (n, n)
        Symmetric.
    function : callable
        g, vectorised over an array of eigenvalues.
    signals : ndarray (n,) or (n, N)

    Returns
    -------
    ndarray, the shape of ``signals``, float64
    """
    matrix = check_laplacian(laplacian, "laplacian")
    n = matrix.shape[0]
    if n > MAX_EXACT_VERTICES:
        raise ValueError(
            f"exact_filter is dense: the laplacian has {n} rows, at most {MAX_EXACT_VERTICES} are allowed "
            "(use chebyshev_filter, or scipy.sparse.linalg.expm_multiply for the heat kernel)"
        )
    if not callable(function):
        raise ValueError(f"function must be callable (λ array → array), got {type(function).__name__}")
    x = _check_signals(signals, n)
    eigenvalues, eigenvectors = np.linalg.eigh(matrix.toarray())
    # L is positive semi-definite: its λ = 0 comes out of eigh as ±1e-16, and g is defined on [0, lmax]
    response = _evaluate(function, np.maximum(eigenvalues, 0.0))
    columns = x.reshape(n, -1)
    return (eigenvectors @ (response[:, None] * (eigenvectors.T @ columns))).reshape(x.shape)


def heat_kernel(tau: float) -> Callable[[np.ndarray], np.ndarray]:
    """The heat kernel ``g(λ) = exp(−τ λ)`` (diffusion for a time τ, in the Laplacian's units).

    Examples
    --------
    >>> heat_kernel(2.0)(np.array([0.0, 0.5])).round(6).tolist()
    [1.0, 0.367879]
    """
    if (
        isinstance(tau, bool)
        or not isinstance(tau, (int, float, np.integer, np.floating))
        or not 0 <= tau < np.inf
    ):
        raise ValueError(f"tau must be a finite number ≥ 0, got {tau!r}")
    tau = float(tau)

    def heat(lam: np.ndarray) -> np.ndarray:
        return np.exp(-tau * np.asarray(lam, dtype=np.float64))

    heat.__doc__ = f"exp(−{tau:g} λ)"
    return heat


def spectral_response(coefficients: Any, lmax: float, lambdas: Any) -> np.ndarray:
    """The polynomial ``p(λ) = Σ_k c_k T_k(2λ / lmax − 1)`` at the given λ (any shape).

    This is the factor by which ``chebyshev_filter`` multiplies a Laplacian eigenvector of eigenvalue λ.

    Examples
    --------
    >>> spectral_response([1.5, 2.0, 0.5], 2.0, [0.0, 1.0, 2.0]).tolist()  # λ²
    [0.0, 1.0, 4.0]
    """
    c = np.asarray(coefficients, dtype=np.float64)
    if c.ndim != 1 or c.size == 0 or not np.isfinite(c).all():
        raise ValueError(f"coefficients must be a non-empty 1-D array of finite numbers, got shape {c.shape}")
    lmax = _check_lmax(lmax)
    lam = np.asarray(lambdas, dtype=np.float64)
    if not np.isfinite(lam).all():
        raise ValueError("lambdas must be finite")
    return chebyshev.chebval(2.0 * lam / lmax - 1.0, c)


def filter_report(
    out_dir: str | os.PathLike,
    nside: int = 8,
    k: int = 8,
    tau: float = 5.0,
    K_values: Sequence[int] = (2, 4, 8, 12, 16, 24, 32),
    seed: int = 0,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Heat diffusion on a HEALPix k-NN graph by Chebyshev polynomials of degree K − 1, against the exact.

    Two signals: a white-noise map (N(0, 1) per pixel) and a point source (1 at one random pixel), both
    drawn with ``seed``. Each is filtered by ``exp(−τ L)`` exactly (:func:`exact_filter`) and by the
    Chebyshev interpolant of each K (:func:`chebyshev_filter`, λmax the graph's bound
    :meth:`~deepsphere.graph.SphereGraph.lmax`); the relative error ``‖y_K − y‖ / ‖y‖`` falls
    geometrically with K. Writes into ``out_dir``: ``filters.json`` (the returned numbers),
    ``filters_error.png`` (error against K), ``filters_response.png`` (``exp(−τλ)`` and the polynomials
    on [0, λmax], the graph's eigenvalues marked) and ``filters_maps.png`` (Mollweide views of the
    inputs, the exact results and the Chebyshev results for the smallest and largest K); without
    matplotlib only the JSON. Prints a table and where the files went.

    Parameters
    ----------
    out_dir : path
        Output folder (created if needed).
    nside : int
        HEALPix resolution (power of two); 12 nside² ≤ ``MAX_EXACT_VERTICES``, so nside ≤ 16.
    k : int
        Neighbours of the graph.
    tau : float
        Diffusion time, > 0, in units of 1 / (Laplacian eigenvalue). The default 5 gives τ λmax ≈ 13 and a
        smoothing of about 2 pixels on the default graph.
    K_values : sequence of int
        Numbers of Chebyshev coefficients to compare, each ≥ 1.
    seed : int
        Seed of the signals.
    overwrite : bool
        Replace files of an earlier report in ``out_dir``; otherwise an existing one is an error.

    Returns
    -------
    dict
        ``nside``, ``npix``, ``k``, ``tau``, ``lmax``, ``K_values``, ``relative_error`` (``{"noise": [...],
        "point_source": [...]}``, one per K), ``response_error`` (max over the graph's eigenvalues of
        ``|p_K(λ) − exp(−τλ)|``, per K), ``point_source_pixel`` and ``files``.
    """
    out, paths = prepare_outputs(out_dir, FILTER_FILES, overwrite)
    sampling = HEALPix(nside=nside)
    if sampling.npix > MAX_EXACT_VERTICES:
        raise ValueError(
            f"nside={nside} has {sampling.npix} pixels; the exact filter allows {MAX_EXACT_VERTICES}"
        )
    if (
        not isinstance(tau, (int, float, np.integer, np.floating))
        or isinstance(tau, bool)
        or not 0 < tau < np.inf
    ):
        raise ValueError(f"tau must be a positive finite number, got {tau!r}")
    K_values = [check_int(K, "K_values entries", 1) for K in _as_list(K_values, "K_values")]
    rng = np.random.default_rng(seed)
    source = int(rng.integers(sampling.npix))
    signals = np.zeros((sampling.npix, 2))
    signals[:, 0] = rng.standard_normal(sampling.npix)
    signals[source, 1] = 1.0

    graph = knn_graph(sampling, k=k)
    laplacian = graph.laplacian()
    lmax = graph.lmax()
    g = heat_kernel(tau)
    exact = exact_filter(laplacian, g, signals)
    eigenvalues = np.linalg.eigvalsh(laplacian.toarray())
    filtered, errors, response_errors = [], [], []
    for K in K_values:
        c = chebyshev_coefficients(g, K, lmax)
        y = chebyshev_filter(laplacian, c, signals, lmax)
        filtered.append(y)
        errors.append(np.linalg.norm(y - exact, axis=0) / np.linalg.norm(exact, axis=0))
        response_errors.append(float(np.abs(spectral_response(c, lmax, eigenvalues) - g(eigenvalues)).max()))
    errors_array = np.array(errors)
    result: dict[str, Any] = {
        "nside": sampling.nside,
        "npix": sampling.npix,
        "k": int(k),
        "tau": float(tau),
        "lmax": float(lmax),
        "K_values": K_values,
        "relative_error": {"noise": errors_array[:, 0].tolist(), "point_source": errors_array[:, 1].tolist()},
        "response_error": response_errors,
        "point_source_pixel": source,
    }
    written = save_figures(
        lambda: _filter_figures(result, sampling, signals, exact, filtered, eigenvalues, g), paths[1:]
    )
    result["files"] = [str(p) for p in [paths[0], *written]]
    write_json(paths[0], result)
    print(
        f"heat kernel exp(-{tau:g} λ), HEALPix nside={nside}, k={k}: λmax={lmax:.4g}, τ·λmax={tau * lmax:.3g}"
    )
    print(f"{'K':>4} {'noise':>10} {'source':>10} {'response':>10}")
    for K, (e_noise, e_source), e_resp in zip(K_values, errors, response_errors, strict=True):
        print(f"{K:>4} {e_noise:>10.2e} {e_source:>10.2e} {e_resp:>10.2e}")
    print(f"wrote {len(result['files'])} files into {out}: {', '.join(p.name for p in [paths[0], *written])}")
    return result


def _filter_figures(
    result: dict[str, Any],
    sampling: HEALPix,
    signals: np.ndarray,
    exact: np.ndarray,
    filtered: list[np.ndarray],
    eigenvalues: np.ndarray,
    g: Callable[[np.ndarray], np.ndarray],
) -> list[Any]:
    from .plotting import new_figure, plot_map

    K_values, lmax, tau = result["K_values"], result["lmax"], result["tau"]
    error = new_figure((6.0, 4.0))
    ax = error.add_subplot()
    for name, label in (("noise", "white noise"), ("point_source", "point source")):
        ax.semilogy(K_values, np.maximum(result["relative_error"][name], 1e-17), "o-", label=label)
    ax.set_xlabel("K (number of Chebyshev coefficients)")
    ax.set_ylabel("relative error ‖y_K − y‖ / ‖y‖")
    ax.set_title(f"heat kernel τ={tau:g}, HEALPix nside={result['nside']}")
    ax.grid(alpha=0.3, which="both")
    ax.legend()

    response = new_figure((6.0, 4.0))
    ax = response.add_subplot()
    lam = np.linspace(0.0, lmax, 400)
    ax.plot(lam, g(lam), "k", lw=2, label="exp(−τλ)")
    for K in K_values[:5]:
        ax.plot(lam, spectral_response(chebyshev_coefficients(g, K, lmax), lmax, lam), lw=1, label=f"K={K}")
    ax.plot(eigenvalues, np.zeros_like(eigenvalues), "|", color="0.4", ms=8, label="graph eigenvalues")
    ax.set_ylim(-0.3, 1.1)
    ax.set_xlabel("λ")
    ax.set_ylabel("response")
    ax.set_title("spectral responses")
    ax.legend(fontsize=8)

    maps = new_figure((16.0, 5.6))
    for row, name in enumerate(("white noise", "point source")):
        scale = {"vmin": float(exact[:, row].min()), "vmax": float(exact[:, row].max())}
        panels = [
            (signals[:, row], f"{name}: input", {}),
            (exact[:, row], "exact exp(−τL) x", scale),
            (filtered[0][:, row], f"Chebyshev K={K_values[0]}", scale),
            (filtered[-1][:, row], f"Chebyshev K={K_values[-1]}", scale),
        ]
        for col, (values, title, limits) in enumerate(panels):
            ax = maps.add_subplot(2, 4, 4 * row + col + 1)
            plot_map(values, sampling, ax=ax, title=title, resolution=400, **limits)
    return [error, response, maps]


def _evaluate(function: Callable[[np.ndarray], Any], lam: np.ndarray) -> np.ndarray:
    try:
        values = np.broadcast_to(np.asarray(function(lam), dtype=np.float64), lam.shape)
    except ValueError as err:
        raise ValueError(
            f"function must map an array of {lam.shape} λ to as many real numbers: {err}"
        ) from None
    if not np.isfinite(values).all():
        raise ValueError("function returned NaN or infinite values on [0, lmax]")
    return np.array(values)


def _check_signals(signals: Any, n: int) -> np.ndarray:
    try:
        x = np.asarray(signals, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"signals must be an array of numbers, got {type(signals).__name__}") from err
    if x.ndim not in (1, 2) or x.shape[0] != n:
        raise ValueError(f"signals must have shape ({n},) or ({n}, N) to match the laplacian, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("signals have NaN or infinite values")
    return x


def _check_lmax(lmax: Any) -> float:
    if (
        isinstance(lmax, bool)
        or not isinstance(lmax, (int, float, np.integer, np.floating))
        or not 0 < lmax < np.inf
    ):
        raise ValueError(f"lmax must be a positive finite number (a bound of the spectrum), got {lmax!r}")
    return float(lmax)


def _as_list(values: Any, name: str) -> list[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
        raise ValueError(f"{name} must be a non-empty sequence, got {values!r}")
    return list(values)
