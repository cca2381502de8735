"""`costlens demo`: the real experiment end to end (quick size), and its pure pieces."""

from __future__ import annotations

import json
import socket
from types import SimpleNamespace

import openpyxl
import pytest

from costlens.apps.demo import compare_strategies, total_runs, verdict_cells
from costlens.apps.experiment import SOURCE_TASK, TARGET_TASK, ExperimentConfig, plan
from costlens.cli.common import OutputFormat
from costlens.core.vocab import REACH_VERDICTS, VERDICTS


def _rec(strategy, cost, labels=50, width=2, reached=True, task=TARGET_TASK, repeat=1, cpu=None):
    """A priced run record as the demo reads it back from the store."""
    metrics = {
        "task": task,
        "labelled_samples": labels,
        "width": width,
        "reached_target": reached,
        "accuracy": 0.95,
        "epochs": 3,
        "repeat": repeat,
    }
    if cpu is not None:
        metrics["train_cpu_s"] = cpu
    return {"id": f"{strategy}-{labels}-{width}-{task}-{repeat}", "name": strategy,
            "strategy": strategy, "status": "completed", "started_at": "2026-11-01T00:00:00Z",
            "cost_usd": cost, "params_total": 1000 * width, "metrics": metrics,
            "duration_s": 1.0, "flops": 1e9, "tags": []}  # fmt: skip


def _repeats(strategy, cpus, **kw):
    """Repeats with these CPU seconds, billed (wall time) at US$1.5 per CPU second."""
    return [_rec(strategy, 1.5 * c, repeat=i, cpu=c, **kw) for i, c in enumerate(cpus, 1)]


def test_compare_strategies_gives_each_cell_its_interval_and_verdict():
    rows = compare_strategies(
        _repeats("scratch", [2.0, 2.1, 1.9])
        + _repeats("full-finetune", [0.5, 0.55, 0.45])  # clearly cheaper
        + _repeats("frozen-features", [4.0, 4.4, 3.6], reached=False)  # clearly dearer
        + _repeats("lora", [1.0, 3.0, 2.0])  # spread over both sides
    )
    by = {r["strategy"]: r for r in rows}
    assert by["scratch"]["verdict"] is None and by["scratch"]["saving_pct"] is None
    ft = by["full-finetune"]
    assert ft["saving_pct"] == pytest.approx(75, abs=1) and ft["verdict"] == "saves"
    assert 0 < ft["saving_pct_low"] < ft["saving_pct"] < ft["saving_pct_high"] < 100
    assert ft["basis"] == "training-thread CPU time" and ft["repeats"] == 3
    ff = by["frozen-features"]  # dearer AND short of the target: never compared on cost
    assert ff["verdict"] == "does not reach target" and ff["saving_pct"] is None
    assert ff["reached_target"] == 0 and ff["cost_to_target_usd"] is None
    assert ff["best_accuracy"] == 0.95 and ff["cost_usd"] == 1.5 * 4.0  # reached, at what cost
    assert by["lora"]["verdict"] == "within noise"
    assert by["lora"]["saving_pct_low"] < 0 < by["lora"]["saving_pct_high"]
    # dollars are the runs' bill (their own cost_usd), the CPU seconds a separate figure
    assert by["scratch"]["cost_usd"] == 3.0 and by["scratch"]["cpu_s"] == pytest.approx(2.0)
    assert ft["saved_usd"] == pytest.approx(1.5 * (2.0 - 0.5)) and ft["cost_to_target_usd"] == 0.75
    cells = verdict_cells(rows)
    assert [c["strategy"] for c in cells] == ["frozen-features", "full-finetune", "lora"]
    assert set(cells[0]) >= {"width", "labels", "strategy", "saving_pct", "saving_pct_low",
                             "saving_pct_high", "verdict", "method", "best_accuracy",
                             "cost_to_target_usd"}  # fmt: skip


def test_a_budget_without_its_scratch_run_is_not_compared_with_another_budget():
    rows = compare_strategies([_rec("scratch", 2.0, labels=50), _rec("full-finetune", 0.5,
                                                                     labels=600)])  # fmt: skip
    assert rows == []  # no cell has its scratch cell: nothing is compared


def test_source_task_runs_are_not_compared():
    src = _rec("scratch", 9.0, task=SOURCE_TASK)
    assert compare_strategies([src]) == []


