"""Does the job fit? Memory per GPU for the model states and the activations, against the GPU's.

Model states (bytes per parameter from ``data/memory_bytes.csv``, each row with its source):
trained parameters keep weights, gradients and optimizer states (mixed-precision AdamW: 16 B,
ZeRO Sec. 3.1); frozen ones only their weights (LoRA's base, frozen-features' backbone). On one GPU
every state is there; over several, the states are sharded (ZeRO-3 / FSDP full shard: states / G,
plus one gathered layer, DeepSpeed's ``estimate_zero3_model_states_mem_needs``).
Activations of a transformer (Korthikanti et al. 2022): 34 bytes x d_model per token per layer
without recomputation (flash attention keeps no score matrix), 2 with full recomputation, for the
tokens of one micro-batch per GPU (``tokens_per_step``, else one sequence of ``seq_len``; neither
known: not counted, and said so). The job is refused only when even full recomputation and
sharding over the GPUs given do not fit; the answer names the least GPU count that would.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from costlens.core.errors import CostlensError, DataTableError

MEMORY_FILE = "memory_bytes.csv"
MEMORY_COLUMNS = ("kind", "key", "precision", "bytes", "source", "as_of")
OPTIMIZERS = ("adamw", "sgd")
BYTES_PER_GB = 1e9  # the spec table's memory_gb is the vendor's GB
LARGEST_LAYER_D2 = 4.0  # a transformer's largest matrix: the MLP's d x 4d (Vaswani et al. 2017)


def memory_path() -> Path:
    from costlens.core.paths import data_dir

    return data_dir() / MEMORY_FILE


@lru_cache(maxsize=4)
def _table(path: str, stamp: int) -> dict[tuple[str, str, str], float]:
    from costlens.price.tables.rows import cell_date, cell_number, cell_text, read_rows

    p = Path(path)
    out: dict[tuple[str, str, str], float] = {}
    for line, row in read_rows(p, MEMORY_COLUMNS):
        key = tuple(cell_text(row, c, p, line) for c in ("kind", "key", "precision"))
        cell_text(row, "source", p, line)
        cell_date(row, "as_of", p, line)
        value = cell_number(row, "bytes", p, line, required=True)
        if value is None or not value > 0:
            raise DataTableError("must be positive", path=str(p), line=line, column="bytes")
        out[key] = float(value)  # type: ignore[index]
    return out


def memory_table() -> dict[tuple[str, str, str], float]:
    """``(kind, key, precision) -> bytes`` of the shipped table (memoised per file version)."""
    from costlens.price.tables.rows import file_stamp

    p = memory_path()
    return _table(str(p), file_stamp(p))


def _bytes(table: dict[tuple[str, str, str], float], kind: str, key: str, precision: str) -> float:
    for k in ((kind, key, precision), (kind, "*", precision), (kind, key, "*"), (kind, "*", "*")):
        if k in table:
            return table[k]
    raise CostlensError(f"{MEMORY_FILE} has no row for {kind} {key} {precision}.")


def job_memory(c: dict[str, np.ndarray], frac: np.ndarray, memory_gb: np.ndarray) -> dict[str, Any]:
    """Per scenario (column arrays ``c`` as in ``estimate_many``, trainable shares ``frac``, the
    GPUs' memory in GB): ``memory_gb_per_gpu`` (states sharded over the GPUs plus activations
    without recomputation), ``fits`` (False only when full recomputation does not fit either),
    ``min_gpus`` (the least GPU count that fits, sharded and recomputing; 0 where none would)
    and ``memory_basis`` (what was counted, what must change)."""
    from costlens.core.physics import transformer_shape

    table = memory_table()
    n = len(c["params"])
    out = {
        "memory_gb_per_gpu": np.full(n, np.nan),
        "fits": np.ones(n, dtype=bool),
        "min_gpus": np.ones(n, dtype=int),
        "memory_basis": np.full(n, "", dtype=object),
    }
    layers, width = transformer_shape(c["params"], c["n_layers"], c["d_model"])
    for i in range(n):
        prec = "fp32" if c["precision"][i] in ("fp32", "tf32") else "mixed"
        opt = str(c["optimizer"][i]) if "optimizer" in c else "adamw"
        share = 1.0 if not np.isfinite(frac[i]) else float(frac[i])
        if c["strategy"][i] in ("scratch", "full-finetune"):
            share = 1.0
        params = float(c["params"][i])
        states = params * (share * _bytes(table, "trained", opt, prec)
                           + (1 - share) * _bytes(table, "frozen", "*", prec))  # fmt: skip
        gpus = int(c["gpus"][i])
        buffer = _bytes(table, "shard_buffer", "*", "*") * LARGEST_LAYER_D2 * width[i] ** 2
        tokens = (
            c["tokens_per_step"][i] if np.isfinite(c["tokens_per_step"][i]) else c["seq_len"][i]
        )
        act, act_min = 0.0, 0.0
        if np.isfinite(tokens):
            per = tokens * width[i] * layers[i]
            act = per * _bytes(table, "activation", "no_recompute", "*")
            act_min = per * _bytes(table, "activation", "full_recompute", "*")
        mem = memory_gb[i] * BYTES_PER_GB
        per_gpu = states if gpus == 1 else states / gpus + buffer
        out["memory_gb_per_gpu"][i] = (per_gpu + act) / BYTES_PER_GB
        least = per_gpu + act_min
        need = _least_gpus(states, buffer, act_min, mem)
        out["min_gpus"][i] = need
        if not np.isfinite(mem):
            out["memory_basis"][i] = "GPU memory unknown: fit not checked"
            continue
        out["fits"][i] = least <= mem
        out["memory_basis"][i] = _basis(states, per_gpu, act, np.isfinite(tokens), gpus, mem, need,
                                        bool(out["fits"][i]), least)  # fmt: skip
    return out


def _least_gpus(states: float, buffer: float, act_min: float, mem: float) -> int:
    """The least G that fits: 1 when everything fits on one GPU, else the least G with
    states / G + one gathered layer + activations within ``mem`` (sharded); 0 when none does."""
    if not np.isfinite(mem) or states + act_min <= mem:
        return 1
    room = mem - buffer - act_min
    return 0 if room <= 0 else max(2, math.ceil(states / room))


def _basis(
    states: float, per_gpu: float, act: float, has_tokens: bool, gpus: int, mem: float,
    need: int, fits: bool, least: float,
) -> str:  # fmt: skip
    gb = BYTES_PER_GB
    where = "on one GPU" if gpus == 1 else f"sharded over {gpus} GPUs (ZeRO-3 / FSDP)"
    text = f"model states {states / gb:.1f} GB ({per_gpu / gb:.1f} GB per GPU {where})"
    text += f" + activations {act / gb:.1f} GB" if has_tokens else "; activations not counted "
    text += "" if has_tokens else "(give --seq-len or --tokens-per-step)"
    text += f" against {mem / gb:.0f} GB"
    if fits:
        if has_tokens and per_gpu + act > mem:
            text += ": fits only with activation checkpointing (full recomputation)"
        return text
    if need == 0:
        return text + ": does not fit on any number of these GPUs (activations alone exceed it)"
    return text + (f": does not fit; needs at least {need} GPUs with the states sharded, or "
                   "LoRA / a smaller micro-batch / a GPU with more memory")  # fmt: skip
