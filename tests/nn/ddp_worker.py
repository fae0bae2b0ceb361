"""Run by tests/nn/test_models.py under torchrun (2 CPU processes, gloo): a few DDP training steps."""

from __future__ import annotations

import gc
import json
import sys

import torch
import torch.distributed as dist

from deepsphere.nn import SphericalCNN
from deepsphere.sampling import HEALPix


def train(rank: int) -> dict:
    """Three DDP steps on each rank's own data; the replicas' largest parameter difference afterwards."""
    torch.manual_seed(0)
    model = torch.nn.parallel.DistributedDataParallel(
        SphericalCNN(HEALPix(nside=4), 1, 2, channels=(4, 4), K=3)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    generator = torch.Generator().manual_seed(10 + rank)  # each rank its own data
    for _ in range(3):
        x = torch.randn(4, 192, 1, generator=generator)
        labels = torch.randint(0, 2, (4,), generator=generator)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), labels).backward()
        optimizer.step()
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(2)]
    dist.all_gather(gathered, flat)
    return {
        "max_param_diff": float((gathered[0] - gathered[1]).abs().max()),
        "laplacian_buffers": [name for name, _ in model.module.named_buffers() if "laplacian" in name],
    }


def main(out_path: str) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    result = train(rank)
    if rank == 0:
        with open(out_path, "w") as f:
            json.dump(result, f)
    # The DDP wrapper's reducer holds the process group: free it, and let both ranks reach the teardown,
    # before destroying the group. A group left to the interpreter's exit can abort the process
    # ("terminate called without an active exception", seen once in CI).
    gc.collect()
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
