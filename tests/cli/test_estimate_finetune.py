"""`costlens estimate`: fine-tunes described by samples, the GPU's default precision, attention
flags never ignored."""

from __future__ import annotations

import json

import pytest

BASE = ("estimate", "--params", "7B", "--gpu", "A100-80GB", "--gpus", "8", "--format", "json")


def test_samples_seq_len_epochs_make_the_tokens(cli):
    r = cli(*BASE, "--samples", "52k", "--seq-len", "512", "--epochs", "3")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["tokens"] == pytest.approx(52e3 * 512 * 3)
    assert "padded" in out["tokens_basis"]
    # the attention term is counted, its shape derived from the parameter count, and said so
    assert out["flops"] > 6 * 7e9 * out["tokens"]
    assert "derived" in out["flops_basis"]
    packed = json.loads(cli(*BASE, "--samples", "52k", "--seq-len", "512", "--epochs", "3",
                            "--packing").out)  # fmt: skip
    assert "packed" in packed["tokens_basis"] and packed["tokens"] == out["tokens"]


def test_tokens_means_tokens_only(cli):
    a = json.loads(cli(*BASE, "--tokens", "79.872M").out)
    assert a["tokens"] == pytest.approx(79.872e6)
    assert a["flops"] == pytest.approx(6 * 7e9 * 79.872e6)
    r = cli(*BASE, "--tokens", "1B", "--epochs", "3")
    assert r.code == 2 and "tokens counts every epoch" in r.err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--samples", "52k", "--packing"), "packing describes seq_len"),
        (("--tokens", "1B", "--packing"), "it describes samples, not tokens"),
        (("--samples", "52k", "--seq-len", "512", "--flops-per-sample", "1G"), "one of the two"),
        (("--tokens", "1B", "--flops-per-sample", "1G"), "not both"),
        (("--tokens", "1B", "--trainable-fraction", "0.01"), "scratch trains every parameter"),
        (
            ("--tokens", "1B", "--strategy", "full-finetune", "--trainable-fraction", "0.5"),
            "full-finetune trains every parameter",
        ),
        (("--tokens", "1B", "--scratch-tokens", "2B"), "need --compare"),
        (("--tokens", "1B", "--n-layers", "32"), "needs --seq-len"),
        (("--tokens", "1B", "--d-model", "4096"), "needs --seq-len"),
        (("--epochs", "2"), "give samples too"),
    ],
)
def test_incomplete_descriptions_are_refused(cli, args, words):
    r = cli(*BASE, *args)
    assert r.code == 2 and words in r.err and "Traceback" not in r.err


def test_samples_without_sequences_count_samples_times_epochs(cli):
    """A model without sequences (the issue's frozen ViT on ImageNet, 10 epochs on a V100):
    samples x epochs, 2N forward FLOPs per sample, or the forward FLOPs given per sample."""
    args = ("estimate", "--params", "86e6", "--samples", "1.28e6", "--epochs", "10",
            "--strategy", "frozen-features", "--gpu", "V100", "--format", "json")  # fmt: skip
    r = cli(*args)
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["tokens"] == pytest.approx(1.28e7) and "2N forward FLOPs" in out["tokens_basis"]
    assert out["gpu_hours"] > 0
    given = json.loads(cli(*args, "--flops-per-sample", "17.6G").out)
    assert given["tokens"] == pytest.approx(1.28e7 * 17.6e9 / (2 * 86e6))
    assert given["flops"] == pytest.approx(out["flops"] * 17.6e9 / (2 * 86e6))


def test_a_share_never_moves_a_strategy_that_trains_everything():
    """A plan's scratch job carries a share for its what-ifs: the estimate must not move."""
    from costlens import estimator as est

    base = est.Scenario(params=7e9, tokens=1e9, strategy="scratch")
    a, b = est.estimate_many([base, est.Scenario(params=7e9, tokens=1e9, strategy="scratch",
                                                 trainable_fraction=0.01)])  # fmt: skip
    assert b.gpu_hours == a.gpu_hours and b.mfu_assumed == a.mfu_assumed


@pytest.mark.parametrize(("name", "key"), [("A100-80G", "A100-80GB-SXM"), ("H100-80G", "H100-SXM"),
                                           ("A100-SXM4-80GB", "A100-80GB-SXM")])  # fmt: skip
def test_model_card_spellings_are_known(cli, name, key):
    out = json.loads(cli("estimate", "--params", "1B", "--tokens", "1B", "--gpu", name,
                         "--format", "json").out)  # fmt: skip
    assert out["gpu"] == key


def test_given_shape_is_used_as_given(cli):
    out = json.loads(cli(*BASE, "--tokens", "1B", "--n-layers", "32", "--d-model", "4096",
                         "--seq-len", "2048").out)  # fmt: skip
    assert out["flops"] == pytest.approx((6 * 7e9 + 12 * 32 * 4096 * 2048) * 1e9)
    assert "derived" not in out["flops_basis"]


def test_v100_defaults_to_fp16_and_refuses_bf16(cli):
    out = json.loads(cli("estimate", "--params", "1B", "--tokens", "20B", "--gpu", "V100",
                         "--format", "json").out)  # fmt: skip
    assert out["precision"] == "fp16"
    # priced on the 125 TFLOP/s tensor-core peak, not the 15.7 fp32 one
    assert out["flops_per_s_per_device"] / out["mfu_assumed"] == pytest.approx(125e12)
    r = cli("estimate", "--params", "1B", "--tokens", "20B", "--gpu", "V100", "--precision", "bf16")
    assert r.code == 2 and "it has: fp32, fp16" in r.err
