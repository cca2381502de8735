"""Metric series from the frameworks: a Hugging Face Trainer evaluating every N steps (under
`costlens run`, script unchanged) and a Lightning run with validation record one point per
evaluation at the trainer's global step; the cost to target reads them."""

from __future__ import annotations

import json

import torch

from costlens.store.queries import list_runs
from costlens.store.series import metric_series
from tests.compat.helpers import profiled

HF_EVERY_N = """
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
from transformers import DataCollatorWithPadding
from tests.compat.helpers import TextDataset, tokenizer

tok = tokenizer()
torch.manual_seed(0)
model = BertForSequenceClassification(BertConfig(
    vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    intermediate_size=64, max_position_embeddings=64, num_labels=2))
args = TrainingArguments(output_dir="out", per_device_train_batch_size=4, max_steps=6,
    eval_strategy="steps", eval_steps=2, per_device_eval_batch_size=8,
    report_to=[], use_cpu=True, save_strategy="no", logging_strategy="no", disable_tqdm=True,
    optim="sgd")
Trainer(model=model, args=args, train_dataset=TextDataset(tok), eval_dataset=TextDataset(tok, n=8),
        data_collator=DataCollatorWithPadding(tok)).train()
"""


def test_hf_trainer_evaluating_every_n_steps_records_its_series(cli, store, sqlite_url, tmp_path):
    from tests.conftest import REPO

    script = tmp_path / "finetune.py"
    script.write_text(HF_EVERY_N)
    res = cli("run", "--db", sqlite_url, "--", "python", str(script), cwd=str(tmp_path),
              env={"PYTHONPATH": str(REPO), "COSTLENS_QUIET": "1"})  # fmt: skip
    assert res.code == 0, res.err[-3000:]
    (run,) = list_runs(store)
    loss = metric_series(store, [run["id"]], "eval_loss")
    assert [p.step for p in loss] == [2, 4, 6]  # each evaluation, at the Trainer's global step
    assert all(p.value > 0 for p in loss) and loss[0].t_unix_s < loss[-1].t_unix_s
    assert run["metrics"]["eval_loss"] == loss[-1].value  # the final value, as before
    assert "train_loss" in run["metrics"]  # the end-of-training summary: final value only
    assert metric_series(store, [run["id"]], "train_loss") == []
    best = min(p.value for p in loss)
    out = cli("show", run["id"], "--db", sqlite_url, "-f", "json", "--target", f"loss<={best}")
    shown = json.loads(out.out)
    assert shown["target_reached"] and shown["target_metric"] == "eval_loss"


def test_lightning_validation_records_its_series(sqlite_url, store, tmp_path):
    import lightning.pytorch as L

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch, _i):
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def validation_step(self, batch, _i):
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    x = torch.randn(32, 4)
    data = list(zip(x.split(4), (x.sum(1, keepdim=True)).split(4), strict=True))
    with profiled(sqlite_url) as rec:
        trainer = L.Trainer(
            max_steps=6, val_check_interval=2, accelerator="cpu", logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0, limit_val_batches=1, default_root_dir=str(tmp_path),
        )  # fmt: skip
        loader = torch.utils.data.DataLoader(data, batch_size=None)
        trainer.fit(Module(), loader, torch.utils.data.DataLoader(data[:1], batch_size=None))
    got = metric_series(store, [rec["id"]], "val_loss")
    assert [p.step for p in got] == [2, 4, 6]  # each validation, at trainer.global_step
    assert rec["metrics"]["val_loss"] == got[-1].value
