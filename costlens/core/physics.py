"""Training FLOPs from first principles, defined once (no torch; numpy only where vectorised).

Per token with N parameters: forward 2N, backward 4N, plus the attention score and value matmuls,
12 L d T forward and backward (Chowdhery et al. 2022, "PaLM", Appendix B). The estimator, the
forecast and the FLOP meter's analytic cross-check all use these functions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def attention_train_flops_per_token(n_layers: Any, d_model: Any, seq_len: Any) -> Any:
    """``12 * L * d * T``: attention matmuls (scores and values), forward plus backward, per token.

    Works on floats and on numpy arrays alike; the forward alone is a third of it.
    """
    return 12.0 * n_layers * d_model * seq_len


# The params-to-shape rule: a decoder-only transformer has about 12 L d^2 non-embedding
# parameters (Kaplan et al. 2020, "Scaling Laws for Neural Language Models", Sec. 2.1), and
# published models keep d_model / n_layers near 128 (GPT-3 175B: 12288 / 96; LLaMA 7B: 4096 / 32;
# Kaplan et al. Fig. 5: loss is flat over a wide range of aspect ratios around it).
PARAMS_PER_LAYER_D2 = 12.0
ASPECT_RATIO = 128.0
SHAPE_RULE = "N = 12 L d^2 (Kaplan et al. 2020), d = 128 L when neither is given"


def transformer_shape(params: Any, n_layers: Any = None, d_model: Any = None) -> tuple[Any, Any]:
    """(n_layers, d_model) of a transformer of ``params`` parameters, the missing ones derived
    by :data:`SHAPE_RULE`; given values are kept. Works on floats and numpy arrays (NaN: missing).
    """
    import numpy as np

    n = np.asarray(params, dtype=float)
    L = np.asarray(np.nan if n_layers is None else n_layers, dtype=float) + 0 * n
    d = np.asarray(np.nan if d_model is None else d_model, dtype=float) + 0 * n
    neither = np.isnan(L) & np.isnan(d)
    L_free = np.cbrt(n / (PARAMS_PER_LAYER_D2 * ASPECT_RATIO**2))
    L = np.where(neither, np.maximum(np.round(L_free), 1.0), L)
    d = np.where(neither, ASPECT_RATIO * L, d)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.where(np.isnan(d), np.sqrt(n / (PARAMS_PER_LAYER_D2 * L)), d)
        L = np.where(np.isnan(L), np.maximum(n / (PARAMS_PER_LAYER_D2 * d**2), 1.0), L)
    return L, d


def gpt_train_flops_per_token(n_params: float, n_layers: int, d_model: int, seq_len: int) -> float:
    """Training FLOPs per token of a decoder-only transformer: ``6N + 12*L*H*Q*T``.

    ``N`` is the number of parameters that take part in matrix multiplies (non-embedding
    parameters in Kaplan et al. 2020, "Scaling Laws for Neural Language Models", Sec. 2.1; with a
    tied output head the shared matrix counts once, as the head). ``H*Q = d_model`` (heads times
    head size), ``T = seq_len``, ``L = n_layers``. ``6N`` is forward (2N) plus backward (4N);
    ``12LHQT`` is the attention score and value matmuls, forward and backward (Chowdhery et al.
    2022, "PaLM", Appendix B, the model-FLOPs-utilisation definition; Hoffmann et al. 2022,
    "Chinchilla", Appendix F, count the same terms plus small ones). Full (non-causal) attention
    is counted, as PaLM does. Flash-style kernels recompute the scores in backward, so what a GPU
    really executes is about ``6N + 14LHQT``.
    """
    return 6.0 * n_params + attention_train_flops_per_token(n_layers, d_model, seq_len)


def gpt_forward_flops_per_token(
    n_params: float, n_layers: int, d_model: int, seq_len: int
) -> float:
    """Forward-only (inference) FLOPs per token: ``2N + 4*L*H*Q*T``.

    One third of `gpt_train_flops_per_token` (PaLM, Appendix B). Kaplan et al. 2020 (Table 1)
    write ``2N + 2*n_layer*n_ctx*d_attn``: they count the attention logits matmul but not the
    product with the values, so their attention term is half of this one.
    """
    return 2.0 * n_params + attention_train_flops_per_token(n_layers, d_model, seq_len) / 3.0


def strategy_flops(
    params: Any,
    tokens: Any,
    strategy: Any = "scratch",
    *,
    trainable_fraction: Any = None,
    n_layers: Any = None,
    d_model: Any = None,
    seq_len: Any = None,
    epochs: Any = None,
) -> np.ndarray:
    """Training FLOPs (forward + backward) per strategy; vectorised over numpy arrays.

    Per token (or sample) with N parameters, f the trainable share, A = 12 L d T (PaLM, App. B;
    0 unless n_layers, d_model and seq_len are all given):
    scratch / full-finetune 6N + A; lora 4N + 2fN + A (no weight gradients for frozen weights);
    frozen-features (2(1-f)N + A/3) per unique sample (the frozen forward, cacheable: tokens /
    epochs when epochs is given) + 6fN per sample (the head).
    """
    import numpy as np

    n = np.asarray(params, dtype=float)
    d = np.asarray(tokens, dtype=float)
    strat = np.asarray(strategy, dtype=object)
    n, d, strat = np.broadcast_arrays(n, d, strat)
    f = _fill(trainable_fraction, n.shape, np.nan)
    attn = attention_train_flops_per_token(
        _fill(n_layers, n.shape, 0.0), _fill(d_model, n.shape, 0.0), _fill(seq_len, n.shape, 0.0)
    )
    attn = np.where(np.isfinite(attn), attn, 0.0)
    ep = _fill(epochs, n.shape, 1.0)
    ep = np.where(np.isfinite(ep) & (ep > 0), ep, 1.0)
    full = (6.0 * n + attn) * d
    f_lora = np.where(np.isfinite(f), f, 1.0)
    lora = (4.0 * n + 2.0 * f_lora * n + attn) * d
    frozen = (2.0 * (1.0 - f_lora) * n + attn / 3.0) * (d / ep) + 6.0 * f_lora * n * d
    out = np.where(strat == "lora", lora, full)
    return np.where(strat == "frozen-features", frozen, out)


def _fill(value: Any, shape: tuple[int, ...], default: float) -> np.ndarray:
    import numpy as np

    if value is None:
        return np.full(shape, default)
    arr = np.asarray(value, dtype=float)
    arr = np.where(np.isnan(arr), default, arr) if arr.ndim else arr
    return np.broadcast_to(arr, shape).astype(float)


# --------------------------------------------------------------------------------------------
# Priors table
# --------------------------------------------------------------------------------------------
