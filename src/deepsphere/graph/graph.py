"""A weighted, undirected graph of pixels on the sphere, and its Laplacians."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

# Dense eigendecomposition above this many vertices would take minutes and gigabytes.
MAX_DENSE_VERTICES = 20_000


class SphereGraph:
    """A weighted undirected graph on sampled sphere points.

    Parameters
    ----------
    weights : scipy.sparse matrix, shape (n, n)
        Symmetric, non-negative, zero diagonal (checked). Stored as float64 CSR with sorted indices.
    coords : ndarray, shape (n, 3), optional
        Unit vectors of the vertices (for plots and analyses).
    kernel_width : float, optional
        The Gaussian width σ the weights were made with (see :mod:`deepsphere.graph.kernel`).
    check : bool
        Verify symmetry, signs and the diagonal (the package's own builders, which guarantee them,
        skip this O(E) pass).

    Attributes
    ----------
    weights : scipy.sparse.csr_matrix (n, n), float64
    n_vertices : int
    n_edges : int
        Number of undirected edges (``weights.nnz / 2``).
    degree : ndarray (n,)
        Weighted degree ``d_i = Σ_j w_ij``.
    """

    def __init__(
        self,
        weights: Any,
        coords: np.ndarray | None = None,
        kernel_width: float | None = None,
        check: bool = True,
    ) -> None:
        w = sp.csr_matrix(weights, dtype=np.float64, copy=check)  # never modify a user's matrix
        w.sum_duplicates()
        w.sort_indices()
        n = w.shape[0]
        if w.shape != (n, n):
            raise ValueError(f"weights must be a square matrix, got shape {w.shape}")
        if check:
            _check_weights(w)
        if coords is not None:
            coords = np.asarray(coords, dtype=np.float64)
            if coords.shape != (n, 3):
                raise ValueError(f"coords must have shape ({n}, 3), got {coords.shape}")
        self.weights = w
        self.coords = coords
        self.kernel_width = kernel_width
        self._lmax: dict[bool, float] = {}

    @property
    def n_vertices(self) -> int:
        return self.weights.shape[0]

    @property
    def n_edges(self) -> int:
        return self.weights.nnz // 2

    @property
    def degree(self) -> np.ndarray:
        return np.asarray(self.weights.sum(axis=1)).ravel()

    def laplacian(self, normalized: bool = False) -> sp.csr_matrix:
        """The graph Laplacian, float64 CSR (n, n).

        ``normalized=False``: combinatorial ``L = D − W``; eigenvalues in [0, 2 max(d)].
        ``normalized=True``: ``L = I − D^{-1/2} W D^{-1/2}``; eigenvalues in [0, 2]. An isolated vertex
        (degree 0) gets ``D^{-1/2} = 0``, so its row is that of the identity.
        """
        d = self.degree
        if not normalized:
            return (sp.diags(d) - self.weights).tocsr()
        with np.errstate(divide="ignore"):
            inv_sqrt = np.where(d > 0, 1.0 / np.sqrt(d), 0.0)
        scaled = sp.diags(inv_sqrt) @ self.weights @ sp.diags(inv_sqrt)
        return (sp.identity(self.n_vertices, format="csr") - scaled).tocsr()

    def lmax(self, normalized: bool = False) -> float:
        """Largest Laplacian eigenvalue: an upper bound within ~0.1 % (cached).

        See :func:`estimate_lmax`; the normalized Laplacian's value is also capped by 2.
        """
        normalized = bool(normalized)
        if normalized not in self._lmax:
            lmax = estimate_lmax(self.laplacian(normalized))
            self._lmax[normalized] = min(lmax, 2.0) if normalized else lmax
        return self._lmax[normalized]

    def fourier_basis(self, normalized: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Eigen-decomposition ``L = U Λ Uᵀ`` (the graph Fourier basis), dense, for small graphs.

        Returns
        -------
        eigenvalues : ndarray (n,), ascending
        eigenvectors : ndarray (n, n), column ``U[:, i]`` for ``eigenvalues[i]``, orthonormal
        """
        n = self.n_vertices
        if n > MAX_DENSE_VERTICES:
            raise ValueError(
                f"fourier_basis is dense: the graph has {n} vertices, at most {MAX_DENSE_VERTICES} "
                "are allowed (use scipy.sparse.linalg.eigsh for a few eigenpairs of a large graph)"
            )
        eigenvalues, eigenvectors = np.linalg.eigh(self.laplacian(normalized).toarray())
        return eigenvalues, eigenvectors

    def __repr__(self) -> str:
        width = "" if self.kernel_width is None else f", kernel_width={self.kernel_width:.4g}"
        return f"SphereGraph(n_vertices={self.n_vertices}, n_edges={self.n_edges}{width})"


def _check_weights(w: sp.csr_matrix) -> None:
    if w.nnz and (w.data.min() < 0 or not np.isfinite(w.data).all()):
        raise ValueError("weights must be finite and non-negative")
    if w.diagonal().any():
        raise ValueError("weights must have a zero diagonal (no self-loops)")
    if w.nnz and abs(w - w.T).max() > 1e-12 * w.data.max():
        raise ValueError("weights must be symmetric (an undirected graph)")


def estimate_lmax(matrix: Any) -> float:
    """Largest eigenvalue of a symmetric (sparse) matrix, as an upper bound within ~0.1 %.

    Lanczos (ARPACK) gives a Ritz value θ ≤ λmax with unit vector v; the residual ``r = |L v − θ v|``
    bounds the error, so ``θ + r`` is returned, capped by the Gershgorin bound ``max_i Σ_j |L_ij|``.
    Matrices up to 400 rows are solved densely (exact).
    """
    laplacian = sp.csr_matrix(matrix, dtype=np.float64)
    n = laplacian.shape[0]
    if n == 0:
        return 0.0
    cap = float(abs(laplacian).sum(axis=1).max())
    if n <= 400:
        return float(min(np.linalg.eigvalsh(laplacian.toarray())[-1], cap))
    v0 = np.random.default_rng(0).standard_normal(n)  # fixed start vector: deterministic results
    theta, vec = spla.eigsh(laplacian, k=1, which="LA", tol=1e-4, v0=v0, ncv=min(n, 32))
    v = vec[:, 0]
    residual = np.linalg.norm(laplacian @ v - theta[0] * v) / np.linalg.norm(v)
    return float(min(theta[0] + residual + 1e-3 * abs(theta[0]), cap))


def to_torch_sparse(matrix: Any, dtype: Any = None) -> Any:
    """A scipy.sparse matrix as a ``torch.sparse_csr_tensor`` (default dtype: float32).

    torch is imported here only: the graph layer works without it.
    """
    try:
        import torch
    except ImportError as err:  # pragma: no cover - torch is installed in the test environment
        raise ImportError("to_torch_sparse needs PyTorch: pip install torch") from err
    csr = sp.csr_matrix(matrix)
    csr.sort_indices()
    return torch.sparse_csr_tensor(
        torch.from_numpy(csr.indptr.astype(np.int64)),
        torch.from_numpy(csr.indices.astype(np.int64)),
        torch.from_numpy(csr.data),
        size=csr.shape,
        dtype=torch.float32 if dtype is None else dtype,
    )
