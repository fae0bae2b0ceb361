"""Models: shapes, exact symmetry, learning, saving, DDP, and clear errors."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import healpy as hp
import numpy as np
import pytest
import torch

from deepsphere.graph import healpix_graph
from deepsphere.nn import SphericalCNN, SphericalUNet
from deepsphere.sampling import HEALPix, Icosahedral


def quarter_turn(nside: int) -> torch.Tensor:
    """Nested pixel permutation of the 90° turn about z: an exact symmetry of HEALPix and its hierarchy."""
    x = HEALPix(nside).coords
    return torch.from_numpy(hp.vec2pix(nside, -x[:, 1], x[:, 0], x[:, 2], nest=True))


def test_classifier_is_exactly_invariant_to_a_symmetry_of_the_sampling():
    torch.manual_seed(0)
    model = SphericalCNN(HEALPix(nside=8), 2, 3, channels=(8, 8, 8), K=4, graph=healpix_graph).double().eval()
    x = torch.randn(2, 768, 2, dtype=torch.float64)
    rotated = torch.empty_like(x)
    rotated[:, quarter_turn(8)] = x  # pixel i moves to perm[i]
    torch.testing.assert_close(model(rotated), model(x), rtol=1e-10, atol=1e-10)
    assert (model(x) - model(x.flip(1))).abs().max() > 1e-3  # not trivially constant


@pytest.mark.parametrize("unpool", ["nearest", "learned"])
def test_unet_is_exactly_equivariant_to_a_symmetry_of_the_sampling(unpool):
    torch.manual_seed(1)
    model = SphericalUNet(HEALPix(nside=8), 2, 3, channels=(4, 8, 8), K=3, graph=healpix_graph, unpool=unpool)
    model = model.double().eval()
    perm = quarter_turn(8)
    x = torch.randn(1, 768, 2, dtype=torch.float64)
    rotated = torch.empty_like(x)
    rotated[:, perm] = x
    y = model(x)
    assert y.shape == (1, 768, 3)
    # learned unpooling too: the quarter turn keeps each child's rank (position) inside its parent
    torch.testing.assert_close(model(rotated)[:, perm], y, rtol=1e-10, atol=1e-10)


def test_classifier_overfits_a_tiny_data_set():
    torch.manual_seed(0)
    s = HEALPix(nside=8, indices=np.arange(256))  # a partial sky: the first 4 base pixels
    model = SphericalCNN(s, 1, 2, channels=(8, 16), K=4, head="conv")
    x = torch.randn(16, s.npix, 1)
    labels = torch.arange(16) % 2
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        loss.backward()
        optimizer.step()
    model.eval()
    assert (model(x).argmax(1) == labels).all()
    assert loss.item() < 0.1


def test_state_dict_restores_outputs_on_a_fresh_model():
    torch.manual_seed(0)
    a = SphericalUNet(Icosahedral(level=2), 2, 2, channels=(4, 8), K=3).eval()
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    buffer.seek(0)
    torch.manual_seed(1)
    b = SphericalUNet(Icosahedral(level=2), 2, 2, channels=(4, 8), K=3).eval()
    b.load_state_dict(torch.load(buffer))
    x = torch.randn(2, 162, 2)
    torch.testing.assert_close(a(x), b(x))


def test_compiled_training_step_matches_eager():
    """A U-Net (max pooling, learned unpooling, batch norms) under torch.compile: the loss and every
    parameter's gradient as in eager (the compiled gradients were off by 30–100 % before the neighbour
    gathers got their own backward)."""
    torch.manual_seed(0)
    model = SphericalUNet(HEALPix(nside=4), 2, 3, channels=(4, 8), K=5, unpool="learned")
    x, target = torch.randn(2, 192, 2), torch.randint(0, 3, (2, 192))
    grads = []
    for module in (model, torch.compile(model)):
        model.zero_grad()
        loss = torch.nn.functional.cross_entropy(module(x).transpose(1, 2), target)
        loss.backward()
        grads.append([loss] + [p.grad for p in model.parameters()])
    for compiled, eager in zip(*grads, strict=True):
        torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "sampling, make",
    [
        (HEALPix(nside=8), lambda s: SphericalUNet(s, 2, 3, channels=(4, 8), K=3, unpool="learned")),
        (Icosahedral(level=2), lambda s: SphericalCNN(s, 2, 3, channels=(4, 8), K=3, pool="max")),
    ],
    ids=["healpix-unet", "icosahedral-cnn"],
)
@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore::DeprecationWarning")
def test_jit_trace_and_torchscript_onnx_export_run_any_batch(sampling, make, tmp_path: Path):
    """torch.jit.trace and the TorchScript ONNX exporter (torch < 2.9's default) record plain ops: the
    saved model and the ONNX graph give eager's outputs, at the traced batch size and another."""
    torch.manual_seed(0)
    model = make(sampling).eval()
    x2, x3 = torch.randn(2, sampling.npix, 2), torch.randn(3, sampling.npix, 2)
    with torch.no_grad():
        expected = [model(x2), model(x3)]
    traced = torch.jit.trace(model, (x2,))  # warns that the shape checks become constants
    buffer = io.BytesIO()
    torch.jit.save(traced, buffer)
    buffer.seek(0)
    loaded = torch.jit.load(buffer)
    for x, y in zip((x2, x3), expected, strict=True):
        torch.testing.assert_close(loaded(x), y, rtol=1e-5, atol=1e-5)
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "model.onnx"
    kwargs = dict(input_names=["x"], dynamic_axes={"x": {0: "batch"}}, dynamo=False)
    torch.onnx.export(model, (x2,), str(path), **kwargs)
    session = ort.InferenceSession(str(path))
    for x, y in zip((x2, x3), expected, strict=True):
        (out,) = session.run(None, {"x": x.numpy()})
        np.testing.assert_allclose(out, y.numpy(), rtol=1e-5, atol=1e-5)


def test_ddp_with_two_gloo_processes(tmp_path: Path):
    out = tmp_path / "ddp.json"
    worker = Path(__file__).with_name("ddp_worker.py")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node=2",
        str(worker),
        str(out),
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["max_param_diff"] == 0.0  # gradients were averaged: replicas stay identical
    assert any(name.endswith("laplacian.index") for name in result["laplacian_buffers"])


def test_bad_specs():
    with pytest.raises(ValueError, match="the model needs 3 poolings"):
        SphericalCNN(HEALPix(nside=4), 1, 2, channels=(4, 4, 4))
    with pytest.raises(ValueError, match="channels must be a non-empty sequence of positive integers"):
        SphericalCNN(HEALPix(nside=4), 1, 2, channels=())
    with pytest.raises(ValueError, match="head must be one of"):
        SphericalCNN(HEALPix(nside=4), 1, 2, channels=(4,), head="mlp")
    with pytest.raises(ValueError, match="unpool must be one of"):
        SphericalUNet(HEALPix(nside=4), 1, 2, channels=(4, 4), unpool="bilinear")
