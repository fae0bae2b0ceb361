"""The rescaled graph Laplacian L̃ = 2 L / λmax − I, held as torch buffers in padded neighbour lists."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from ..graph import estimate_lmax


class RescaledLaplacian(torch.nn.Module):
    """``L̃ = 2 L / λmax − I``: a symmetric Laplacian whose spectrum [0, λmax] is mapped onto [−1, 1].

    The Chebyshev polynomials T_k are bounded by 1 on [−1, 1] only, so this map is what keeps a
    Chebyshev filter stable. λmax is an upper bound of the largest eigenvalue (within ~0.1 %, see
    :func:`deepsphere.graph.estimate_lmax`), so the spectrum of L̃ is [−1, 1 − ε] with ε ≤ ~0.005.

    Storage: padded neighbour lists (ELL), which suit sphere graphs (nearly constant degree) on every
    device, under ``torch.compile``, ONNX and autocast. They are plain dense buffers: they move with
    ``.to(device)``, are saved in the state dict and pass DDP's buffer broadcast (sparse tensors do not).

    Parameters
    ----------
    laplacian : scipy.sparse matrix or torch sparse tensor, shape (V, V)
        Symmetric graph Laplacian (combinatorial or normalized), finite.
    lmax : float, optional
        Largest eigenvalue of ``laplacian`` or an upper bound of it; estimated when omitted.

    Buffers
    -------
    index : LongTensor (V, d)
        ``index[i, j]`` is the column of the j-th non-zero of row i (padding: ``i`` itself).
    weight : Tensor (V, d), float32
        The matching entries of L̃ (padding: 0).
    lmax : Tensor (), float64
    """

    index: torch.Tensor
    weight: torch.Tensor
    lmax: torch.Tensor

    def __init__(self, laplacian: Any, lmax: float | None = None) -> None:
        super().__init__()
        matrix = _as_scipy(laplacian)
        n = matrix.shape[0]
        if matrix.shape != (n, n) or n == 0:
            raise ValueError(f"laplacian must be a non-empty square matrix, got shape {matrix.shape}")
        if matrix.nnz and not np.isfinite(matrix.data).all():
            raise ValueError("laplacian has NaN or infinite entries")
        if matrix.nnz and abs(matrix - matrix.T).max() > 1e-10 * abs(matrix.data).max():
            raise ValueError("laplacian must be symmetric (the graph must be undirected)")
        if lmax is None:
            lmax = estimate_lmax(matrix)
        elif isinstance(lmax, bool) or not isinstance(lmax, (int, float, np.integer, np.floating)):
            raise ValueError(f"lmax must be a positive number, got {lmax!r}")
        if not np.isfinite(lmax) or lmax <= 0:
            raise ValueError(
                f"lmax must be a positive number (the largest eigenvalue of the Laplacian), got {lmax!r}"
            )
        rescaled = (matrix * (2.0 / lmax) - sp.identity(n, format="csr")).tocsr()
        index, weight = _to_ell(rescaled)
        self.register_buffer("index", torch.from_numpy(index))
        self.register_buffer("weight", torch.from_numpy(weight.astype(np.float32)))
        self.register_buffer("lmax", torch.tensor(float(lmax), dtype=torch.float64))

    @property
    def n_vertices(self) -> int:
        return self.index.shape[0]

    def to_scipy(self) -> sp.csr_matrix:
        """L̃ as a float64 scipy CSR matrix (padding dropped)."""
        n, d = self.index.shape
        rows = np.repeat(np.arange(n), d)
        matrix = sp.csr_matrix(
            (self.weight.detach().cpu().double().numpy().ravel(), (rows, self.index.cpu().numpy().ravel())),
            shape=(n, n),
        )
        matrix.eliminate_zeros()
        return matrix

    def extra_repr(self) -> str:
        n, d = self.index.shape
        return f"n_vertices={n}, max_degree={d}, lmax={float(self.lmax):.4g}"


def _as_scipy(laplacian: Any) -> sp.csr_matrix:
    if isinstance(laplacian, torch.Tensor):
        if laplacian.layout == torch.strided:
            raise ValueError(
                "laplacian must be sparse (scipy.sparse or a torch sparse tensor), got a dense tensor"
            )
        coo = laplacian.detach().to_sparse_coo().coalesce().cpu()
        rows, cols = coo.indices().numpy()
        return sp.csr_matrix((coo.values().double().numpy(), (rows, cols)), shape=tuple(coo.shape))
    if sp.issparse(laplacian):
        matrix = sp.csr_matrix(laplacian, dtype=np.float64)
        matrix.sum_duplicates()
        matrix.sort_indices()
        return matrix
    raise ValueError(
        f"laplacian must be a scipy.sparse matrix or a torch sparse tensor, got {type(laplacian).__name__}"
        " (SphereGraph.laplacian() gives one)"
    )


def _to_ell(matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
    """Padded neighbour lists (V, d) of a CSR matrix; padding points at the row itself with weight 0."""
    n = matrix.shape[0]
    counts = np.diff(matrix.indptr)
    degree = max(int(counts.max()), 1)
    index = np.repeat(np.arange(n, dtype=np.int64)[:, None], degree, axis=1)
    weight = np.zeros((n, degree), dtype=np.float64)
    rows = np.repeat(np.arange(n), counts)
    slots = np.arange(matrix.nnz) - np.repeat(matrix.indptr[:-1], counts)
    index[rows, slots] = matrix.indices
    weight[rows, slots] = matrix.data
    return index, weight
