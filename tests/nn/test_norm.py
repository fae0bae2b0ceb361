"""BatchNorm over (batch, vertex, channel) against torch's BatchNorm1d on flattened samples."""

from __future__ import annotations

import pytest
import torch

from deepsphere.nn import BatchNorm


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
