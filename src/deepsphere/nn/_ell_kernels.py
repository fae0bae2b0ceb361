"""CPU kernel of the Chebyshev recursion: one sparse step on padded neighbour lists (numba, parallel).

Why our own: PyTorch's CPU sparse-CSR × dense product runs at a fraction of the memory bandwidth
(``benchmarks/bench_chebconv.py`` measures it), and the recursion ``x_k = 2 L̃ x_{k−1} − x_{k−2}`` is
memory-bound. This kernel fuses the product, the scaling, the subtraction (and, for the backward pass,
an addition) into one pass that writes straight into its output buffer.

Data layout. The operator is in ELL form: ``index`` (V, d) and ``weight`` (V, d), row ``i`` holding the
non-zeros of row ``i`` of L̃ (padding entries have weight 0 and are skipped). Signals are C-contiguous
(V, M) arrays, M = batch · channels, so the inner loop runs over M contiguous values (vectorised).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(parallel=True, fastmath=True, cache=True)
def ell_step(
    index: np.ndarray,
    weight: np.ndarray,
    alpha: float,
    src: np.ndarray,
    prev: np.ndarray,
    add: np.ndarray,
    out: np.ndarray,
    use_prev: bool,
    use_add: bool,
) -> None:
    """``out = alpha · L̃ src − prev + add`` for (V, M) arrays (``prev``/``add`` only when ``use_*``).

    Each output row starts from ``add − prev`` and accumulates its neighbours' rows: one write per row.
    """
    n_vertices, degree = index.shape
    m = src.shape[1]
    for i in numba.prange(n_vertices):
        if use_prev and use_add:
            for c in range(m):
                out[i, c] = add[i, c] - prev[i, c]
        elif use_prev:
            for c in range(m):
                out[i, c] = -prev[i, c]
        elif use_add:
            for c in range(m):
                out[i, c] = add[i, c]
        else:
            for c in range(m):
                out[i, c] = 0.0
        for j in range(degree):
            w = weight[i, j] * alpha
            if w == 0.0:
                continue
            nb = index[i, j]
            for c in range(m):
                out[i, c] += w * src[nb, c]
