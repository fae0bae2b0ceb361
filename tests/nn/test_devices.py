"""Layers and models on every device present (the CPU always, CUDA where a GPU is), each held to a
float64 CPU reference: outputs and gradients, autocast, and state dicts moved between devices.

On a GPU machine, ``python -m pytest tests/nn/test_devices.py`` is the CUDA check of the layers."""

from __future__ import annotations

import copy
import io

import pytest
import torch

from deepsphere.graph import knn_graph
from deepsphere.nn import ChebConv, SphericalCNN, SphericalUNet
from deepsphere.sampling import HEALPix, Icosahedral

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
DEVICES = ["cpu", pytest.param("cuda", marks=CUDA)]
# Autocast's dtypes per device: bfloat16 on the CPU, both half types on CUDA.
AUTOCAST = [
    ("cpu", torch.bfloat16),
    pytest.param("cuda", torch.float16, marks=CUDA),
    pytest.param("cuda", torch.bfloat16, marks=CUDA),
]


def relative_error(a: torch.Tensor, b: torch.Tensor, scale: float = 0.0) -> float:
    """max |a − b| / max(max |b|, scale), in float64 on the CPU (``scale``: for a ``b`` that is zero but
    for rounding, like the gradient of a bias that a batch norm removes)."""
    a, b = a.detach().double().cpu(), b.detach().double().cpu()
    return float((a - b).abs().max() / max(float(b.abs().max()), scale))


def outputs_and_gradients(module: torch.nn.Module, x: torch.Tensor, seed: int) -> list[torch.Tensor]:
    """The output, the input's gradient and every parameter's gradient for a fixed random output
    gradient (drawn on the CPU, so the same on every device and dtype)."""
    module.zero_grad()
    x = x.detach().clone().requires_grad_()
    y = module(x)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    y.backward(g.to(y.dtype).to(y.device))
    return [y, x.grad] + [p.grad for p in module.parameters()]


@pytest.fixture(scope="module")
def graph():
    return knn_graph(HEALPix(nside=8), k=8)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("backend", ["auto", "sparse", "index"])
def test_chebconv_output_and_gradients_match_float64(graph, device, backend):
    torch.manual_seed(0)
    conv = ChebConv(3, 4, 5, graph.laplacian(), backend=backend)
    with torch.no_grad():
        conv.bias.normal_()
    reference = copy.deepcopy(conv).double()
    reference.backend = "auto"
    x = torch.randn(2, graph.n_vertices, 3)
    expected = outputs_and_gradients(reference, x.double(), seed=1)
    moved = conv.to(device)
    assert moved.laplacian.index.device.type == device and moved.weight.device.type == device
    got = outputs_and_gradients(moved, x.to(device), seed=1)
    assert got[0].device.type == device and got[0].dtype == torch.float32
    for name, a, b in zip(["y", "dx", "dW", "db"], got, expected, strict=True):
        assert relative_error(a, b) < 1e-5, name


@pytest.mark.parametrize(("device", "dtype"), AUTOCAST)
def test_chebconv_under_autocast(graph, device, dtype):
    torch.manual_seed(2)
    conv = ChebConv(3, 5, 4, graph.laplacian())
    reference = copy.deepcopy(conv).double()
    x = torch.randn(2, graph.n_vertices, 3)
    expected = outputs_and_gradients(reference, x.double(), seed=3)
    conv = conv.to(device)
    with torch.autocast(device, dtype=dtype):
        got = outputs_and_gradients(conv, x.to(device), seed=3)
    assert got[0].dtype == dtype
    for name, a, b in zip(["y", "dx", "dW", "db"], got, expected, strict=True):
        assert relative_error(a, b) < 3e-2, name  # half types keep 8 (bf16) or 11 (fp16) bits


def models(seed: int) -> list[tuple[str, torch.nn.Module, int]]:
    """A cosmology-style classifier (max pooling, global statistics) and a U-Net (learned unpooling) on
    two samplings, with their vertex counts."""
    torch.manual_seed(seed)
    cnn = SphericalCNN(HEALPix(nside=8), 2, 3, channels=(8, 16), K=4, stats=("mean", "max", "var"))
    unet = SphericalUNet(Icosahedral(level=2), 2, 3, channels=(8, 16), K=3, unpool="learned")
    return [("cnn", cnn, 768), ("unet", unet, 162)]


@pytest.mark.parametrize("device", DEVICES)
def test_models_training_step_matches_float64(device):
    for name, model, n in models(seed=4):
        reference = copy.deepcopy(model).double()
        x = torch.randn(4, n, 2, generator=torch.Generator().manual_seed(5))
        expected = outputs_and_gradients(reference, x.double(), seed=6)
        got = outputs_and_gradients(model.to(device), x.to(device), seed=6)
        scale = max(float(g.abs().max()) for g in expected[2:])  # the largest parameter gradient
        for i, (a, b) in enumerate(zip(got, expected, strict=True)):
            assert relative_error(a, b, 1e-2 * scale if i >= 2 else 0.0) < 1e-4, f"{name}: tensor {i}"
        statistics = [(k, t) for k, t in model.named_buffers() if "running_" in k]  # the batch norms'
        assert len(statistics) >= 4
        for key, a in statistics:  # moved alike
            assert relative_error(a, reference.get_buffer(key)) < 1e-5, f"{name}: {key}"


@pytest.mark.parametrize("device", DEVICES)
def test_state_dict_saved_on_device_loads_on_the_cpu(device):
    for (name, model, n), (_, fresh, _) in zip(models(seed=4), models(seed=7), strict=True):
        model = model.to(device)
        model(torch.randn(4, n, 2, device=device))  # training mode: the batch norms' statistics move
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        buffer.seek(0)
        fresh.load_state_dict(torch.load(buffer, map_location="cpu"))
        x = torch.randn(2, n, 2)
        with torch.no_grad():
            assert relative_error(fresh.eval()(x), model.eval()(x.to(device))) < 1e-5, name
