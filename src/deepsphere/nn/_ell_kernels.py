"""CPU kernel of the Chebyshev recursion: one sparse step on padded neighbour lists (numba, parallel).

Why our own: PyTorch's CPU sparse-CSR × dense product runs at a fraction of the memory bandwidth
(``benchmarks/bench_chebconv.py`` measures it), and the recursion ``x_k = 2 L̃ x_{k−1} − x_{k−2}`` is
memory-bound. This kernel fuses the product, the scaling and the subtraction into one pass, and reads and
writes the signals in place inside larger buffers, so no intermediate is allocated.

Data layout. The operator is in ELL form: ``index`` (V, d) and ``weight`` (V, d), row ``i`` holding the
non-zeros of row ``i`` of L̃ (padding entries have weight 0 and are skipped). A signal is a *slot* of a
2-D C-contiguous float array ``buf`` of shape (V, M): for vertex ``i``, the values of batch entry ``b``
are ``buf[i, offset + b·stride : offset + b·stride + C]``. A plain (V, B, C) signal is the slot
``(offset 0, stride C)``; channel block ``k`` of a (V, B, K, C) stack is ``(offset k·C, stride K·C)``.
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
    src_slot: tuple[int, int],
    prev: np.ndarray,
    prev_slot: tuple[int, int],
    add: np.ndarray,
    add_slot: tuple[int, int],
    out: np.ndarray,
    out_slot: tuple[int, int],
    n_batch: int,
    n_channels: int,
    use_prev: bool,
    use_add: bool,
) -> None:
    """``out = alpha · L̃ src − prev + add`` over every vertex (``prev``/``add`` only when ``use_*``).

    Slots are (offset, stride) pairs of unsigned integers: numba then emits no negative-index
    wraparound in the inner loops, which lets LLVM vectorise them (5× faster, measured).
    """
    n_vertices, degree = index.shape
    s_off, s_str = src_slot
    p_off, p_str = prev_slot
    a_off, a_str = add_slot
    o_off, o_str = out_slot
    nc = numba.uint64(n_channels)
    for i in numba.prange(n_vertices):
        for b in range(numba.uint64(n_batch)):
            o = o_off + b * o_str
            for c in range(nc):
                out[i, o + c] = 0.0
        for j in range(degree):
            w = weight[i, j] * alpha
            if w == 0.0:
                continue
            nb = index[i, j]
            for b in range(numba.uint64(n_batch)):
                o = o_off + b * o_str
                s = s_off + b * s_str
                for c in range(nc):
                    out[i, o + c] += w * src[nb, s + c]
        if use_prev:
            for b in range(numba.uint64(n_batch)):
                o = o_off + b * o_str
                p = p_off + b * p_str
                for c in range(nc):
                    out[i, o + c] -= prev[i, p + c]
        if use_add:
            for b in range(numba.uint64(n_batch)):
                o = o_off + b * o_str
                a = a_off + b * a_str
                for c in range(nc):
                    out[i, o + c] += add[i, a + c]
