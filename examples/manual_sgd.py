"""A small MLP whose weights are updated by hand (no torch.optim; an ordinary script).

Profile it:  costlens run --project examples -- python examples/manual_sgd.py --steps 20
"""

from __future__ import annotations

import argparse

import torch
from torch import nn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="weight updates")
    parser.add_argument("--width", type=int, default=256, help="hidden width")
    parser.add_argument("--batch", type=int, default=64, help="samples per step")
    args = parser.parse_args()

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, args.width), nn.Tanh(), nn.Linear(args.width, 1))
    true_w = torch.randn(64, 1)
    lr = 0.01
    for _ in range(args.steps):
        x = torch.randn(args.batch, 64)
        loss = ((model(x) - x @ true_w) ** 2).mean()
        loss.backward()
        with torch.no_grad():  # plain SGD, by hand
            for p in model.parameters():
                p -= lr * p.grad
                p.grad = None
    print(f"trained {args.steps} steps, last loss {loss.item():.3f}")


if __name__ == "__main__":
    main()
