"""The one transfer-versus-scratch analysis: matching, savings with their figures, selection."""

from __future__ import annotations

import pytest

from costlens.apps import quality, transfer


def rec(rid, strategy, *, params=100, labelled=50, cost=1.0, hours=1.0, energy_j=3.6e6,
        status="completed", started="2026-11-01T00:00:00Z", **metrics):  # fmt: skip
    return {
        "id": rid, "name": rid, "strategy": strategy, "status": status, "started_at": started,
        "params_total": params, "cost_usd": cost, "duration_s": hours * 3600,
        "energy_j": energy_j, "samples": 999, "metrics": {"labelled_samples": labelled, **metrics},
    }  # fmt: skip


def test_each_transfer_run_meets_the_scratch_runs_of_its_size_and_data():
    scratch = [transfer.RunFigures.from_record(r) for r in (
        rec("a", "scratch", params=100, labelled=50, cost=1.0),
        rec("b", "scratch", params=100, labelled=600, cost=9.0),
        rec("c", "scratch", params=400, labelled=50, cost=20.0),
    )]  # fmt: skip
    same = transfer.RunFigures.from_record(rec("t", "lora", params=100, labelled=600))
    peers, basis = transfer.match_scratch(scratch, same)
    assert [p.id for p in peers] == ["b"] and basis == transfer.SAME_SIZE_AND_DATA
    size = transfer.RunFigures.from_record(rec("t", "lora", params=100, labelled=200))
    peers, basis = transfer.match_scratch(scratch, size)
    assert [p.id for p in peers] == ["a", "b"] and basis == transfer.SAME_SIZE
    other = transfer.RunFigures.from_record(rec("t", "lora", params=7, labelled=50))
    peers, basis = transfer.match_scratch(scratch, other)
    assert len(peers) == 3 and basis.startswith("median of all scratch runs")


def test_savings_name_their_figures_and_negative_means_transfer_used_more():
    analysis = transfer.analyse([
        rec("s1", "scratch", cost=2.0, hours=4.0, energy_j=2 * 3.6e6, labelled=1000),
        rec("s2", "scratch", cost=4.0, hours=2.0, energy_j=4 * 3.6e6, labelled=1000),
        rec("t", "full-finetune", cost=1.0, hours=1.0, energy_j=6 * 3.6e6, labelled=1000),
    ])  # fmt: skip
    (p,) = analysis.pairs
    assert p.exact and {r.id for r in p.scratch} == {"s1", "s2"}
    cost = p.saving("cost")
    assert (cost.scratch, cost.transfer, cost.saving_pct) == (3.0, 1.0, pytest.approx(200 / 3))
    assert p.saving("time").saving_pct == pytest.approx(100 * (3 - 1) / 3)
    assert p.saving("energy").saving_pct == pytest.approx(-100.0)  # 6 kWh against 3
    assert p.saving("labelled data").saving_pct == 0
    assert p.savings_usd == pytest.approx(2.0) and p.roi == pytest.approx(2.0)
    assert analysis.cheaper == 1 and len(analysis.priced) == 1


def test_unpriced_and_free_runs_have_no_roi_and_a_missing_scratch_no_pairs():
    free = transfer.analyse([rec("s", "scratch", cost=2.0), rec("t", "lora", cost=0.0)])
    assert free.pairs[0].savings_usd == 2.0 and free.pairs[0].roi is None and not free.priced
    unpriced = transfer.analyse([rec("s", "scratch", cost=None), rec("t", "lora", cost=None)])
    assert unpriced.pairs[0].saving("cost") is None and unpriced.pairs[0].savings_usd is None
    assert transfer.analyse([rec("t", "lora")]).pairs == ()


def test_selection_keeps_completed_runs_newest_first_per_strategy():
    records = [rec(f"s{i}", "scratch", started=f"2026-11-0{i}T00:00:00Z") for i in range(1, 6)]
    records += [rec("t", "lora"), rec("run", "lora", status="running"), rec("o", "other")]
    analysis = transfer.analyse(records, newest_per_strategy=3)
    assert [r.id for r in analysis.scratch_runs] == ["s5", "s4", "s3"]
    assert analysis.excluded == 1 and analysis.older == 2
    assert [r.id for r in analysis.transfer_runs] == ["t"]


