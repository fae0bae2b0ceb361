"""ChebConv against a float64 dense reference, gradients, buffers, backends and bad input."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from torch.func import functional_call

from deepsphere.graph import knn_graph
from deepsphere.nn import ChebConv, RescaledLaplacian, _fused
from deepsphere.nn.chebyshev import chebyshev_basis, resolve_backend
from deepsphere.sampling import HEALPix, Icosahedral

FUSED = pytest.param(
    "fused",
    marks=pytest.mark.skipif(not _fused.available(), reason=f"no fused kernel: {_fused.build_error()}"),
)
FLOAT64_BACKENDS = ["numba", "sparse", "index"]
BACKENDS = [FUSED, *FLOAT64_BACKENDS]
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta state")


def dense_reference(
    laplacian: sp.spmatrix, lmax: float, x: np.ndarray, weight: np.ndarray, bias
) -> np.ndarray:
    """y = Σ_k T_k(L̃) x W_k + b with T_k built from dense float64 matrices."""
    n = laplacian.shape[0]
    lt = 2.0 * laplacian.toarray() / lmax - np.eye(n)
    polys = [np.eye(n), lt]
    for _ in range(2, len(weight)):
        polys.append(2.0 * lt @ polys[-1] - polys[-2])
    y = sum(np.einsum("vu,buc,co->bvo", polys[k], x, weight[k]) for k in range(len(weight)))
    return y + (0.0 if bias is None else bias)


@pytest.fixture(scope="module")
def graph():
    return knn_graph(HEALPix(nside=8), k=8)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("K", [1, 2, 5, 12])
def test_matches_dense_float64_reference(graph, backend, K):
    rng = np.random.default_rng(K)
    torch.manual_seed(K)
    conv = ChebConv(3, 4, K, graph.laplacian(), lmax=graph.lmax(), backend=backend)
    with torch.no_grad():
        conv.bias.normal_()
    x = rng.standard_normal((2, graph.n_vertices, 3)).astype(np.float32)
    y = conv(torch.from_numpy(x)).detach().numpy()
    ref = dense_reference(
        graph.laplacian(), graph.lmax(), x.astype(np.float64), conv.weight.detach().double().numpy(),
        conv.bias.detach().double().numpy(),
    )  # fmt: skip
    assert y.shape == (2, graph.n_vertices, 4)
    assert np.abs(y - ref).max() <= 1e-5 * np.abs(ref).max()


@pytest.mark.parametrize("backend", FLOAT64_BACKENDS)
@pytest.mark.parametrize("K", [1, 3, 6])
def test_gradcheck_float64(backend, K):
    g = knn_graph(HEALPix(nside=2), k=6)
    torch.manual_seed(0)
    conv = ChebConv(2, 3, K, g.laplacian(), backend=backend).double()
    x = torch.randn(2, g.n_vertices, 2, dtype=torch.float64, requires_grad=True)
    w = conv.weight.detach().clone().requires_grad_()
    b = conv.bias.detach().clone().requires_grad_()
    f = lambda x, w, b: functional_call(conv, {"weight": w, "bias": b}, (x,))  # noqa: E731
    assert torch.autograd.gradcheck(f, (x, w, b), fast_mode=True)


def test_backends_agree_on_strided_input_and_larger_graph():
    g = knn_graph(Icosahedral(level=3), k=6)
    torch.manual_seed(1)
    conv = ChebConv(5, 7, 6, g.laplacian())
    x = torch.randn(g.n_vertices, 3, 5).transpose(0, 1)  # a (B, V, C) view of vertex-major memory
    outs = {}
    available = [b for b in ["fused", *FLOAT64_BACKENDS] if b != "fused" or _fused.available()]
    for backend in available:
        conv.backend = backend
        xg = x.detach().clone().requires_grad_()
        y = conv(xg)
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        outs[backend] = (y.detach(), xg.grad, conv.weight.grad.clone())
        conv.weight.grad = None
    for backend in available:
        for a, b in zip(outs["numba"], outs[backend], strict=True):  # float32 sums in other orders
            assert (a - b).abs().max() <= 1e-5 * b.abs().max()


def test_rescaled_spectrum_ends_at_minus_one_and_one(graph):
    op = RescaledLaplacian(graph.laplacian())
    eig = np.linalg.eigvalsh(op.to_scipy().toarray())
    assert eig[0] == pytest.approx(-1.0, abs=1e-6)  # λ = 0 (constant vector) ↦ −1
    assert 1.0 - 5e-3 <= eig[-1] <= 1.0 + 1e-6  # λmax ↦ 1: the whole of [−1, 1] is used, not [−1, 0.5]
    norm = RescaledLaplacian(graph.laplacian(normalized=True))
    eig = np.linalg.eigvalsh(norm.to_scipy().toarray())
    assert eig[0] == pytest.approx(-1.0, abs=1e-6) and 1.0 - 5e-3 <= eig[-1] <= 1.0 + 1e-6


def test_state_dict_round_trip_and_device_move(graph):
    torch.manual_seed(2)
    conv = ChebConv(3, 3, 4, graph.laplacian())
    state = conv.state_dict()
    assert {"laplacian.index", "laplacian.weight", "laplacian.lmax", "weight", "bias"} <= set(state)
    assert all(t.layout == torch.strided for t in state.values())  # dense buffers: DDP can broadcast them
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    other = ChebConv(3, 3, 4, knn_graph(HEALPix(nside=8), k=8, kernel_width=0.3).laplacian())
    other.load_state_dict(torch.load(buffer))
    x = torch.randn(2, graph.n_vertices, 3)
    torch.testing.assert_close(other(x), conv(x))
    moved = conv.to(torch.float64)
    assert moved.laplacian.weight.dtype == torch.float64 and moved.laplacian.index.dtype == torch.int64


def test_torch_sparse_laplacian_and_shared_operator(graph):
    lap = graph.laplacian()
    coo = lap.tocoo()
    sparse = torch.sparse_coo_tensor(np.vstack([coo.row, coo.col]), coo.data, size=lap.shape)
    a = ChebConv(2, 2, 3, lap, lmax=graph.lmax())
    b = ChebConv(2, 2, 3, sparse, lmax=graph.lmax())
    torch.testing.assert_close(a.laplacian.weight, b.laplacian.weight)
    shared = RescaledLaplacian(lap)
    c, d = ChebConv(2, 4, 3, shared), ChebConv(4, 2, 3, shared)
    assert c.laplacian is d.laplacian


@pytest.mark.parametrize("K", [2, 5, 20])
def test_initialisation_keeps_second_moment_through_depth(K):
    g = knn_graph(HEALPix(nside=8), k=8)
    op = RescaledLaplacian(g.laplacian())
    torch.manual_seed(3)
    x = torch.randn(2, g.n_vertices, 64)
    moments = []
    with torch.no_grad():
        for _ in range(12):
            x = torch.relu(ChebConv(64, 64, K, op)(x))
            moments.append(float((x**2).mean()))
    assert all(0.05 < m < 20.0 for m in moments), moments


def test_no_grad_input_stores_nothing_and_inference_is_graph_free(graph):
    conv = ChebConv(3, 3, 5, graph.laplacian())
    x = torch.randn(2, graph.n_vertices, 3)
    with torch.no_grad():
        y = conv(x)
    assert y.grad_fn is None
    basis = chebyshev_basis(conv.laplacian, x.transpose(0, 1), 5, "numba")
    assert basis.grad_fn is None  # an input without gradient records no backward node


def test_numba_kernel_runs_on_torchs_thread_count(graph, monkeypatch):
    import numba

    import deepsphere.nn.chebyshev as chebyshev

    seen = []
    kernel = chebyshev.ell_step

    def recording_kernel(*args):
        seen.append(numba.get_num_threads())
        kernel(*args)

    monkeypatch.setattr(chebyshev, "ell_step", recording_kernel)
    conv = ChebConv(2, 2, 3, graph.laplacian(), backend="numba")
    x = torch.randn(2, graph.n_vertices, 2, requires_grad=True)
    before, threads = numba.get_num_threads(), torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        conv(x).square().sum().backward()
    finally:
        torch.set_num_threads(threads)
    assert seen == [1] * 4  # two forward steps, two backward
    assert numba.get_num_threads() == before  # restored after each step


def test_auto_backend_choice():
    x = torch.zeros(1, 1, 1)
    assert resolve_backend("auto", x) == ("fused" if _fused.available() else "numba")
    assert resolve_backend("auto", x, fused=False) == "numba"
    assert resolve_backend("auto", x.double()) == "numba"
    assert resolve_backend("auto", x.half()) == "index"
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert resolve_backend("auto", x) == "index"


def test_runs_under_autocast(graph):
    conv = ChebConv(3, 5, 4, graph.laplacian())
    x = torch.randn(2, graph.n_vertices, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x)
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), conv(x), rtol=0.05, atol=0.05)


def test_bad_inputs(graph):
    lap = graph.laplacian()
    with pytest.raises(ValueError, match="in_channels must be a positive integer"):
        ChebConv(0, 2, 3, lap)
    with pytest.raises(ValueError, match="K must be a positive integer"):
        ChebConv(2, 2, 0, lap)
    with pytest.raises(ValueError, match="backend must be one of"):
        ChebConv(2, 2, 2, lap, backend="cuda")
    with pytest.raises(ValueError, match="laplacian must be a scipy.sparse matrix"):
        ChebConv(2, 2, 2, lap.toarray())
    with pytest.raises(ValueError, match="laplacian must be sparse"):
        ChebConv(2, 2, 2, torch.eye(4))
    with pytest.raises(ValueError, match="symmetric"):
        ChebConv(2, 2, 2, sp.csr_matrix(np.triu(np.ones((4, 4)))))
    with pytest.raises(ValueError, match="lmax must be a positive number"):
        ChebConv(2, 2, 2, lap, lmax=-1.0)
    conv = ChebConv(2, 2, 2, lap)
    with pytest.raises(ValueError, match=r"x must have shape \(batch, 768, 2\)"):
        conv(torch.zeros(1, 767, 2))
    with pytest.raises(ValueError, match="backend 'numba' runs on CPU float32/float64"):
        chebyshev_basis(conv.laplacian, torch.zeros(768, 1, 2, dtype=torch.float16), 2, "numba")
    with pytest.raises(ValueError, match=r"backend must be one of \('auto', 'numba'"):
        chebyshev_basis(conv.laplacian, torch.zeros(768, 1, 2), 2, "fused")  # it has no basis to return
    with pytest.raises(ValueError, match="backend 'fused' runs on CPU float32"):
        ChebConv(2, 2, 2, lap, backend="fused").double()(torch.zeros(1, 768, 2, dtype=torch.float64))


def test_agrees_with_torch_geometric(graph):
    pyg = pytest.importorskip("torch_geometric.nn")
    torch.manual_seed(4)
    ours = ChebConv(3, 4, 5, graph.laplacian(), lmax=graph.lmax())
    theirs = pyg.ChebConv(3, 4, 5, normalization=None)
    with torch.no_grad():
        for k, lin in enumerate(theirs.lins):
            lin.weight.copy_(ours.weight[k].T)
        theirs.bias.copy_(ours.bias.normal_())
    w = graph.weights.tocoo()
    edge_index = torch.from_numpy(np.vstack([w.row, w.col])).long()
    x = torch.randn(2, graph.n_vertices, 3)
    y = theirs(x, edge_index, torch.from_numpy(w.data).float(), lambda_max=torch.tensor(graph.lmax()))
    torch.testing.assert_close(ours(x), y, rtol=1e-4, atol=1e-5)


def test_compiles_to_one_graph(graph):
    conv = ChebConv(3, 4, 5, graph.laplacian())
    x = torch.randn(2, graph.n_vertices, 3)
    compiled = torch.compile(conv, backend="aot_eager", fullgraph=True)  # fullgraph: no graph break
    torch.testing.assert_close(compiled(x), conv(x))


def test_compiled_gradients_match_eager(graph):
    """Under torch.compile's default backend (inductor) the output and all gradients are eager's. With
    autograd's own backward of the neighbour gathers (scatter-adds), torch 2.13's inductor returned input
    gradients off by 65 % of their largest value; the gathers' backward is now L̃ g itself."""
    torch.manual_seed(0)
    conv = ChebConv(3, 4, 5, graph.laplacian())
    x, g = torch.randn(2, graph.n_vertices, 3), torch.randn(2, graph.n_vertices, 4)
    results = []
    for module in (conv, torch.compile(conv)):
        conv.zero_grad()
        xg = x.clone().requires_grad_()
        y = module(xg)
        (y * g).sum().backward()
        results.append([y, xg.grad, conv.weight.grad, conv.bias.grad])
    for compiled, eager in zip(*results, strict=True):
        torch.testing.assert_close(compiled, eager, rtol=1e-5, atol=1e-5)


def test_exports_to_onnx(graph, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    conv = ChebConv(3, 4, 5, graph.laplacian())
    x = torch.randn(2, graph.n_vertices, 3)
    path = tmp_path / "chebconv.onnx"
    torch.onnx.export(conv, (x,), str(path), dynamo=True, verbose=False)
    session = ort.InferenceSession(str(path))
    (y,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    np.testing.assert_allclose(y, conv(x).detach().numpy(), rtol=1e-4, atol=1e-5)
