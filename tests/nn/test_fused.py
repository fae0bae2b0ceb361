"""The fused CPU kernel of ChebConv: vector and tail paths against float64 dense autograd, and its build."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deepsphere.graph import knn_graph
from deepsphere.nn import ChebConv, _fused
from deepsphere.nn.chebyshev import resolve_backend
from deepsphere.sampling import HEALPix

needs_kernel = pytest.mark.skipif(not _fused.available(), reason=f"no fused kernel: {_fused.build_error()}")


@pytest.fixture(scope="module")
def graph():
    return knn_graph(HEALPix(nside=4), k=8)


def dense_chebconv(conv: ChebConv, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Σ_k T_k(L̃) x W_k + b`` in float64 with dense T_k matrices: an independent reference for autograd."""
    lt = torch.from_numpy(conv.laplacian.to_scipy().toarray())
    polys = [torch.eye(len(lt), dtype=torch.float64), lt]
    for _ in range(2, conv.K):
        polys.append(2.0 * lt @ polys[-1] - polys[-2])
    return sum(torch.einsum("vu,buc,co->bvo", polys[k], x, w[k]) for k in range(conv.K)) + b


@needs_kernel
@pytest.mark.parametrize(
    ("batch", "c_in", "c_out", "K"),
    [
        (9, 8, 20, 5),  # 8 rows in registers + a 1-row tail; 72 = 64 + 8 values per vertex; 16 + 4 outputs
        (3, 5, 7, 1),  # no neighbours; scalar tails everywhere
        (2, 16, 33, 2),  # one recursion step; two full output tiles + 1
        (8, 11, 16, 12),  # long recursion; 11 inputs: the weight gradient's 8-wide block + 3
    ],
)
def test_forward_and_gradients_match_float64_dense_autograd(graph, batch, c_in, c_out, K):
    torch.manual_seed(batch * 100 + K)
    conv = ChebConv(c_in, c_out, K, graph.laplacian(), lmax=graph.lmax(), backend="fused")
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(batch, graph.n_vertices, c_in, requires_grad=True)
    grad_out = torch.randn(batch, graph.n_vertices, c_out)
    y = conv(x)
    y.backward(grad_out)
    x64 = x.detach().double().requires_grad_()
    w64 = conv.weight.detach().double().requires_grad_()
    b64 = conv.bias.detach().double().requires_grad_()
    ref = dense_chebconv(conv, x64, w64, b64)
    ref.backward(grad_out.double())
    for ours, theirs in [
        (y, ref),
        (x.grad, x64.grad),
        (conv.weight.grad, w64.grad),
        (conv.bias.grad, b64.grad),
    ]:
        assert ours.shape == theirs.shape
        assert (ours.double() - theirs).abs().max() <= 2e-5 * theirs.abs().max()


@needs_kernel
def test_a_last_block_of_fewer_vertices_matches_float64_dense_autograd():
    graph = knn_graph(HEALPix(nside=1), k=6)  # 12 vertices: blocks of 8 and 4
    torch.manual_seed(3)
    conv = ChebConv(4, 5, 3, graph.laplacian(), lmax=graph.lmax(), backend="fused")
    x = torch.randn(2, 12, 4, requires_grad=True)
    grad_out = torch.randn(2, 12, 5)
    conv(x).backward(grad_out)
    x64 = x.detach().double().requires_grad_()
    ref = dense_chebconv(conv, x64, conv.weight.detach().double(), conv.bias.detach().double())
    ref.backward(grad_out.double())
    assert (conv(x).double() - ref).abs().max() <= 2e-5 * ref.abs().max()
    assert (x.grad.double() - x64.grad).abs().max() <= 2e-5 * x64.grad.abs().max()