def test_metric_names_most_logged_first_and_the_scratch_median():
    analysis = transfer.analyse([
        rec("s1", "scratch", accuracy=0.8, loss=0.5), rec("s2", "scratch", accuracy=0.9),
        rec("t", "lora", accuracy=0.95, note="text"),
    ])  # fmt: skip
    assert analysis.metric_names() == ["accuracy", "loss"]
    assert analysis.pairs[0].scratch_metric("accuracy") == pytest.approx(0.85)


def test_records_are_priced_on_the_price_table():
    from costlens.price.tables import PriceTable

    cpu = {**rec("s", "scratch", cost=None), "device": None, "device_count": 0,
           "host_cpu_count": 4, "flops": 1e12, "ended_at": "2026-11-01T01:00:00Z"}  # fmt: skip
    lora = {**cpu, **rec("t", "lora", cost=None, hours=0.25)}
    lora.update(device=None, device_count=0, host_cpu_count=4, flops=1e11)
    analysis = transfer.analyse([cpu, lora], prices=PriceTable.load())
    (p,) = analysis.pairs
    assert p.scratch[0].cost_usd > p.transfer.cost_usd > 0
    assert p.saving("cost").saving_pct == pytest.approx(75.0, rel=1e-3)


def test_a_saving_interval_is_a_welch_t_interval_on_the_log_ratio():
    pct, low, high = transfer.saving_interval([1.0, 1.1, 0.9], [0.5, 0.55, 0.45])
    assert pct == pytest.approx(50.0, abs=0.5) and 35 < low < pct < high < 65
    # the same spread on more repeats narrows the interval
    _, low6, high6 = transfer.saving_interval([1.0, 1.1, 0.9] * 2, [0.5, 0.55, 0.45] * 2)
    assert high6 - low6 < high - low
    assert transfer.saving_interval([1.0], [0.5]) == (pytest.approx(50.0), None, None)
    assert transfer.saving_interval([2.0, 2.0], [1.0, 1.0]) == (50.0, 50.0, 50.0)


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [(5.0, 20.0, "saves"), (-20.0, -5.0, "costs more"), (-5.0, 20.0, "within noise"),
     (0.0, 10.0, "within noise"), (None, None, None)],
)  # fmt: skip
def test_a_verdict_says_whether_the_interval_holds_zero(low, high, expected):
    assert transfer.verdict(low, high) == expected


def test_cells_group_repeats_and_compare_on_cpu_time_else_cost():
    def run(rid, strategy, labelled, cpu=None, cost=1.0):
        extra = {"train_cpu_s": cpu, "width": 2} if cpu is not None else {}
        return transfer.RunFigures.from_record(
            rec(rid, strategy, labelled=labelled, cost=cost, **extra)
        )

    runs = [run(f"s{i}", "scratch", 50, cpu=c) for i, c in enumerate((2.0, 2.2, 1.8))]
    runs += [run(f"f{i}", "full-finetune", 50, cpu=c) for i, c in enumerate((1.0, 1.1, 0.9))]
    runs += [run("s9", "scratch", 600, cost=4.0), run("l9", "lora", 600, cost=1.0)]
    runs += [run("x9", "lora", 999)]  # no scratch of its size and data: not a cell
    lora, ft = quality.cells(runs)  # sorted by width (none first), labels, strategy
    assert (ft.strategy, ft.width, ft.labels, len(ft.runs), len(ft.scratch)) == (
        "full-finetune", 2, 50, 3, 3,
    )  # fmt: skip
    assert ft.basis == transfer.CPU_TIME_BASIS and ft.verdict == "saves"
    assert ft.label == "w2 × 50 labels × full-finetune" and ft.as_dict()["repeats"] == 3
    assert lora.basis == "cost" and lora.saving_pct == pytest.approx(75.0)
    assert lora.verdict is None and lora.label == "100 params × 600 labels × lora"
    assert ft.method == lora.method == transfer.WHOLE_RUNS  # no run logged reached_target
