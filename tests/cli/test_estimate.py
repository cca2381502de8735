"""`costlens estimate` and `costlens fit` through the CLI (in-process)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

KEYS = {
    "strategy", "gpu_hours", "gpu_hours_low", "gpu_hours_high", "wall_hours", "cost_usd",
    "cost_usd_low", "cost_usd_high", "mfu_assumed", "extrapolation",
}  # fmt: skip


def test_estimate_json_has_the_stable_keys(cli):
    r = cli(
        "estimate", "--params", "7e9", "--tokens", "2e12", "--gpu", "A100-80GB", "--gpus", "1024",
        "--strategy", "scratch", "--format", "json",
    )  # fmt: skip
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert set(out) >= KEYS
    assert out["strategy"] == "scratch" and out["gpus"] == 1024
    assert out["flops"] == pytest.approx(6 * 7e9 * 2e12)
    assert out["gpu_hours_low"] < out["gpu_hours"] < out["gpu_hours_high"]
    assert out["cost_usd"] == pytest.approx(out["gpu_hours"] * out["usd_per_gpu_hour"])
    # what the bill shows, and the compute alone beside it (the learned overhead between them)
    assert out["billed_overhead"] >= 1.0
    assert out["gpu_hours_compute"] == pytest.approx(out["gpu_hours"] / out["billed_overhead"])
    # no runs recorded: the cold start, inside the published runs' range (A100, bf16, 7B)
    assert 0 < out["mfu_assumed"] < 1 and out["extrapolation"] is False
    lora = cli("estimate", "--params", "7e9", "--tokens", "2e9", "--gpu", "V100", "--strategy",
               "lora", "--format", "json")  # fmt: skip
    out = json.loads(lora.out)
    assert out["extrapolation"] is True and "strategy lora" in out["extrapolation_reason"]


def test_compare_gives_every_strategy_savings_and_roi(cli):
    r = cli(
        "estimate", "--params", "1e9", "--tokens", "1e10", "--gpu", "H100", "--gpus", "8",
        "--strategy", "lora", "--compare", "--scratch-tokens", "1e12", "--labelled-samples",
        "1000", "--usd-per-label", "0.5", "--format", "json",
    )  # fmt: skip
    assert r.code == 0, r.err
    out = json.loads(r.out)
    rows = {row["strategy"]: row for row in out["strategies"]}
    assert set(rows) == {"scratch", "full-finetune", "lora", "frozen-features"}
    for row in rows.values():
        assert set(row) >= KEYS
    save = rows["scratch"]["total_cost_usd"] - rows["lora"]["total_cost_usd"]
    assert out["savings_usd"] == pytest.approx(save)
    assert out["roi"] == pytest.approx(save / rows["lora"]["total_cost_usd"])
    assert rows["lora"]["label_cost_usd"] == 500.0


def test_counts_take_suffixes_and_strategies_any_case(cli):
    args = ("--gpu", "H100", "--gpus", "8", "--compare", "--format", "json")
    a = cli("estimate", "--params", "1B", "--tokens", "10B", "--strategy", "LoRA", *args)
    b = cli("estimate", "--params", "1e9", "--tokens", "1e10", "--strategy", "lora", *args)
    assert a.code == 0 and b.code == 0, a.err + b.err
    assert json.loads(a.out) == json.loads(b.out)
    assert json.loads(a.out)["compared_strategy"] == "lora"
    r = cli("estimate", "--params", "7 bananas", "--tokens", "1e9")
    assert r.code == 2 and "--params" in r.err and "7B" in r.err


def test_table_output_for_people(cli):
    r = cli("estimate", "--params", "1e8", "--tokens", "1e9", "--gpu", "T4", "--precision", "fp16")
    assert r.code == 0, r.err
    assert "gpu_hours" in r.out and "80% interval" in r.out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--params", "0", "--tokens", "1e9"], "params"),
        (["--params", "1e9", "--tokens", "1e9", "--gpu", "NoSuchGPU"], "unknown accelerator"),
        (
            [
                "--params",
                "1e9",
                "--tokens",
                "1e9",
                "--strategy",
                "lora",
                "--trainable-fraction",
                "1.5",
            ],
            "--trainable-fraction",
        ),
        (["--tokens", "1e9"], "--params"),
    ],
)
def test_impossible_scenarios_fail_with_one_line(cli, args, words):
    r = cli("estimate", *args, "--format", "json")
    assert r.code in (1, 2)
    assert words in r.err and "Traceback" not in r.err
    assert r.out == ""


def _record_runs(db: str, n: int) -> None:
    """SYNTHETIC CPU runs (test data): FLOP/s grows with model size as a known law."""
    from costlens.store import open_store
    from costlens.store.ingest import insert_run

    store = open_store(db)
    for i in range(n):
        params = 1e5 * 2**i
        flops = 6.0 * params * 50_000
        start = datetime(2026, 1, 1) + timedelta(hours=i)
        insert_run(
            store,
            {
                "id": f"synthetic{i:02d}",
                "status": "completed",
                "started_at": start,
                "ended_at": start + timedelta(seconds=flops / (1e10 * (params / 1e5) ** 0.25)),
                "name": "mlp",
                "strategy": "scratch",
                "params_total": int(params),
                "steps": 500,
                "samples": 50_000,
                "flops": flops,
                "precision": "fp32",
                "device_count": 0,
            },
        )
    store.dispose()


@pytest.mark.slow
def test_fit_then_scale_a_recorded_cpu_run(cli, sqlite_url):
    _record_runs(sqlite_url, 6)
    r = cli("fit", "--db", sqlite_url)
    assert r.code == 0, r.err
    assert "runs used 6 of 6" in r.out and "CPU" in r.out
    r = cli("fit", "--db", sqlite_url, "--format", "json")
    assert json.loads(r.out)["runs_used"] == 6
    r = cli(
        "estimate", "--from-run", "synthetic03", "--scale-tokens", "4", "--db", sqlite_url,
        "--format", "json",
    )  # fmt: skip
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert set(out) >= KEYS and out["gpu"] == "CPU" and out["from_run"] == "synthetic03"
    base_s = 6.0 * 8e5 * 50_000 / (1e10 * 8**0.25)
    assert out["wall_hours"] * 3600 == pytest.approx(4 * base_s, rel=1e-3)
    if out["usd_per_gpu_hour"] is None:  # no CPU price row: no invented dollars
        assert out["cost_usd"] is None
    else:  # a dated CPU price row: priced per instance-hour
        assert out["cost_usd"] == pytest.approx(out["gpu_hours"] * out["usd_per_gpu_hour"])
    r = cli("estimate", "--from-run", "synthetic03", "--compare", "--db", sqlite_url, "-f", "json")
    rows = {row["strategy"]: row for row in json.loads(r.out)["strategies"]}
    assert rows["scratch"]["wall_hours"] * 3600 == pytest.approx(base_s, rel=1e-3)  # anchored
    assert rows["lora"]["wall_hours"] < rows["scratch"]["wall_hours"]
    r = cli("estimate", "--from-run", "nope", "--db", sqlite_url)
    assert r.code == 1 and "no run" in r.err


def test_from_run_refuses_params_with_it(cli, sqlite_url):
    _record_runs(sqlite_url, 1)
    r = cli("estimate", "--from-run", "synthetic00", "--params", "1e9", "--db", sqlite_url)
    assert r.code == 2 and "--scale-params" in r.err
