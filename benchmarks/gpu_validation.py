"""Validate NVML sampling and executed-FLOP counting on a real NVIDIA GPU (run on a GPU machine).

1. NVML: the devices costlens sees, one reading each, and whether the energy counter exists.
2. A GPT-style model trains in bf16 under ``costlens.profile`` for a fixed number of steps:
   counted FLOPs per token against 6N + 12LHQT, achieved FLOP/s and MFU against the spec table's
   peak, mean utilisation, and energy from NVML's counter against the integral of sampled power.
3. Overhead on the GPU: the same loop bare and under the profiler, alternated, median step time.

    python -m benchmarks.gpu_validation [--out DIR] [--steps 60] [--write]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks._common import machine, today, write_section


def _gpt(vocab: int, d: int, layers: int, heads: int, seq: int):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.qkv, self.proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
            self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
            q, k, v = (z.view(b, t, heads, d // heads).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
            return x + self.out(F.gelu(self.fc(self.ln2(x))))

    class GPT(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(seq, d)
            self.blocks = nn.ModuleList(Block() for _ in range(layers))
            self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab, bias=False)
            self.head.weight = self.tok.weight  # tied, as GPT-2

        def forward(self, idx):
            x = self.tok(idx) + self.pos(torch.arange(idx.shape[1], device=idx.device))
            for blk in self.blocks:
                x = blk(x)
            return self.head(self.ln(x))

    return GPT()


def _train(model, opt, steps: int, batch: int, seq: int, vocab: int) -> float:
    """Run ``steps`` bf16 training steps; returns seconds per step (CUDA-synchronised)."""
    import torch
    import torch.nn.functional as F

    idx = torch.randint(0, vocab, (batch, seq), device="cuda")
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(idx)
            loss = F.cross_entropy(logits.view(-1, vocab).float(), idx.view(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=None)
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--d-model", type=int, default=1024)
    ap.add_argument("--seq", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()

    import torch

    import costlens
    from costlens.price import run_cost
    from costlens.price import tables as catalog
    from costlens.record.flops import gpt_train_flops_per_token
    from costlens.record.telemetry import NvmlSampler, probe_nvml
    from costlens.store import open_store
    from costlens.store.queries import get_run
    from costlens.store.timelines import sample_stats

    out: dict = {"date": today(), "machine": machine(), "torch": torch.__version__}
    nvml = probe_nvml()
    sampler = NvmlSampler()
    out["nvml"] = {
        "available": nvml is not None,
        "devices": sampler.device_names(),
        "reading": [r._asdict() for r in sampler.sample(time.time())],
        "energy": sampler.energy(),
    }
    vocab, d, layers, seq, batch = 50304, args.d_model, args.layers, args.seq, args.batch
    torch.manual_seed(0)
    model = _gpt(vocab, d, layers, d // 64, seq).cuda()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    n_params = sum(p.numel() for p in model.parameters())
    n_non_embedding = n_params - model.pos.weight.numel()  # tied head counts once (nanoGPT)
    _train(model, opt, 5, batch, seq, vocab)  # warm-up (kernels, allocator)

    tmp = tempfile.mkdtemp()
    db = f"sqlite:///{tmp}/gpu.db"
    with costlens.profile(
        project="gpu-validation",
        name=f"gpt {n_params / 1e6:.0f}M bf16",
        strategy="scratch",
        db=db,
        sample_interval_s=0.2,
    ) as run:
        s_per_step = _train(model, opt, args.steps, batch, seq, vocab)
    store = open_store(db)
    rec = get_run(store, run.id)
    tokens = args.steps * batch * seq
    formula = gpt_train_flops_per_token(n_non_embedding, layers, d, seq) * tokens
    stats = sample_stats(store, [run.id]).iloc[0].to_dict()
    cost = run_cost(rec, prices=catalog.PriceTable.load())
    spec = catalog.gpu_spec(rec["device"]) if rec["device"] else None
    power_integral_j = float(stats["power_mean_w"]) * (
        float(stats["t_last_unix_s"]) - float(stats["t_first_unix_s"])
    )
    out["run"] = {
        "params": n_params, "params_non_embedding": n_non_embedding, "steps": rec["steps"],
        "tokens_recorded": rec["tokens"], "tokens_expected": tokens,
        "samples_recorded": rec["samples"], "precision": rec["precision"],
        "flops_counted": rec["flops"], "flops_formula_6N_12LHQT": formula,
        "flops_ratio": rec["flops"] / formula, "duration_s": rec["duration_s"],
        "s_per_step": s_per_step, "achieved_flops_per_s": rec["flops"] / (s_per_step * args.steps),
        "device": rec["device"], "device_key": spec.key if spec else None,
        "peak_bf16_flops_per_s": spec.peak_for("bf16") if spec else None,
        "mfu_costlens": cost.get("mfu"), "gpu_util_mean_pct": stats["gpu_util_mean_pct"],
        "energy_j": rec["energy_j"], "energy_source": rec["energy_source"],
        "power_mean_w": stats["power_mean_w"], "power_integral_j": power_integral_j,
        "readings": int(stats["n"]), "cost_usd": cost.get("cost_usd"),
    }  # fmt: skip

    # Overhead: alternate bare and profiled blocks of the same loop.
    bare, prof = [], []
    for _ in range(3):
        bare.append(_train(model, opt, 20, batch, seq, vocab))
        with costlens.profile(project="gpu-validation", name="overhead", db=db):
            prof.append(_train(model, opt, 20, batch, seq, vocab))
    out["overhead"] = {
        "bare_s_per_step": statistics.median(bare),
        "profiled_s_per_step": statistics.median(prof),
        "ratio": statistics.median(prof) / statistics.median(bare),
    }
    text = json.dumps(out, indent=2, default=str)
    print(text)
    if args.out:
        Path(args.out, "gpu_validation.json").write_text(text)
    if args.write:
        write_section("GPU validation", render(out))


def render(out: dict) -> str:
    """The BENCHMARKS.md section from the JSON this script wrote."""
    r, o, n = out["run"], out["overhead"], out["nvml"]
    return "\n".join([
        f"Measured {out['date']} on the lent GPU machine ({out['machine']}, torch {out['torch']}).",
        "",
        f"- NVML devices: {', '.join(n['devices']) or 'none'}; energy counter: "
        f"{n['energy'][1] or 'none'}.",
        f"- GPT-style model, {r['params'] / 1e6:.0f}M parameters, bf16 autocast, {r['steps']} "
        f"steps, {r['tokens_recorded']:,} tokens recorded (expected {r['tokens_expected']:,}); "
        f"precision recorded: {r['precision']}.",
        f"- Counted FLOPs {r['flops_counted']:.4g} vs 6N + 12LHQT "
        f"{r['flops_formula_6N_12LHQT']:.4g}:"
        f" ratio {r['flops_ratio']:.4f}.",
        f"- Achieved {r['achieved_flops_per_s'] / 1e12:.0f} TFLOP/s; peak bf16 of "
        f"{r['device_key']} {(r['peak_bf16_flops_per_s'] or 0) / 1e12:.1f} TFLOP/s; MFU by "
        f"`costlens cost`: {r['mfu_costlens'] or 0:.1%}; mean GPU utilisation "
        f"{r['gpu_util_mean_pct']:.0f}% over {r['readings']} readings.",
        f"- Energy: {r['energy_j']:.0f} J from {r['energy_source']}; mean power "
        f"{r['power_mean_w']:.0f} W x sampled span = {r['power_integral_j']:.0f} J.",
        f"- Overhead on the GPU loop: bare {o['bare_s_per_step'] * 1e3:.1f} ms/step, profiled "
        f"{o['profiled_s_per_step'] * 1e3:.1f} ms/step: {o['ratio']:.3f}x (median of 3 "
        "alternated blocks of 20 steps).",
    ])  # fmt: skip


if __name__ == "__main__":
    main()
