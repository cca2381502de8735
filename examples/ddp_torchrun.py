"""Data-parallel training on CPU with DDP and the gloo backend (an ordinary script).

Profile it:  torchrun --nproc_per_node=2 -m costlens run -- python examples/ddp_torchrun.py
"""

from __future__ import annotations

import argparse

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="optimizer steps per rank")
    parser.add_argument("--width", type=int, default=128, help="hidden width")
    parser.add_argument("--batch", type=int, default=32, help="samples per step per rank")
    args = parser.parse_args()

    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(rank)
    model = DDP(nn.Sequential(nn.Linear(64, args.width), nn.ReLU(), nn.Linear(args.width, 10)))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(args.steps):
        x = torch.randn(args.batch, 64)
        y = torch.randint(0, 10, (args.batch,))
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    if rank == 0:
        print(
            f"trained {args.steps} steps on {dist.get_world_size()} ranks, loss {loss.item():.3f}"
        )
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
