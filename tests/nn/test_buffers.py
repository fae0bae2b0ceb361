"""The CPU buffer pool: reuse after the last tensor dies, never while one lives, bounded free memory."""

from __future__ import annotations

import torch

from deepsphere.graph import knn_graph
from deepsphere.nn import ChebConv
from deepsphere.nn.buffers import MIN_BYTES, BufferPool
from deepsphere.sampling import HEALPix

SHAPE = (3, MIN_BYTES // 4)  # 3 MiB of float32


def test_buffer_comes_back_after_its_last_view_dies():
    pool = BufferPool(1 << 30)
    a = pool.empty(SHAPE, torch.float32)
    address = a.data_ptr()
    view = a[1:]
    del a
    assert pool.free_bytes == 0  # the view still holds it
    b = pool.empty(SHAPE, torch.float32)
    assert b.data_ptr() != address
    del view
    assert pool.free_bytes == 3 * MIN_BYTES
    c = pool.empty(SHAPE, torch.float32)
    assert c.data_ptr() == address and pool.free_bytes == 0
    assert c.shape == SHAPE and c.dtype == torch.float32 and c.is_contiguous()


def test_live_buffers_never_alias():
    pool = BufferPool(1 << 30)
    generator = torch.Generator().manual_seed(0)
    tensors = []
    for _ in range(4):
        t = pool.empty(SHAPE, torch.float64 if len(tensors) % 2 else torch.float32)
        t.copy_(torch.randn(SHAPE, generator=generator))
        tensors.append((t, t.clone()))
    for t, saved in tensors:
        assert torch.equal(t, saved)


def test_free_memory_is_bounded_oldest_dropped_first():
    pool = BufferPool(max_free_bytes=5 * MIN_BYTES)
    a = pool.empty((MIN_BYTES // 4,), torch.float32)  # 1 MiB
    b = pool.empty(SHAPE, torch.float32)  # 3 MiB
    c = pool.empty((2, MIN_BYTES // 4), torch.float32)  # 2 MiB
    address_c = c.data_ptr()
    del a, b, c  # 6 MiB freed: the oldest (a) is dropped
    assert pool.free_bytes == 5 * MIN_BYTES
    assert pool.empty((2, MIN_BYTES // 4), torch.float32).data_ptr() == address_c
    pool.clear()
    assert pool.free_bytes == 0


def test_small_or_unsupported_requests_are_plain_tensors():
    pool = BufferPool(1 << 30)
    for shape, dtype in (((10,), torch.float32), (SHAPE, torch.bfloat16), (SHAPE, torch.int64)):
        t = pool.empty(shape, dtype)
        assert t.shape == shape and t.dtype == dtype
        del t
        assert pool.free_bytes == 0


def test_chebconv_results_survive_buffer_reuse():
    g = knn_graph(HEALPix(nside=16), k=8)  # signals of 3072 × 4 × 32 float32: above MIN_BYTES
    torch.manual_seed(0)
    conv = ChebConv(32, 32, 5, g.laplacian())
    x1, x2 = torch.randn(2, 4, g.n_vertices, 32)

    def run(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        conv.zero_grad()
        xg = x.clone().requires_grad_()
        y = conv(xg)
        y.backward(torch.sin(y.detach()))
        return y, xg.grad, conv.weight.grad.clone()

    first = run(x1)
    kept = [t.clone() for t in first]
    second = run(x2)  # draws on the buffers the first run released
    again = run(x1)
    for a, b, c in zip(first, kept, again, strict=True):
        assert torch.equal(a, b)  # held results were not overwritten
        assert torch.equal(b, c)  # and recomputing gives the same numbers
    assert not torch.equal(second[0], first[0])
