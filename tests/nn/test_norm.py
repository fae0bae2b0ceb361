"""BatchNorm over (batch, vertex, channel) against torch's BatchNorm1d on flattened samples and a float64
reference (the fused kernel, with and without its ReLU); its statistics re-estimated against averages
computed by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from deepsphere.graph import knn_graph
from deepsphere.nn import BatchNorm, ChebConv, batch_norms, norm, recalibrate_batch_norm
from deepsphere.nn._fused import available as kernels_available
from deepsphere.sampling import HEALPix


@pytest.mark.parametrize("vertex_major", [False, True])
def test_matches_batchnorm1d_in_train_and_eval(vertex_major):
    torch.manual_seed(0)
    x = torch.randn(40, 3, 5) * 3 + 1  # (V, B, C) memory
    x = x.transpose(0, 1) if vertex_major else x.transpose(0, 1).contiguous()
    ours, ref = BatchNorm(5), torch.nn.BatchNorm1d(5)
    with torch.no_grad():
        ours.weight.normal_()
        ref.weight.copy_(ours.weight)
    y = ours(x)
    torch.testing.assert_close(y, ref(x.reshape(-1, 5)).view(x.shape))
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(x), ref(x.reshape(-1, 5)).view(x.shape))
    torch.testing.assert_close(y.mean(dim=(0, 1)), ours.bias.detach(), atol=1e-5, rtol=0)


def _calls_of_the_kernel(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one at each call of the fused batch-norm kernel."""
    calls, apply = [], norm._FusedBatchNorm.apply
    monkeypatch.setattr(norm._FusedBatchNorm, "apply", lambda *a: calls.append(1) or apply(*a))
    return calls


needs_kernels = pytest.mark.skipif(not kernels_available(), reason="no C compiler for the fused kernels")


@needs_kernels
@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("vertex_major", [False, True])
def test_fused_kernel_matches_a_float64_reference(relu, affine, vertex_major, monkeypatch):
    """Output and gradients (input, γ, β) against torch's batch norm (+ ReLU) run in float64, on an input
    whose mean (1) and spread (3) are far from the normalised ones."""
    calls = _calls_of_the_kernel(monkeypatch)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(300, 4, 5, generator=g) * 3 + 1  # (V, B, C) memory
    x = (x.transpose(0, 1) if vertex_major else x.transpose(0, 1).contiguous()).requires_grad_()
    layer = BatchNorm(5, affine=affine, relu=relu)
    if affine:
        with torch.no_grad():
            layer.weight.normal_(generator=g), layer.bias.normal_(generator=g)
    grad = torch.randn(x.shape, generator=g)
    y = layer(x)
    y.backward(grad)
    assert calls and y.stride() == x.stride()

    x64 = x.detach().double().requires_grad_()
    w64, b64 = (
        [p.detach().double().requires_grad_() for p in (layer.weight, layer.bias)] if affine else [None] * 2
    )
    ref = F.batch_norm(x64.reshape(-1, 5), None, None, w64, b64, training=True, eps=layer.eps).view(x.shape)
    ref = torch.relu(ref) if relu else ref
    ref.backward(grad.double())
    torch.testing.assert_close(y.double(), ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(x.grad.double(), x64.grad, rtol=1e-5, atol=1e-6)
    if affine:
        torch.testing.assert_close(layer.weight.grad.double(), w64.grad, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(layer.bias.grad.double(), b64.grad, rtol=1e-5, atol=1e-5)


@needs_kernels
def test_fused_kernel_is_accurate_on_large_offset_batches(monkeypatch):
    """262 144 rows of mean 1 and spread 3: the input gradient within 1e-5 of float64 (the kernel sums in
    float64; torch's float32 backward is off by 9 %)."""
    calls = _calls_of_the_kernel(monkeypatch)
    g = torch.Generator().manual_seed(4)
    x = (torch.randn(8, 32768, 16, generator=g) * 3 + 1).requires_grad_()
    grad = torch.randn(x.shape, generator=g)
    layer = BatchNorm(16, relu=True)
    layer(x).backward(grad)
    x64 = x.detach().double().requires_grad_()
    torch.relu(F.batch_norm(x64.reshape(-1, 16), None, None, training=True)).view(x.shape).backward(
        grad.double()
    )
    assert calls
    assert (x.grad.double() - x64.grad).abs().max() <= 1e-5 * x64.grad.abs().max()


@pytest.mark.parametrize("momentum", [0.1, None])
def test_running_statistics_follow_batchnorm1d(momentum):
    """Three batches of different statistics: running mean, variance and count as torch's BatchNorm1d
    keeps them (exponential average, or the cumulative one with momentum None), then eval outputs."""
    g = torch.Generator().manual_seed(5)
    ours, ref = BatchNorm(4, momentum=momentum, relu=True), torch.nn.BatchNorm1d(4, momentum=momentum)
    for i in range(3):
        x = torch.randn(6, 50, 4, generator=g) * (1 + i) + i
        torch.testing.assert_close(ours(x), torch.relu(ref(x.reshape(-1, 4))).view(x.shape))
    torch.testing.assert_close(ours.running_mean, ref.running_mean)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked) == 3
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(x), torch.relu(ref(x.reshape(-1, 4))).view(x.shape))


