"""Does the job fit: model states by precision, optimizer and strategy, sharded over the GPUs,
plus activations, against the GPU's memory (``estimator.memory``, ``data/memory_bytes.csv``)."""

from __future__ import annotations

import json

import pytest

from costlens import estimator as est
from costlens.estimator.memory import memory_table


def _one(**kw):
    return est.estimate(est.Scenario(**kw))


def test_the_table_holds_the_zero_accounting():
    t = memory_table()
    assert t[("trained", "adamw", "mixed")] == 16  # ZeRO Sec. 3.1: 2 + 2 + 12
    assert t[("frozen", "*", "mixed")] == 2


def test_a_7b_full_finetune_on_one_t4_is_refused_with_the_least_gpu_count():
    e = _one(params=7e9, tokens=1e9, strategy="full-finetune", gpu="T4", seq_len=2048)
    assert not e.fits and e.min_gpus == 8
    assert "112.0 GB" in e.memory_basis and "at least 8 GPUs" in e.memory_basis
    ok = _one(params=7e9, tokens=1e9, strategy="full-finetune", gpu="T4", gpus=8, seq_len=2048)
    assert ok.fits


def test_lora_keeps_states_only_for_the_adapters():
    full = _one(params=7e9, tokens=1e9, strategy="full-finetune", seq_len=2048)
    lora = _one(params=7e9, tokens=1e9, strategy="lora", trainable_fraction=0.01, seq_len=2048)
    assert lora.fits and not full.fits  # 112 GB of states against 80 GB
    assert lora.memory_gb_per_gpu < full.memory_gb_per_gpu / 4


def test_sharding_optimizer_and_micro_batch_change_the_answer():
    kw = dict(params=7e9, tokens=1e9, strategy="full-finetune", gpus=8, seq_len=4096)
    adam, sgd = _one(**kw), _one(**kw, optimizer="sgd")
    assert sgd.memory_gb_per_gpu < adam.memory_gb_per_gpu
    big = _one(**kw, tokens_per_step=4 * 4096)
    assert big.memory_gb_per_gpu > adam.memory_gb_per_gpu
    with pytest.raises(Exception, match="optimizer"):
        _one(**kw, optimizer="lion")


def test_single_gpu_instances_are_flagged():
    e = _one(params=7e9, tokens=1e12, gpu="T4", gpus=1000)
    assert e.single_gpu_instances and "single-GPU instances" in e.memory_basis


def test_cli_refuses_a_job_that_does_not_fit(cli):
    r = cli("estimate", "--params", "7B", "--tokens", "1B", "--strategy", "full-finetune",
            "--gpu", "T4", "--seq-len", "2048")  # fmt: skip
    assert r.code == 1 and "does not fit" in r.err and "at least 8 GPUs" in r.err
    assert "Traceback" not in r.err
    ok = cli("estimate", "--params", "7B", "--tokens", "1B", "--strategy", "full-finetune",
             "--gpu", "T4", "--gpus", "8", "--seq-len", "2048", "--format", "json")  # fmt: skip
    assert ok.code == 0 and json.loads(ok.out)["fits"] is True
