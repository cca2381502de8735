"""`costlens demo`: the real experiment end to end (quick size), and its pure pieces."""

from __future__ import annotations

import json

import openpyxl
import pytest

from costlens.demo import compare_strategies, total_runs
from costlens.experiment import SOURCE_TASK, TARGET_TASK, ExperimentConfig, plan


def _rec(strategy, cost, labels=50, width=2, reached=True, task=TARGET_TASK):
    """A priced run record as the demo reads it back from the store."""
    metrics = {"task": task, "labelled_samples": labels, "width": width,
               "reached_target": reached, "accuracy": 0.95, "epochs": 3}  # fmt: skip
    return {"id": f"{strategy}-{labels}-{width}-{task}", "name": strategy, "strategy": strategy,
            "status": "completed", "started_at": "2026-11-01T00:00:00Z", "cost_usd": cost,
            "params_total": 1000 * width, "metrics": metrics, "duration_s": 1.0,
            "flops": 1e9, "tags": []}  # fmt: skip


def test_compare_strategies_reports_measured_savings_and_losses():
    rows = compare_strategies(
        [
            _rec("scratch", 2.0),
            _rec("full-finetune", 0.5),
            _rec("frozen-features", 3.0, reached=False),
        ]
    )
    by = {r["strategy"]: r for r in rows}
    assert by["scratch"]["saving_vs_scratch"] is None
    assert by["full-finetune"]["saving_vs_scratch"] == pytest.approx(0.75)
    assert by["frozen-features"]["saving_vs_scratch"] == pytest.approx(-0.5)  # cost more: said so
    assert by["frozen-features"]["reached_target"] is False
    assert by["full-finetune"]["saved_usd"] == pytest.approx(1.5)


def test_a_budget_without_its_scratch_run_is_not_compared_with_another_budget():
    rows = compare_strategies([_rec("scratch", 2.0, labels=50), _rec("full-finetune", 0.5,
                                                                     labels=600)])  # fmt: skip
    finetune = next(r for r in rows if r["strategy"] == "full-finetune")
    assert finetune["saving_vs_scratch"] is None and finetune["saved_usd"] is None
    assert [(r["labelled_samples"], r["strategy"]) for r in rows] == [
        (50, "scratch"), (600, "full-finetune")
    ]  # fmt: skip


def test_source_task_runs_are_not_compared():
    src = _rec("scratch", 9.0, task=SOURCE_TASK)
    assert compare_strategies([src]) == []


def test_plan_covers_every_strategy_budget_and_width():
    cfg = ExperimentConfig()
    names = plan(cfg)
    assert len(names) == len(cfg.widths) * len(cfg.budgets_per_class) * len(cfg.strategies)
    assert len({n for n, *_ in names}) == len(names)


@pytest.mark.slow
def test_demo_records_real_runs_fits_and_forecasts(cli, tmp_path):
    home = tmp_path / "home"
    res = cli("demo", "--quick", "--no-serve", env={"COSTLENS_HOME": str(home)}, timeout=600)
    assert res.code == 0, res.err[-3000:]
    assert "Measured on this machine" in res.out
    table = res.out.split("Measured on this machine")[1].split("Pretraining")[0]
    assert table.count("%") >= 1 + 4  # the title's target, then each transfer run vs scratch
    runs = json.loads(cli("runs", "--format", "json", env={"COSTLENS_HOME": str(home)}).out)
    # quick: one pretraining run + 2 budgets x 3 strategies, every one a completed real run
    assert len(runs) == 7 == total_runs(ExperimentConfig.quick())
    assert all(r["status"] == "completed" and r["steps"] > 0 and r["flops"] > 0 for r in runs)
    assert {r["strategy"] for r in runs} == {"scratch", "full-finetune", "frozen-features"}
    assert all(r["cost_usd"] and r["cost_usd"] > 0 for r in runs)  # priced on CPU instance rates
    state = home / "costlens.db.costlens"  # beside the default store, not shared with others
    assert (state / "model.pkl").is_file() and not (home / "model.pkl").exists()
    wb = openpyxl.load_workbook(state / "demo_forecast.xlsx")
    assert "Summary" in wb.sheetnames
    forecast = json.loads((state / "demo_forecast.json").read_text())
    assert (
        forecast["total_cost_usd_low"]
        <= forecast["total_cost_usd"]
        <= forecast["total_cost_usd_high"]
    )


def test_pretraining_payback_is_measured_cost_over_measured_saving():
    from costlens.demo import pretraining_payback

    src = _rec("scratch", 3.0, task=SOURCE_TASK)
    cmp_rows = compare_strategies(
        [_rec("scratch", 2.0), _rec("full-finetune", 0.5),
         _rec("scratch", 1.0, labels=600), _rec("full-finetune", 1.5, labels=600)]
    )  # fmt: skip
    rows = {r["labelled_samples"]: r for r in pretraining_payback([src], cmp_rows)}
    assert rows[50]["break_even_jobs"] == pytest.approx(3.0 / 1.5)  # pays back after 2 jobs
    assert rows[600]["break_even_jobs"] is None  # the fine-tune cost more: never pays back