def test_plan_covers_every_strategy_budget_and_width():
    cfg = ExperimentConfig()
    names = plan(cfg)
    cells = len(cfg.widths) * len(cfg.budgets_per_class) * len(cfg.strategies)
    assert cfg.repeats >= 3 and len(names) == cells * cfg.repeats
    assert len({n for n, *_ in names}) == len(names)
    assert len({cfg.run_seed(r) for *_, r in names}) == cfg.repeats  # a seed per repeat


@pytest.mark.slow
def test_demo_records_real_runs_fits_and_forecasts(cli, tmp_path):
    home = tmp_path / "home"
    res = cli("demo", "--quick", "--no-serve", "--format", "json",
              env={"COSTLENS_HOME": str(home)}, timeout=600)  # fmt: skip
    assert res.code == 0, res.err[-3000:]
    out = json.loads(res.out)
    assert len(out["cells"]) == 4 and out["basis"] == "training-thread CPU time"
    assert out["target"] == "accuracy>=0.95" and out["summary"].endswith(".")
    assert set(out["frontier"]) == {"scratch", "full-finetune", "frozen-features"}
    for c in out["cells"]:
        assert c["verdict"] in (*VERDICTS, *REACH_VERDICTS) and c["repeats"] == 3
        if c["saving_pct_low"] is not None:
            assert c["saving_pct_low"] <= c["saving_pct"] <= c["saving_pct_high"]
        if c["verdict"] == "saves":  # the "done when": never a saving below the target
            assert c["reached_target"] > 0 and c["method"].startswith("cost to target")
    # piped: a line per finished run, in order, while it runs
    assert "[1/19] pretrain w2" in res.err and "[19/19] frozen-features" in res.err
    runs = json.loads(cli("runs", "--format", "json", env={"COSTLENS_HOME": str(home)}).out)
    # quick: one pretraining run + 2 budgets x 3 strategies x 3 repeats, all completed real runs
    assert len(runs) == 19 == total_runs(ExperimentConfig.quick())
    assert all(r["status"] == "completed" and r["steps"] > 0 and r["flops"] > 0 for r in runs)
    assert {r["strategy"] for r in runs} == {"scratch", "full-finetune", "frozen-features"}
    assert all(r["cost_usd"] and r["cost_usd"] > 0 for r in runs)  # priced on CPU instance rates
    # one price per run: the demo's cost column is the listing's bill
    billed = {r["id"]: r["cost_usd"] for r in runs}
    for row in out["comparison"]:
        assert row["cost_usd"] is None or row["cost_usd"] <= max(billed.values())
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
    from costlens.apps.demo import pretraining_payback

    src = _rec("scratch", 3.0, task=SOURCE_TASK)
    cmp_rows = compare_strategies(
        _repeats("scratch", [2.0, 2.1, 1.9]) + _repeats("full-finetune", [0.5, 0.6, 0.4])
        + _repeats("scratch", [1.0, 1.1, 0.9], labels=600)
        + _repeats("full-finetune", [1.5, 1.6, 1.4], labels=600)
    )  # fmt: skip
    rows = {r["labels"]: r for r in pretraining_payback([src], cmp_rows)}
    assert rows[50]["break_even_jobs"] == pytest.approx(3.0 / 2.25)  # billed: 1.5 x (2 - 0.5)
    assert rows[600]["break_even_jobs"] is None  # the fine-tune cost more: never pays back
    assert rows[600]["verdict"] == "costs more"


@pytest.mark.slow
def test_two_runs_of_a_reduced_experiment_agree_on_their_verdicts(tmp_path):
    """Two experiments on fresh stores: >= 80% of the verdicts agree, none flips between
    'saves' and 'costs more' (the demo's own promise, on a reduced experiment)."""
    from costlens.apps.demo import priced_experiment, record_experiment
    from costlens.price.tables import PriceTable

    cfg = ExperimentConfig(widths=(2,), max_epochs=12, source_epochs=3, repeats=3)
    prices, runs = PriceTable.load(), []
    for i in (1, 2):
        db = f"sqlite:///{tmp_path / f'run{i}.db'}"
        outcomes = record_experiment(db, cfg)
        cells = verdict_cells(compare_strategies(priced_experiment(db, outcomes, prices)))
        runs.append({(c["width"], c["labels"], c["strategy"]): c["verdict"] for c in cells})
    first, second = runs
    assert set(first) == set(second) and len(first) == 6  # 3 budgets x 2 transfer strategies
    assert all(v in (*VERDICTS, *REACH_VERDICTS) for v in first.values())
    agree = sum(first[k] == second[k] for k in first)
    assert agree >= 0.8 * len(first), (first, second)
    assert not any({first[k], second[k]} == {"saves", "costs more"} for k in first)


