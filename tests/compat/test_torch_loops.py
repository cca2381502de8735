"""Lightning with gradient accumulation, accelerate, bf16 autocast and a hand-written loop,
recorded unchanged: steps, FLOPs against FlopCounterMode, tokens, strategy, parameters."""

from __future__ import annotations

import pytest
import torch

from costlens.record.flops import flop_counter
from tests.compat.helpers import note_case, params, profiled

VOCAB, SEQ, BATCH = 64, 12, 4


def _gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=VOCAB, n_positions=32, n_embd=32, n_layer=2, n_head=2)
    return GPT2LMHeadModel(config)


def _batches(n: int, seq: int = SEQ) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randint(0, VOCAB, (BATCH, seq), generator=g) for _ in range(n)]


def _reference(model, batches, autocast: bool = False) -> float:
    counter = flop_counter()
    with counter:
        for ids in batches:
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = model(ids, labels=ids).loss
            loss.backward()
    model.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def _check(rec, steps, ref, model, batches):
    note_case(rec, framework_steps=steps, reference_flops=ref)
    assert rec["steps"] == steps
    assert rec["flops"] == pytest.approx(ref, rel=0.01)
    assert rec["tokens"] == rec["tokens_real"] == sum(b.numel() for b in batches)
    assert (rec["params_total"], rec["params_trainable"]) == params(model)
    assert rec["strategy"] == "scratch"


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16-autocast"])
def test_hand_written_loop(sqlite_url, autocast):
    model = _gpt2()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batches = _batches(3)
    with profiled(sqlite_url) as rec:
        for ids in batches:  # positional input_ids, labels by keyword
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                loss = model(ids, labels=ids).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
    _check(rec, 3, _reference(model, batches, autocast), model, batches)
    assert rec["precision"] == ("bf16" if autocast else "fp32")


def test_accelerate(sqlite_url):
    import accelerate  # the dev extra has it: a missing install fails, never skips

    accelerator = accelerate.Accelerator(cpu=True, gradient_accumulation_steps=2)
    model = _gpt2()
    batches = _batches(4)
    with profiled(sqlite_url) as rec:
        opt = torch.optim.SGD(model.parameters(), lr=1e-2)
        loader = torch.utils.data.DataLoader(batches, batch_size=None)
        model, opt, loader = accelerator.prepare(model, opt, loader)
        for ids in loader:
            with accelerator.accumulate(model):
                accelerator.backward(model(input_ids=ids, labels=ids).loss)
                opt.step()
                opt.zero_grad()
    _check(rec, 2, _reference(model, batches), model, batches)  # 4 batches, 2 accumulated


def test_lightning_with_gradient_accumulation(sqlite_url, tmp_path):
    import lightning.pytorch as L

    gpt2 = _gpt2()
    batches = _batches(6)

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = gpt2

        def training_step(self, ids, _i):
            return self.model(input_ids=ids, labels=ids).loss

        def validation_step(self, ids, _i):
            self.log("val_loss", self.model(input_ids=ids, labels=ids).loss)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=1e-2)

    loader = torch.utils.data.DataLoader(batches, batch_size=None)
    val = torch.utils.data.DataLoader(_batches(1), batch_size=None)
    with profiled(sqlite_url) as rec:
        trainer = L.Trainer(
            max_steps=3, accumulate_grad_batches=2, accelerator="cpu", logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0, limit_val_batches=1, val_check_interval=6,
            default_root_dir=str(tmp_path),
        )  # fmt: skip
        trainer.fit(Module(), loader, val)
    ours = [cb for cb in trainer.callbacks if type(cb).__name__ == "CostlensCallback"]
    assert len(ours) == 1  # attached with no code change
    assert trainer.global_step == 3 and rec["meter_steps"] == 3
    assert rec["expected_steps"] == 3
    ref = _reference(gpt2, batches)
    with torch.no_grad():  # the validation forward
        counter = flop_counter()
        with counter:
            gpt2(input_ids=_batches(1)[0], labels=_batches(1)[0])
    _check(rec, 3, ref + counter.get_total_flops(), gpt2, batches)
    assert "val_loss" in rec["metrics"]