@needs_kernel
def test_block_graph_holds_the_blocks_of_each_blocks_neighbours(graph):
    conv = ChebConv(1, 1, 2, graph.laplacian())
    lap = conv.laplacian.to_scipy().tocoo()
    blocks = _fused._block_graph(conv.laplacian.index, conv.laplacian.weight)
    expected = [{b} for b in range(blocks.nblocks)]
    for i, j in zip(lap.row, lap.col, strict=True):
        expected[i // _fused.CHUNK].add(j // _fused.CHUNK)
    assert [set(row) for row in blocks.adj.tolist()] == expected
    assert _fused._block_graph(conv.laplacian.index, conv.laplacian.weight) is blocks  # built once
    conv.laplacian.index.copy_(conv.laplacian.index)  # written in place: built again
    assert _fused._block_graph(conv.laplacian.index, conv.laplacian.weight) is not blocks


@needs_kernel
@pytest.mark.parametrize(("stages", "lists"), [(1, 1), (4, 2), (7, 3)])
def test_schedule_runs_every_task_once_and_after_the_tasks_it_reads(graph, stages, lists):
    conv = ChebConv(1, 1, 2, graph.laplacian())
    blocks = _fused._block_graph(conv.laplacian.index, conv.laplacian.weight)
    sched = blocks.schedule(stages, lists)
    tasks, tick, adj, offsets = blocks._schedules[stages, lists][1]
    nb = blocks.nblocks
    assert sorted(tasks.tolist()) == list(range(stages * nb))
    for lo, hi in zip(offsets[:-1], offsets[1:], strict=True):
        own = tasks[lo:hi]
        assert np.all(np.diff(tick[own]) > 0)  # a list runs one task per tick, in order
        assert len(set((own % nb).tolist())) == (hi - lo) // stages  # whole blocks: all their stages
    tick = tick.reshape(stages, nb)
    for s in range(1, stages):  # stage s of a block reads stage s - 1 of its neighbour blocks: earlier ticks
        assert np.all(tick[s][:, None] > tick[s - 1][adj])
    assert tick.max() < stages * nb // lists * 1.2  # the threads seldom wait for each other
    assert sched.nblocks == nb and sched.S == stages and sched.lists == lists


@needs_kernel
@pytest.mark.parametrize(("lists", "threads"), [(3, 2), (5, 1), (2, 3)])
def test_lists_and_threads_in_any_numbers_give_the_same_output(graph, lists, threads):
    """A thread runs its lists merged in key order, so fewer threads than lists (OpenMP may give fewer than
    asked) neither deadlock nor change the result."""
    torch.manual_seed(8)
    conv = ChebConv(6, 5, 4, graph.laplacian(), backend="fused")
    index, weight = conv.laplacian.index, conv.laplacian.weight
    (n, d), batch, K = index.shape, 3, 4
    terms = [torch.randn(n, batch, 6)] + [torch.empty(n, batch, 6) for _ in range(K - 1)]
    W = _fused._padded(conv.weight.detach())
    blocks = _fused._block_graph(index, weight)
    outputs = []
    for lists_, threads_ in [(1, 1), (lists, threads)]:
        y = torch.empty(n, batch, 5)
        done = torch.zeros(blocks.nblocks, dtype=torch.int32)
        _fused._library().cheb_forward(
            n, d, index.data_ptr(), weight.data_ptr(), batch, 6, 5, 16, K, _fused._pointers(terms),
            W.data_ptr(), None, y.data_ptr(), blocks.schedule(K - 1, lists_), done.data_ptr(), threads_,
        )  # fmt: skip
        assert done.tolist() == [K - 1] * blocks.nblocks
        outputs.append(y)
    assert torch.equal(*outputs)


@needs_kernel
@pytest.mark.parametrize("K", [6, 13])
def test_a_ring_of_term_buffers_gives_the_same_output_as_kept_terms(graph, K):
    """Without the weights' gradient the K − 1 terms share max(3, SEGMENT) buffers: each is projected
    (at the end of its wave) before its buffer is written again, so the floats are the same."""
    torch.manual_seed(K)
    conv = ChebConv(5, 7, K, graph.laplacian(), backend="fused")
    x = torch.randn(3, graph.n_vertices, 5)
    kept = conv(x).detach()  # the weights need a gradient: all K − 1 terms kept
    with torch.no_grad():  # inference: no gradient, whatever the weights' flag
        ring = conv(x)
    conv.weight.requires_grad_(False)
    frozen = conv(x).detach()  # frozen weights
    assert torch.equal(kept, ring) and torch.equal(kept, frozen)


@needs_kernel
def test_output_does_not_depend_on_the_thread_count(graph):
    torch.manual_seed(5)
    conv = ChebConv(6, 6, 4, graph.laplacian(), backend="fused")
    x = torch.randn(4, graph.n_vertices, 6)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = conv(x).detach()
        torch.set_num_threads(2)
        two = conv(x).detach()
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)  # each vertex is computed by one thread, in one order


@needs_kernel
def test_saves_the_terms_only_when_the_weights_need_a_gradient(graph):
    torch.manual_seed(6)
    conv = ChebConv(3, 3, 5, graph.laplacian(), backend="fused")
    signal = graph.n_vertices * 2 * 3

    def saved_sizes(requires_grad: bool) -> list[int]:
        sizes: list[int] = []
        conv.weight.requires_grad_(requires_grad)
        x = torch.randn(2, graph.n_vertices, 3, requires_grad=True)
        with torch.autograd.graph.saved_tensors_hooks(lambda t: sizes.append(t.numel()) or t, lambda t: t):
            y = conv(x)
        y.sum().backward()
        assert x.grad is not None and (conv.weight.grad is not None) == requires_grad
        conv.weight.grad = None
        return sizes

    assert saved_sizes(True).count(signal) == 5  # x and the 4 terms, for the weights' gradient
    assert saved_sizes(False).count(signal) == 0  # the input's gradient needs no term


def test_missing_compiler_falls_back_to_numba_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(_fused, "_LOADED", [])
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    assert not _fused.available()
    assert "no-such-cc" in _fused.build_error()
    x = torch.zeros(1, 12, 1)
    assert resolve_backend("auto", x) == "numba"
    with pytest.raises(ValueError, match="backend 'fused' is not available here: no C compiler"):
        resolve_backend("fused", x)


def test_compiler_errors_are_reported(monkeypatch, tmp_path):
    broken = tmp_path / "broken.c"
    broken.write_text("this is not C\n")
    monkeypatch.setattr(_fused, "_LOADED", [])
    monkeypatch.setattr(_fused, "SOURCE", broken)
    monkeypatch.setenv("DEEPSPHERE_CACHE", str(tmp_path / "cache"))
    if not _fused.available() and "failed" not in _fused.build_error():
        pytest.skip(f"no C compiler: {_fused.build_error()}")
    assert "failed on broken.c" in _fused.build_error()
    assert not list((tmp_path / "cache" / "kernels").glob("*.so"))  # nothing half-built left behind


@needs_kernel
def test_builds_once_into_the_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setattr(_fused, "_LOADED", [])
    monkeypatch.setenv("DEEPSPHERE_CACHE", str(tmp_path))
    assert _fused.available()
    (built,) = (tmp_path / "kernels").glob("chebconv-*.so")
    stamp = built.stat().st_mtime_ns
    monkeypatch.setattr(_fused, "_LOADED", [])
    assert _fused.available() and built.stat().st_mtime_ns == stamp  # reused, not rebuilt
