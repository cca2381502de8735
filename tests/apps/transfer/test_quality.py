"""The transfer question at equal quality: cells on cost to target, the frontier, the summary."""

from __future__ import annotations

import pytest

from costlens.apps import quality, transfer
from costlens.core.vocab import (
    NEITHER_REACHES,
    NOT_REACHED,
    ONLY_TRANSFER_REACHES,
    SAVES,
    TOO_FEW_REACHED,
)


def run(rid, strategy, cpu, reached, *, labels=50, accuracy=0.96, cost=1.0):
    return transfer.RunFigures.from_record({
        "id": rid, "name": rid, "strategy": strategy, "params_total": 100, "cost_usd": cost,
        "duration_s": 10.0, "metrics": {"labelled_samples": labels, "width": 2,
        "train_cpu_s": cpu, "reached_target": reached, "accuracy": accuracy},
    })  # fmt: skip


def cell_of(scratch, transfer_runs):
    (c,) = quality.cells([*scratch, *transfer_runs])
    return c


SCRATCH = [run(f"s{i}", "scratch", c, True) for i, c in enumerate((2.0, 2.2, 1.8))]


def test_a_cheap_transfer_cell_that_never_reaches_the_target_does_not_save():
    # far cheaper than scratch, but none reached 0.95: the old rule said "saves" (+90%)
    cheap = [run(f"f{i}", "frozen-features", 0.2, False, accuracy=a)
             for i, a in enumerate((0.90, 0.94, 0.92))]  # fmt: skip
    c = cell_of(SCRATCH, cheap)
    assert c.verdict == NOT_REACHED and c.saving_pct is None
    assert c.reached() == 0 and c.scratch_reached() == 3 and c.best() == pytest.approx(0.94)
    assert c.method == transfer.EQUAL_QUALITY and c.as_dict()["best_accuracy"] == 0.94


def test_only_runs_that_reached_the_target_are_compared():
    # two reached cheaply, one failed run burned a lot: the reached ones are compared
    ft = [run("f1", "full-finetune", 0.5, True), run("f2", "full-finetune", 0.55, True),
          run("f3", "full-finetune", 9.0, False)]  # fmt: skip
    c = cell_of(SCRATCH, ft)
    assert c.verdict == SAVES and c.reached() == 2 and len(c.runs) == 3
    geo_transfer, geo_scratch = (0.5 * 0.55) ** 0.5, (2 * 2.2 * 1.8) ** (1 / 3)
    assert c.saving_pct == pytest.approx(100 * (1 - geo_transfer / geo_scratch))


def test_neither_only_transfer_and_too_few_say_so():
    failed = [run(f"x{i}", "scratch", 2.0, False) for i in range(3)]
    missed = [run(f"m{i}", "lora", 0.5, False) for i in range(3)]
    assert cell_of(failed, missed).verdict == NEITHER_REACHES
    made = [run(f"r{i}", "lora", 0.5, True) for i in range(3)]
    assert cell_of(failed, made).verdict == ONLY_TRANSFER_REACHES
    one = [run("o1", "lora", 0.5, True), run("o2", "lora", 0.5, False)]
    c = cell_of(SCRATCH, one)
    assert c.verdict == TOO_FEW_REACHED and c.saving_pct_low is None and c.saving_pct > 0


def test_the_frontier_keeps_the_best_metric_for_each_dollar():
    points = [("lora", 3.0, 0.90, "c"), ("lora", 1.0, 0.80, "a"), ("lora", 2.0, 0.70, "b"),
              ("lora", 4.0, 0.95, "d"), ("scratch", 5.0, 0.97, "s"), ("lora", None, 0.99, "x"),
              ("lora", 2.0, 0.85, "e")]  # fmt: skip
    front = quality.frontier(points)
    assert [(p.cost_usd, p.value, p.run_id) for p in front["lora"]] == [
        (1.0, 0.80, "a"), (2.0, 0.85, "e"), (3.0, 0.90, "c"), (4.0, 0.95, "d")]  # fmt: skip
    assert [p.run_id for p in front["scratch"]] == ["s"]
    loss = quality.frontier([("a", 1.0, 0.5, "1"), ("a", 2.0, 0.7, "2"), ("a", 3.0, 0.2, "3")],
                            higher_is_better=False)  # fmt: skip
    assert [p.run_id for p in loss["a"]] == ["1", "3"]


