"""Hugging Face Trainer (full fine-tune, peft LoRA, frozen backbone, scratch; fixed and dynamic
padding) recorded unchanged: steps, FLOPs, tokens, strategy, parameters, metrics."""

from __future__ import annotations

import pytest
import torch

from tests.compat.helpers import (
    TallyCollator,
    TextDataset,
    hf_reference_flops,
    minilm_path,
    note_case,
    params,
    profiled,
    tokenizer,
)

STEPS = 3
BATCH = 4


@pytest.fixture(scope="module")
def tok():
    return tokenizer()


def _minilm_classifier():
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification.from_pretrained(minilm_path(), num_labels=2)


def _train(model, tok, db, *, padding, callbacks=None, evaluate=False, **profile_options):
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    pad = {"padding": "max_length", "max_length": 24} if padding == "fixed" else {}
    collator = TallyCollator(DataCollatorWithPadding(tok, **pad))
    args = TrainingArguments(
        output_dir=str(db.rsplit("/", 1)[0].removeprefix("sqlite:///") + "/out"),
        per_device_train_batch_size=BATCH,
        per_device_eval_batch_size=8,
        max_steps=STEPS,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        run_name="compat-trainer",
        dataloader_num_workers=0,
        optim="sgd",  # AdamW on 22M parameters dominates a CPU step; FLOPs are the same
    )
    data = TextDataset(tok)
    with profiled(db, **profile_options) as rec:
        trainer = Trainer(
            model=model, args=args, train_dataset=data, data_collator=collator, callbacks=callbacks
        )
        trainer.train()
        n_train = len(collator.batches)
        if evaluate:
            trainer.evaluate(TextDataset(tok, n=8))
    # the data loader looks one batch ahead (to see the epoch's end): STEPS batches trained
    train_batches, eval_batches = collator.batches[:STEPS], collator.batches[n_train:]
    ref = hf_reference_flops(model, train_batches, eval_batches)
    expected = {
        "tokens": sum(b["input_ids"].numel() for b in train_batches),
        "tokens_real": sum(int(b["attention_mask"].sum()) for b in train_batches),
    }
    return rec, trainer, ref, expected


def _common(rec, trainer, ref, expected, model):
    note_case(rec, framework_steps=trainer.state.global_step, reference_flops=ref)
    assert rec["steps"] == trainer.state.global_step == STEPS
    assert rec["meter_steps"] == STEPS  # the meter's own count agrees with the Trainer's
    assert rec["expected_steps"] == STEPS  # max_steps, for a projected end
    assert rec["flops"] == pytest.approx(ref, rel=0.01)
    assert rec["tokens"] == expected["tokens"] and rec["tokens_real"] == expected["tokens_real"]
    assert (rec["params_total"], rec["params_trainable"]) == params(model)
    assert rec["name"] == "compat-trainer"


def test_full_finetune_with_dynamic_padding_and_evaluation(tok, sqlite_url):
    model = _minilm_classifier()
    rec, trainer, ref, expected = _train(model, tok, sqlite_url, padding="dynamic", evaluate=True)
    _common(rec, trainer, ref, expected, model)
    assert rec["tokens_real"] == rec["tokens"] or rec["tokens_real"] < rec["tokens"]
    assert rec["strategy"] == "full-finetune" and rec["base_model"] == minilm_path()
    assert rec["strategy_basis"].startswith("inferred: pretrained (config._name_or_path=")
    assert "eval_loss" in rec["metrics"]


def test_peft_lora_with_fixed_padding(tok, sqlite_url):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(
        _minilm_classifier(),
        LoraConfig(r=4, lora_alpha=8, target_modules=["query", "value"], task_type="SEQ_CLS"),
    )
    rec, trainer, ref, expected = _train(model, tok, sqlite_url, padding="fixed")
    _common(rec, trainer, ref, expected, model)
    assert rec["tokens"] == STEPS * BATCH * 24 > rec["tokens_real"]  # padding is computed
    assert rec["strategy"] == "lora" and rec["base_model"] == minilm_path()
    assert "peft adapters" in rec["strategy_basis"]


def test_frozen_backbone(tok, sqlite_url):
    model = _minilm_classifier()
    for p in model.bert.parameters():
        p.requires_grad_(False)
    rec, trainer, ref, expected = _train(model, tok, sqlite_url, padding="fixed")
    _common(rec, trainer, ref, expected, model)
    assert rec["params_trainable"] == 32 * 0 + 384 * 2 + 2  # the classifier head only
    assert rec["strategy"] == "frozen-features"


def test_scratch_with_the_callback_attached_by_hand_and_a_declared_strategy(tok, sqlite_url):
    from transformers import BertConfig, BertForSequenceClassification

    from costlens.record.integrations.hf import CostlensCallback

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=64, num_labels=2,
    )  # fmt: skip
    model = BertForSequenceClassification(config)
    rec, trainer, ref, expected = _train(
        model, tok, sqlite_url, padding="dynamic", callbacks=[CostlensCallback()],
        strategy="other",
    )  # fmt: skip
    _common(rec, trainer, ref, expected, model)
    ours = [
        cb for cb in trainer.callback_handler.callbacks if type(cb).__name__ == "CostlensCallback"
    ]
    assert len(ours) == 1  # the one attached by hand; none added on top
    assert rec["strategy"] == "other" and rec["base_model"] is None  # a declaration wins
    assert rec["strategy_basis"].startswith("declared (inferred 'scratch'")


TRAINER_SCRIPT = """
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
from transformers import DataCollatorWithPadding
from tests.compat.helpers import TextDataset, tokenizer

tok = tokenizer()
torch.manual_seed(0)
model = BertForSequenceClassification(BertConfig(
    vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    intermediate_size=64, max_position_embeddings=64, num_labels=2))
args = TrainingArguments(output_dir="out", per_device_train_batch_size=4, max_steps=2,
    report_to=[], use_cpu=True, save_strategy="no", logging_strategy="no", disable_tqdm=True,
    run_name="unchanged-script", optim="sgd")
Trainer(model=model, args=args, train_dataset=TextDataset(tok),
        data_collator=DataCollatorWithPadding(tok)).train()
"""


def test_costlens_run_attaches_the_callback_to_an_unchanged_script(
    cli, store, sqlite_url, tmp_path
):
    from tests.conftest import REPO

    script = tmp_path / "finetune.py"
    script.write_text(TRAINER_SCRIPT)
    res = cli("run", "--db", sqlite_url, "--", "python", str(script), cwd=str(tmp_path),
              env={"PYTHONPATH": str(REPO), "COSTLENS_QUIET": "1"})  # fmt: skip
    assert res.code == 0, res.err[-3000:]
    from costlens.store.queries import list_runs

    (run_id,) = [r["id"] for r in list_runs(store)]
    shown = cli("show", run_id, "--db", sqlite_url)
    assert shown.code == 0
    assert "unchanged-script" in shown.out and "expected_steps" in shown.out
    assert "inferred: no pretrained weights seen" in shown.out  # show says the basis
