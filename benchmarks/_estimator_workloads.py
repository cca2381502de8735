"""Small CPU training workloads recorded by benchmarks/estimator_accuracy.py (real runs).

Each builds a model and trains it for a fixed number of steps; ``run_workload`` wraps the loop in
``costlens.profile`` with the declared strategy. Torch is imported here only (the worker process).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Config:
    script: str  # "mlp" | "transformer"
    strategy: str  # scratch | full-finetune | lora | frozen-features
    width: int  # MLP width or transformer d_model
    batch: int
    steps: int
    layers: int = 2  # transformer layers
    seq: int = 64  # transformer sequence length

    @property
    def label(self) -> str:
        return f"{self.script}-{self.strategy}-w{self.width}-b{self.batch}-L{self.layers}"


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update (Hu et al. 2021), rank r."""

    def __init__(self, d_in: int, d_out: int, r: int = 8) -> None:
        super().__init__()
        self.base = nn.Linear(d_in, d_out)
        self.base.requires_grad_(False)
        self.a = nn.Parameter(torch.randn(d_in, r) * 0.01)
        self.b = nn.Parameter(torch.zeros(r, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.a) @ self.b


def _mlp(cfg: Config) -> nn.Module:
    w = cfg.width
    if cfg.strategy == "lora":
        return nn.Sequential(LoRALinear(w, w), nn.ReLU(), LoRALinear(w, w), nn.ReLU(),
                             LoRALinear(w, 10))  # fmt: skip
    model = nn.Sequential(nn.Linear(w, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(), nn.Linear(w, 10))
    if cfg.strategy == "frozen-features":
        model[0].requires_grad_(False)
        model[2].requires_grad_(False)
    return model


class TinyLM(nn.Module):
    """A small GPT-like encoder (causal mask) with an LM head; vocabulary 256 (bytes)."""

    def __init__(self, d: int, layers: int, seq: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(256, d)
        self.pos = nn.Parameter(torch.zeros(seq, d))
        layer = nn.TransformerEncoderLayer(d, nhead=4, dim_feedforward=4 * d, batch_first=True,
                                           dropout=0.0)  # fmt: skip
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(d, 256)
        self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(seq))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.emb(x) + self.pos
        return self.head(self.enc(h, mask=self.mask, is_causal=True))


def build(cfg: Config):
    """(model, batch_fn, loss_fn, tokens_per_step)."""
    g = torch.Generator().manual_seed(0)
    if cfg.script == "mlp":
        model = _mlp(cfg)
        x = torch.randn(cfg.batch, cfg.width, generator=g)
        y = torch.randint(0, 10, (cfg.batch,), generator=g)
        return model, (x, y), lambda out, y: nn.functional.cross_entropy(out, y), 0
    model = TinyLM(cfg.width, cfg.layers, cfg.seq)
    data = torch.randint(0, 256, (cfg.batch, cfg.seq + 1), generator=g)
    x, y = data[:, :-1], data[:, 1:]

    def loss(out, y):
        return nn.functional.cross_entropy(out.reshape(-1, 256), y.reshape(-1))

    return model, (x, y), loss, cfg.batch * cfg.seq


def train(cfg: Config, steps: int, run=None) -> None:
    model, (x, y), loss_fn, tokens = build(cfg)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()
        if run is not None:
            run.step(samples=cfg.batch, tokens=tokens)


def run_workload(cfg: Config, db: str) -> str:
    """Record one real run of ``cfg`` into the store ``db``; returns the run id."""
    import costlens

    with costlens.profile(db=db, project="estimator-bench", name=cfg.script,
                          strategy=cfg.strategy, tags=[cfg.label]) as run:  # fmt: skip
        train(cfg, cfg.steps, run)
    return run.id