def test_the_summary_line_says_where_it_saves_and_what_never_reaches():
    ft = [run(f"f{i}", "full-finetune", c, True, labels=600) for i, c in
          enumerate((0.5, 0.55, 0.45))]  # fmt: skip
    scratch600 = [run(f"t{i}", "scratch", c, True, labels=600) for i, c in
                  enumerate((1.0, 1.1, 0.9))]  # fmt: skip
    frozen = [run(f"z{i}", "frozen-features", 0.1, False, labels=labels, accuracy=a)
              for i, (labels, a) in enumerate(((50, 0.8), (600, 0.94), (600, 0.93)))]  # fmt: skip
    line = quality.summary(quality.cells([*SCRATCH, *scratch600, *ft, *frozen]), "95%")
    assert line == ("frozen-features never reaches 95% at any budget here: best 0.94; "
                    "full-finetune reaches 95% for 50% less at w2 × 600 labels.")  # fmt: skip


def _held(record_id, strategy, cpu, logged, *, reached, best, to_target, series=()):
    """A run record held to a target through its series (price.target.with_target's keys)."""
    return transfer.RunFigures.from_record({
        "id": record_id, "name": record_id, "strategy": strategy, "params_total": 100,
        "cost_usd": 1.0, "duration_s": 10.0, "target_reached": reached,
        "target_best_value": best, "cost_to_target_usd": to_target, "target_series": series,
        "metrics": {"labelled_samples": 50, "width": 2, "train_cpu_s": cpu,
                    "reached_target": logged, "accuracy": 0.5},
    })  # fmt: skip


def test_a_series_held_to_the_target_decides_reach_over_the_logged_flag():
    # the runs logged reached_target False (at their own target), but their series reached this
    # one: the series decides; the best is the series' best, not the final value
    ft = [_held(f"f{i}", "full-finetune", 1.0, False, reached=True, best=0.97, to_target=0.4)
          for i in range(3)]  # fmt: skip
    scratch = [_held(f"s{i}", "scratch", c, False, reached=False, best=0.9, to_target=None)
               for i, c in enumerate((2.0, 2.1, 1.9))]  # fmt: skip
    c = cell_of(scratch, ft)
    assert c.reached() == 3 and c.scratch_reached() == 0 and c.verdict == ONLY_TRANSFER_REACHES
    assert c.best() == pytest.approx(0.97) and ft[0].cost_to_target_usd == 0.4
    # a record without a series (no target_best_value) keeps its logged flag
    bare = _held("b", "scratch", 1.0, True, reached=False, best=None, to_target=None)
    assert bare.reached is True and bare.series_reached is None


def test_the_frontier_gets_a_point_per_evaluation_of_a_series():
    r = _held("f", "full-finetune", 1.0, True, reached=True, best=0.96, to_target=0.6,
              series=((0.2, 0.5), (0.6, 0.96), (1.0, 0.93)))  # fmt: skip
    plain = run("p", "scratch", 1.0, True, accuracy=0.9, cost=2.0)
    points = quality.run_points([r, plain])
    assert points == [("full-finetune", 0.2, 0.5, "f"), ("full-finetune", 0.6, 0.96, "f"),
                      ("full-finetune", 1.0, 0.93, "f"), ("scratch", 2.0, 0.9, "p")]  # fmt: skip
    front = quality.frontier(points)
    assert [(p.cost_usd, p.value) for p in front["full-finetune"]] == [(0.2, 0.5), (0.6, 0.96)]
