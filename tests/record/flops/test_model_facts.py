"""Tokens read by name from Hugging Face-style batches, and the strategy and base model inferred
from the model (a declaration winning), on plain torch modules."""

from __future__ import annotations

import types

import torch

import costlens
from costlens.record.flops.inputs import batch_counts
from costlens.record.flops.model_facts import LoadWatch, infer_model
from costlens.store.queries import get_run

INTS = (torch.int64, torch.int32)


def test_tokens_come_from_input_ids_by_name_whatever_the_order():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    batch = {"labels": torch.tensor([0, 1]), "input_ids": torch.ones(2, 4, dtype=torch.long),
             "attention_mask": mask}  # fmt: skip
    x, samples, tokens, real = batch_counts((), batch, torch.Tensor, INTS)
    assert x is batch["labels"]  # the first tensor still sizes the window
    assert (samples, tokens, real) == (2, 8, 5)
    assert batch_counts((batch,), None, torch.Tensor, INTS)[1:] == (2, 8, 5)  # model(batch)
    embeds = {"labels": torch.zeros(3), "inputs_embeds": torch.randn(3, 7, 16)}
    assert batch_counts((), embeds, torch.Tensor, INTS)[1:] == (3, 21, 21)  # no mask: all real
    other = {"pixel_values": torch.randn(2, 3, 8, 8), "decoder_ids": torch.ones(2, 5).long()}
    assert batch_counts((), other, torch.Tensor, INTS)[1:] == (2, 10, 10)  # any *_ids
    assert batch_counts((torch.randn(4, 9),), None, torch.Tensor, INTS)[1:] == (4, 0, 0)


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))


def test_strategy_inference_rules():
    assert infer_model([_net()])["strategy"]["value"] == "scratch"
    frozen = _net()
    frozen[0].requires_grad_(False)
    facts = infer_model([frozen])
    assert facts["strategy"] == {
        "value": "frozen-features",
        "basis": "most parameters frozen: 66 of 1,122 parameters trainable",
    }
    hf = _net()
    hf.config = types.SimpleNamespace(_name_or_path="org/base-7b")
    facts = infer_model([hf])
    assert facts["strategy"]["value"] == "full-finetune"
    assert facts["base_model"] == {"value": "org/base-7b",
                                   "basis": "config._name_or_path='org/base-7b'"}  # fmt: skip
    lora = _net()
    lora.peft_config = {"default": types.SimpleNamespace(base_model_name_or_path="org/b")}
    lora.active_adapter = "default"
    lora[0].requires_grad_(False)
    facts = infer_model([lora])
    assert facts["strategy"]["value"] == "lora" and facts["base_model"]["value"] == "org/b"


def test_a_checkpoint_loaded_before_training_makes_a_fine_tune():
    watch = LoadWatch()
    watch.install(torch.nn.Module)
    try:
        model = _net()
        model.load_state_dict(_net().state_dict())
        facts = infer_model([model], watch.snapshot())
    finally:
        watch.remove()
    assert not hasattr(torch.nn.Module.load_state_dict, "__wrapped__")  # put back
    assert facts["strategy"]["value"] == "full-finetune"
    assert facts["strategy"]["basis"].startswith("load_state_dict filled 1,122 parameters")


def _train(model, db, **options):
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    with costlens.profile(db=db, sample_interval_s=0.05, **options) as run:
        for _ in range(2):
            model(torch.randn(4, 32)).sum().backward()
            opt.step()
            opt.zero_grad()
    return run


def test_the_inference_is_stored_and_a_declaration_wins(store, sqlite_url):
    frozen = _net()
    frozen[0].requires_grad_(False)
    rec = get_run(store, _train(frozen, sqlite_url).id)
    assert rec["strategy"] == "frozen-features"
    assert rec["strategy_basis"] == (
        "inferred: most parameters frozen: 66 of 1,122 parameters trainable"
    )
    declared = get_run(store, _train(frozen, sqlite_url, strategy="lora", base_model="m").id)
    assert declared["strategy"] == "lora" and declared["base_model"] == "m"
    assert declared["strategy_basis"].startswith("declared (inferred 'frozen-features'")
    assert declared["base_model_basis"] == "declared"


def test_real_tokens_on_a_device_are_summed_by_the_reader_not_the_training():
    from costlens.record.flops.ledger import Ledger, Window

    ledger = Ledger()
    for real in (5, torch.tensor(7)):  # an int (CPU mask) and a device scalar (stand-in)
        w = Window(("m", (), True))
        w.keys.append(w.fkey)
        w.samples, w.tokens, w.tokens_real = 2, 8, real
        ledger.account(w, "bwd", 10.0)
    assert ledger.tokens_real == 5 and len(ledger.tokens_real_pending) == 1  # not read yet
    snap = ledger.snapshot()
    assert (snap.tokens, snap.tokens_real) == (16, 12) and not ledger.tokens_real_pending


def test_a_trainer_resumed_at_a_checkpoint_records_the_steps_it_took(store, sqlite_url):
    from costlens.record.integrations.report import report

    with costlens.profile(db=sqlite_url, sample_interval_s=0.05, name="mine") as run:
        report(steps=100, expected_steps=130, name="trainer-name")  # on_train_begin, resumed
        for step in (101, 102):
            report(steps=step, metrics={"eval_loss": 0.5})
    rec = get_run(store, run.id)
    assert (rec["steps"], rec["expected_steps"]) == (2, 30)
    assert rec["name"] == "mine" and rec["metrics"] == {"eval_loss": 0.5}  # declared name wins
    report(steps=5)  # no active run: nothing happens, nothing raises
