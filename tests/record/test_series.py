"""Metric series: every logged point kept with its step and time, bounded per name, through the
journal into the store; rank 0's points only (or the rank chosen); replay writes each once."""

from __future__ import annotations

import time

import pytest

import costlens
from costlens.record import journal_files
from costlens.record.distributed import DistInfo
from costlens.record.journal_records import check_record
from costlens.record.options import run_options
from costlens.record.run import ProfiledRun
from costlens.record.series import SeriesBuffer
from costlens.store.series import MetricPoint, apply_metric_ops, metric_series


def _apply(held: dict, puts: list, drops: list) -> None:
    """What the store does with ops (a dict standing in for the table)."""
    for name, step in drops:
        held.pop((name, step), None)
    for name, step, t, v in puts:
        held[(name, step)] = (t, v)


def test_the_bound_keeps_first_latest_extremes_and_thins_evenly():
    buf, held = SeriesBuffer(limit=20), {}
    values = [((i * 37) % 101) / 100 for i in range(1000)]  # a noisy curve
    for i, v in enumerate(values):
        buf.add("acc", i, 1000.0 + i, v)
        if i % 7 == 6:  # a flush now and then
            _apply(held, *buf.drain())
    _apply(held, *buf.drain())
    kept = buf.kept("acc")
    steps = [s for s, _, _ in kept]
    assert len(kept) <= 20 + 3  # the bound (+ latest, lowest, highest when off the stride)
    assert steps[0] == 0 and steps[-1] == 999  # the first and the latest
    assert max(v for *_, v in kept) == max(values) and min(v for *_, v in kept) == min(values)
    on_stride = [s for s in steps if s % 64 == 0]
    assert on_stride == list(range(0, 1000, 64))  # evenly thinned over the whole run
    assert {(("acc", s)): (t, v) for s, t, v in kept} == held  # the store holds exactly these


def test_every_point_is_kept_under_the_bound_and_a_step_logged_again_replaces():
    buf, held = SeriesBuffer(limit=20), {}
    for i in range(10):
        buf.add("loss", i * 100, float(i), 1.0 / (i + 1))
    buf.add("loss", 900, 99.0, 0.05)  # the same step again: the later value
    _apply(held, *buf.drain())
    assert [s for s, _, _ in buf.kept("loss")] == [i * 100 for i in range(10)]
    assert held[("loss", 900)] == (99.0, 0.05) and len(held) == 10
    assert buf.drain() == ([], [])  # nothing new: nothing written


def test_names_beyond_the_bound_keep_no_series():
    buf = SeriesBuffer(limit=10, names=2)
    for name in ("a", "b", "c"):
        buf.add(name, 0, 0.0, 1.0)
    puts, _ = buf.drain()
    assert sorted({p[0] for p in puts}) == ["a", "b"] and buf.dropped == 1


def test_rank_zero_or_the_chosen_rank_keeps_the_points():
    run = ProfiledRun(run_options({"db": "sqlite://"}))
    run.dist = DistInfo(rank=1, world_size=2)
    run.log(acc=0.5, step=3)  # rank 1, no choice: rank 0's are the run's
    assert run._series.drain() == ([], [])
    run.log(acc=0.6, step=4, rank=1)  # rank 1 chosen, on rank 1
    (put,), _ = run._series.drain()
    assert put[:2] == ["acc", 4] and put[3] == 0.6
    run.dist = DistInfo(rank=0, world_size=2)
    run.log(acc=0.7, step=5, rank=1)  # rank 1 chosen, on rank 0: not here
    assert run._series.drain() == ([], [])
    assert run._metrics == {"acc": 0.7}  # the final values are kept on every rank, as before


def test_text_and_nan_keep_no_series_but_stay_final_values():
    run = ProfiledRun(run_options({"db": "sqlite://"}))
    run.log(note="warm", loss=float("nan"), acc=1, step=2)
    (put,), _ = run._series.drain()
    assert put[0] == "acc" and put[1] == 2 and put[3] == 1.0
    assert run._metrics == {"note": "warm", "loss": None, "acc": 1}


def test_series_reach_the_store_for_the_context_manager_and_the_decorator(store, sqlite_url):
    with costlens.profile(db=sqlite_url, sample_interval_s=0.02, quiet=True) as run:
        for i in range(5):
            run.step()
            run.log(acc=0.5 + i / 10)  # the step defaults to the run's current step
    got = metric_series(store, [run.id], "acc")
    assert [p.step for p in got] == [1, 2, 3, 4, 5]
    assert [p.value for p in got] == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])
    assert all(isinstance(p, MetricPoint) and p.run_id == run.id for p in got)
    assert got[0].t_unix_s <= got[-1].t_unix_s <= time.time()

    @costlens.profile(db=sqlite_url, sample_interval_s=0.02, quiet=True)
    def train():
        for i in range(3):
            costlens.log(loss=1.0 / (i + 1), step=10 * i)  # no handle on the run: the module's

    train()
    (other,) = {p.run_id for p in metric_series(store, _ids(store), "loss")}
    assert [p.step for p in metric_series(store, [other], "loss")] == [0, 10, 20]


