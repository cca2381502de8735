"""Train a small MLP on random data with torch.optim (an ordinary script: no costlens import).

Profile it:  costlens run --project examples -- python examples/train_mlp.py --steps 20
"""

from __future__ import annotations

import argparse

import torch
from torch import nn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="optimizer steps")
    parser.add_argument("--width", type=int, default=256, help="hidden width")
    parser.add_argument("--batch", type=int, default=64, help="samples per step")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(128, args.width), nn.ReLU(), nn.Linear(args.width, args.width), nn.ReLU(),
        nn.Linear(args.width, 10),
    )  # fmt: skip
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    for _step in range(args.steps):
        x = torch.randn(args.batch, 128)
        y = torch.randint(0, 10, (args.batch,))
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
    with torch.no_grad():  # evaluation: forward only, not a training step
        acc = (model(x).argmax(1) == y).float().mean().item()
    print(f"trained {args.steps} steps, last loss {loss.item():.3f}, batch accuracy {acc:.2f}")


if __name__ == "__main__":
    main()
