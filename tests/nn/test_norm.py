"""BatchNorm over (batch, vertex, channel) against torch's BatchNorm1d on flattened samples; its statistics
re-estimated against averages computed by hand."""

from __future__ import annotations

import pytest
import torch

from deepsphere.graph import knn_graph
from deepsphere.nn import BatchNorm, ChebConv, batch_norms, recalibrate_batch_norm
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