def test_a_busy_port_is_refused_before_anything_is_measured(cli, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = cli("demo", "--quick", "--port", str(port),
                  env={"COSTLENS_HOME": str(tmp_path)}, timeout=120)  # fmt: skip
    assert res.code == 2, res.err
    assert f"port {port} on 127.0.0.1 is not free" in res.err and "--port" in res.err
    assert "pretrain" not in res.err and not (tmp_path / "costlens.db").exists()


def test_the_table_shows_each_cell_with_its_interval_and_verdict(capsys):
    from costlens.cli.demo import _print_results

    rows = compare_strategies(
        _repeats("scratch", [2.0, 2.1, 1.9]) + _repeats("full-finetune", [0.5, 0.55, 0.45])
    )  # fmt: skip
    result = SimpleNamespace(
        comparison=rows, cells=verdict_cells(rows), payback=[], model_runs=6, model_path="m",
        summary="full-finetune reaches 95% for 75% less at w2 × 50 labels.",
        forecast_paths=[], forecast_total=dict.fromkeys(
            ("total_cost_usd", "total_cost_usd_low", "total_cost_usd_high"), 1.0),
    )  # fmt: skip
    _print_results(result, ExperimentConfig(), OutputFormat.table)
    out, err = capsys.readouterr()
    (line,) = [ln for ln in out.splitlines() if "full-finetune" in ln]
    assert "saves" in line and "+75% [" in line and "3/3" in line
    assert "training thread's CPU time" in err and "1 transfer cells: 1 saves" in err
    assert "Dollars are each run's bill" in err


@pytest.mark.parametrize("columns", [80, 120])
def test_the_cell_table_fits_80_and_120_columns_one_line_a_row(columns):
    from rich.console import Console

    from costlens.cli.demo import COMPARISON_LAYOUT, _comparison_rows
    from costlens.cli.tables import print_table

    rows = compare_strategies(
        _repeats("scratch", [200.0, 210.0, 190.0], labels=600, width=4)
        + _repeats("frozen-features", [900.0, 1100.0, 1200.0], labels=600, width=4)
        + _repeats("lora", [0.1, 0.1, 0.1], labels=600, width=4, reached=False)
    )  # fmt: skip
    console = Console(width=columns, record=True)
    rows = _comparison_rows(SimpleNamespace(comparison=rows))
    print_table(console, rows, COMPARISON_LAYOUT, title="measured")
    text = console.export_text()
    assert max(map(len, text.splitlines())) <= columns
    (line,) = [ln for ln in text.splitlines() if "frozen-features" in ln]
    assert "costs more" in line and "%" in line and "]" in line  # one line, nothing folded
    (line,) = [ln for ln in text.splitlines() if "lora" in ln]
    assert "does not reach target" in line


def test_each_evaluation_reports_its_step_and_accuracy_and_training_stops_at_the_target():
    import torch

    from costlens.apps.experiment import make_model, train_to_target

    torch.manual_seed(0)
    x, y = torch.randn(64, 1, 8, 8), torch.randint(0, 5, (64,))
    cfg = ExperimentConfig(batch_size=16)
    seen = []
    epochs, acc = train_to_target(make_model(1), (x, y), (x, y), cfg, max_epochs=3, target=None,
                                  on_eval=lambda step, a: seen.append((step, a)))  # fmt: skip
    assert [s for s, _ in seen] == [4, 8, 12] and epochs == 3 and seen[-1][1] == acc
    seen.clear()
    epochs, _ = train_to_target(make_model(1), (x, y), (x, y), cfg, max_epochs=3, target=0.0,
                                on_eval=lambda step, a: seen.append((step, a)))  # fmt: skip
    assert epochs == 1 and len(seen) == 1  # the first evaluation that reaches it ends the run
    assert ExperimentConfig().target == "accuracy>=0.95"
