"""What the trained model itself says about the run: its strategy and its base model, each with
the basis it was inferred from (duck-typed: no torch, transformers or peft import).

- peft / LoRA adapters present -> ``lora``;
- most parameters frozen (under half trainable) -> ``frozen-features``;
- trainable and loaded from pretrained weights (a Hugging Face ``config._name_or_path``, or a
  ``load_state_dict`` seen while recording that covered most parameters) -> ``full-finetune``;
- trainable from random initialisation -> ``scratch``.

The base model comes from the peft config (``base_model_name_or_path``) or the Hugging Face
config (``_name_or_path``) of the model or one of its submodules.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable
from typing import Any

#: Under this fraction of trainable parameters a model "trains a head on frozen features".
FROZEN_BELOW_TRAINABLE = 0.5
#: A ``load_state_dict`` that filled at least this fraction of the parameters makes them pretrained.
LOADED_AT_LEAST = 0.5


def _config_name(module: Any) -> str:
    cfg = getattr(module, "config", None)
    name = getattr(cfg, "_name_or_path", None) if cfg is not None else None
    return name if isinstance(name, str) else ""


def _peft_base(module: Any) -> str | None:
    """The peft base model name of a PeftModel (or '' when it has none); None: not peft."""
    configs = getattr(module, "peft_config", None)
    if not isinstance(configs, dict) or not configs:
        return None
    active = getattr(module, "active_adapter", None)
    cfg = configs.get(active) if isinstance(active, str) else None
    cfg = cfg if cfg is not None else next(iter(configs.values()))
    name = getattr(cfg, "base_model_name_or_path", None)
    return name if isinstance(name, str) else ""


def _fmt_count(n: int) -> str:
    return f"{n:,}"


class _Scan:
    """One walk over the trained root modules: params, adapters and config names."""

    def __init__(self, roots: Iterable[Any], loaded: set[int]) -> None:
        self.total = self.trainable = self.loaded = 0
        self.lora_params = 0
        self.peft_base: str | None = None
        self.config_name = ""
        seen: set[int] = set()
        for root in roots:
            if self.peft_base is None:
                self.peft_base = _peft_base(root)
            for m in root.modules():
                if not self.config_name:
                    self.config_name = _config_name(m)
            for name, p in root.named_parameters():
                if id(p) in seen:
                    continue
                seen.add(id(p))
                n = p.numel()
                self.total += n
                if p.requires_grad:
                    self.trainable += n
                if "lora_" in name:
                    self.lora_params += n
                if id(p) in loaded:
                    self.loaded += n


def infer_model(roots: Iterable[Any], loaded: set[int] | None = None) -> dict[str, dict]:
    """``{"strategy": {"value", "basis"}, "base_model": {"value", "basis"}}`` (base model only
    when one is named). ``loaded``: ids of parameters a ``load_state_dict`` filled."""
    s = _Scan(roots, loaded or set())
    if not s.total:
        return {}
    share = s.trainable / s.total
    counts = f"{_fmt_count(s.trainable)} of {_fmt_count(s.total)} parameters trainable"
    if s.peft_base is not None or s.lora_params:
        why = "peft adapters (peft_config)" if s.peft_base is not None else "LoRA parameters"
        strategy, basis = "lora", f"{why}; {counts}"
    elif share < FROZEN_BELOW_TRAINABLE:
        strategy, basis = "frozen-features", f"most parameters frozen: {counts}"
    elif s.config_name:
        strategy = "full-finetune"
        basis = f"pretrained (config._name_or_path={s.config_name!r}); {counts}"
    elif s.loaded >= LOADED_AT_LEAST * s.total:
        strategy = "full-finetune"
        basis = f"load_state_dict filled {_fmt_count(s.loaded)} parameters; {counts}"
    else:
        strategy, basis = "scratch", f"no pretrained weights seen; {counts}"
    out: dict[str, dict] = {"strategy": {"value": strategy, "basis": basis}}
    if s.peft_base:
        out["base_model"] = {
            "value": s.peft_base,
            "basis": f"peft base_model_name_or_path={s.peft_base!r}",
        }
    elif s.config_name:
        out["base_model"] = {
            "value": s.config_name,
            "basis": f"config._name_or_path={s.config_name!r}",
        }
    return out


class LoadWatch:
    """Notes the parameters a ``Module.load_state_dict`` fills while a run records (the
    checkpoint loaded before training that makes a run a fine-tune). Wraps the method, calling
    the original unchanged; ``remove()`` puts it back where it is still ours."""

    def __init__(self) -> None:
        self.loaded: set[int] = set()
        self._lock = threading.Lock()
        self._cls: Any = None
        self._orig: Any = None
        self._wrapper: Any = None

    def install(self, module_cls: Any) -> None:
        orig = module_cls.load_state_dict
        watch = self

        @functools.wraps(orig)
        def load_state_dict(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = orig(self, *args, **kwargs)
            try:
                ids = {id(p) for p in self.parameters()}
                with watch._lock:
                    watch.loaded |= ids
            except Exception:
                pass
            return result

        self._cls, self._orig, self._wrapper = module_cls, orig, load_state_dict
        module_cls.load_state_dict = load_state_dict

    def remove(self) -> None:
        cls, self._cls = self._cls, None
        if cls is not None and cls.__dict__.get("load_state_dict") is self._wrapper:
            cls.load_state_dict = self._orig

    def snapshot(self) -> set[int]:
        with self._lock:
            return set(self.loaded)