def test_fused_and_compiled_layers_agree(monkeypatch):
    """Under torch.compile the layer runs torch's batch norm: same output and running statistics."""
    calls = _calls_of_the_kernel(monkeypatch)
    x = torch.randn(3, 40, 6, generator=torch.Generator().manual_seed(6)) * 2 - 1
    eager, compiled = BatchNorm(6, relu=True), BatchNorm(6, relu=True)
    y = eager(x)
    torch.testing.assert_close(torch.compile(compiled, backend="eager")(x), y)
    torch.testing.assert_close(compiled.running_var, eager.running_var)
    assert len(calls) == (1 if kernels_available() else 0)


def test_a_single_sample_per_channel_is_refused_in_training():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm(3, relu=True)(torch.randn(1, 1, 3))


def test_bad_shape():
    with pytest.raises(ValueError, match=r"x must have shape \(batch, vertex, 5\)"):
        BatchNorm(5)(torch.zeros(2, 5))


def _model() -> torch.nn.Sequential:
    """Two (ChebConv → BatchNorm → ReLU) blocks on HEALPix nside 2, random affine parameters."""
    graph = knn_graph(HEALPix(2), k=8)
    torch.manual_seed(1)
    blocks = []
    for c_in, c_out, K in ((2, 3, 3), (3, 4, 2)):
        norm = BatchNorm(c_out)
        torch.nn.init.normal_(norm.weight), torch.nn.init.normal_(norm.bias)
        conv = ChebConv(c_in, c_out, K, graph.laplacian(), lmax=graph.lmax())
        blocks.append(torch.nn.Sequential(conv, norm, torch.nn.ReLU()))
    return torch.nn.Sequential(*blocks)


def _batches(n: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    return [torch.randn(5, 48, 2, generator=g) * (1 + i) + i for i in range(n)]  # statistics differ per batch


def test_recalibrate_averages_each_batch_statistics():
    """Running statistics = the plain mean over batches of each batch's mean and unbiased variance over
    (batch, vertex), computed here by hand in float64 through both blocks."""
    model = _model().double()
    batches = [x.double() for x in _batches(4)]
    means, variances = [[], []], [[], []]
    with torch.no_grad():
        for x in batches:
            h = x
            for i, block in enumerate(model):
                conv, norm = block[0], block[1]
                h = conv(h)
                mean, var = h.mean(dim=(0, 1)), h.var(dim=(0, 1), unbiased=True)
                means[i].append(mean), variances[i].append(var)
                biased = h.var(dim=(0, 1), unbiased=False)
                h = torch.relu((h - mean) / torch.sqrt(biased + norm.eps) * norm.weight + norm.bias)
    for block in model:  # make the old statistics wrong, to be sure they are replaced
        block[1].running_mean.fill_(5.0)
    model.eval()
    assert recalibrate_batch_norm(model, iter(batches)) == 4
    for i, block in enumerate(model):
        torch.testing.assert_close(block[1].running_mean, torch.stack(means[i]).mean(0))
        torch.testing.assert_close(block[1].running_var, torch.stack(variances[i]).mean(0))
        assert block[1].momentum == 0.1 and int(block[1].num_batches_tracked) == 4
    assert not model.training and not any(m.training for m in model.modules())


def test_recalibrate_keeps_parameters_and_train_mode():
    model = _model()
    before = {k: v.clone() for k, v in model.named_parameters()}
    model.train()
    recalibrate_batch_norm(model, _batches(2))
    assert model.training
    for k, v in model.named_parameters():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)


def test_recalibrate_bad_inputs_leave_the_statistics():
    model = _model()
    model(_batches(1)[0])  # some running statistics
    old = [block[1].running_mean.clone() for block in model]
    with pytest.raises(ValueError, match="inputs gave no batch"):
        recalibrate_batch_norm(model, [])

    def failing():
        yield _batches(1)[0]
        raise RuntimeError("loader died")

    with pytest.raises(RuntimeError, match="loader died"):
        recalibrate_batch_norm(model, failing())
    for block, mean in zip(model, old, strict=True):
        torch.testing.assert_close(block[1].running_mean, mean, rtol=0, atol=0)
        assert block[1].momentum == 0.1
    with pytest.raises(ValueError, match="no batch norm layer"):
        recalibrate_batch_norm(torch.nn.Linear(2, 2), [torch.zeros(1, 2)])


def test_batch_norms_are_those_with_running_statistics():
    ours, torchs = BatchNorm(3), torch.nn.BatchNorm2d(2)
    model = torch.nn.Sequential(
        ours, torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3, track_running_stats=False), torchs
    )
    assert batch_norms(model) == [ours, torchs]
    assert batch_norms(torch.nn.Linear(2, 2)) == []