def _ids(store) -> list[str]:
    from costlens.store.queries import list_runs

    return [r["id"] for r in list_runs(store)]


def test_a_store_down_during_the_run_keeps_the_series_in_the_journal_for_sync(
    tmp_path, store, sqlite_url, cli
):
    bad = f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'x.db'}"
    with costlens.profile(db=bad, sample_interval_s=0.02, quiet=True) as run:
        for i in range(30):
            run.log(acc=i / 30, step=i)
    assert journal_files.pending_files() and metric_series(store, [run.id]) == []
    res = cli("sync", "--into", sqlite_url)
    assert res.code == 0, res.err
    got = metric_series(store, [run.id], "acc")
    assert [p.step for p in got] == list(range(30))  # each once
    assert cli("sync", "--into", sqlite_url).code == 0
    assert len(metric_series(store, [run.id], "acc")) == 30


def test_metric_ops_are_idempotent_and_the_lowest_rank_is_the_runs(any_store):
    ops = {"run_id": "r", "rank": 1, "put": [["acc", 1, 10.0, 0.5], ["acc", 2, 20.0, 0.6]]}
    apply_metric_ops(any_store, ops)
    apply_metric_ops(any_store, ops)  # a journal replayed twice
    assert [p.value for p in metric_series(any_store, ["r"])] == [0.5, 0.6]
    apply_metric_ops(any_store, {"run_id": "r", "rank": 0, "put": [["acc", 5, 50.0, 0.9]]})
    assert metric_series(any_store, ["r"], "acc") == [MetricPoint("r", "acc", 5, 50.0, 0.9)]
    apply_metric_ops(any_store, {"run_id": "r", "rank": 0, "put": [], "drop": [["acc", 5]]})
    assert [p.step for p in metric_series(any_store, ["r"])] == [1, 2]  # rank 1's again


@pytest.mark.parametrize(
    ("rec", "problem"),
    [
        ({"k": "metrics", "rank": 0, "put": []}, "run id"),
        ({"k": "metrics", "run_id": "r", "rank": "0", "put": []}, "rank"),
        ({"k": "metrics", "run_id": "r", "rank": 0, "put": [["a", 1.5, 1.0, 2.0]]}, "[name"),
        ({"k": "metrics", "run_id": "r", "rank": 0, "put": [["a", 1, 1.0, None]]}, "finite"),
        ({"k": "metrics", "run_id": "r", "rank": 0, "drop": [["a"]]}, "dropped"),
    ],
)
def test_a_bad_metric_record_is_refused_before_replay(rec, problem):
    assert problem in (check_record(rec) or "")
    good = {"k": "metrics", "run_id": "r", "rank": 0, "put": [["a", 1, 1.0, 2.0]], "drop": []}
    assert check_record(good) is None


RANKS = """
import os
import costlens

rank = int(os.environ["RANK"])
with costlens.profile(project="ranks", db=os.environ["DB"], sample_interval_s=0.05) as run:
    for i in range(3):
        run.step()
        run.log(acc=0.1 * i + rank, step=i)  # every rank logs: rank 0's are the run's
        run.log(shard_loss=float(rank), step=i, rank=1)  # a metric only rank 1 knows
print("run", run.id)
"""


@pytest.mark.slow
def test_torchrun_ranks_never_double_count(store, sqlite_url, tmp_path, monkeypatch):
    from tests.record.test_distributed import _torchrun

    script = tmp_path / "ranks.py"
    script.write_text(RANKS)
    monkeypatch.setenv("DB", sqlite_url)
    proc = _torchrun(str(script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_id,) = _ids(store)
    acc = metric_series(store, [run_id], "acc")
    assert [(p.step, p.value) for p in acc] == [(0, 0.0), (1, 0.1), (2, pytest.approx(0.2))]
    shard = metric_series(store, [run_id], "shard_loss")
    assert [(p.step, p.value) for p in shard] == [(0, 1.0), (1, 1.0), (2, 1.0)]
    with store.engine.connect() as conn:
        from sqlalchemy import text

        rows = conn.execute(text("SELECT rank, name, COUNT(*) FROM metrics GROUP BY rank, name"))
        assert sorted(tuple(r) for r in rows) == [(0, "acc", 3), (1, "shard_loss", 3)]
