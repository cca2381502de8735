"""Steady-state MFU beside whole-run MFU (issue 20): the window the recorder keeps, its sums over
ranks in the store, and the figure priced from it (None, never a guess, without a window)."""

from __future__ import annotations

from pathlib import Path

import pytest

from costlens.core.vocab import STEADY_AFTER_STEPS
from costlens.price import run_cost
from costlens.price.tables import PriceTable
from costlens.record.steady import SteadyWindow
from costlens.store import insert_run, update_run, upsert_rank
from costlens.store.progress import rank_sums
from costlens.store.queries import get_run, utcnow

FIXTURES = Path(__file__).parent.parent / "fixtures"
PEAK = 8 * 312e12  # A100-80GB-SXM bf16 dense peak x 8 GPUs (spec table)


@pytest.fixture(scope="module")
def prices() -> PriceTable:
    return PriceTable.load(FIXTURES / "prices_small.csv")


def _run(**kw):
    return {"id": "r", "device": "NVIDIA A100-SXM4-80GB", "device_count": 8, "precision": "bf16",
            "duration_s": 100.0, "provider": "testcloud", "instance_type": "tc.8xa100",
            **kw}  # fmt: skip


def test_whole_run_and_steady_state_mfu_are_both_reported(prices):
    # 100 s in all, 20 s of them start-up and compile: the whole run's MFU is diluted by them.
    # Steady state: 0.5 x PEAK FLOP/s for 80 s; whole run: the same FLOPs over 100 s = 0.4.
    c = run_cost(_run(flops=0.5 * PEAK * 80, steady_flops=0.5 * PEAK * 70, steady_s=70.0),
                 prices=prices, alternatives=False)  # fmt: skip
    assert c["mfu"] == pytest.approx(0.4)
    assert c["mfu_steady_state"] == pytest.approx(0.5)
    assert c["steady_state_basis"] == f"70 s after the first {STEADY_AFTER_STEPS} steps"


@pytest.mark.parametrize(
    "window, why",
    [({}, "took 5 steps or fewer"), ({"steady_flops": 0.0, "steady_s": 3.0}, "no FLOPs counted")],
)
def test_no_window_is_none_and_says_why(prices, window, why):
    c = run_cost(_run(flops=1e18, **window), prices=prices, alternatives=False)
    assert c["mfu"] is not None and c["mfu_steady_state"] is None
    assert why in c["steady_state_basis"]


def test_the_recorder_opens_the_window_after_the_first_steps(monkeypatch):
    clock = iter([10.0, 10.0, 14.0])  # the window opens at 10 s; read again at 14 s
    monkeypatch.setattr("costlens.record.steady.time.monotonic", lambda: next(clock))
    window = SteadyWindow()  # the recorder's: read on its thread at each flush
    assert window.values(STEADY_AFTER_STEPS - 1, 1e9) == {"steady_flops": None, "steady_s": None}
    assert window.values(STEADY_AFTER_STEPS, 5e9) == {"steady_flops": 0.0, "steady_s": 0.0}
    assert window.values(STEADY_AFTER_STEPS + 10, 9e9) == {"steady_flops": 4e9, "steady_s": 4.0}


def test_the_store_sums_the_window_over_ranks_once_every_rank_has_one(any_store):
    insert_run(any_store, {"id": "ddp", "started_at": utcnow(), "project": "p"})

    def rank(i, flops, steady_flops, steady_s):
        upsert_rank(any_store, {"run_id": "ddp", "rank": i, "steps": 9, "flops": flops,
                                "steady_flops": steady_flops, "steady_s": steady_s})  # fmt: skip
        update_run(any_store, "ddp", rank_sums("ddp"))
        return get_run(any_store, "ddp")

    got = rank(0, 5e12, 3e12, 12.0)
    assert (got["steady_flops"], got["steady_s"]) == (3e12, 12.0)
    got = rank(1, 5e12, None, None)  # rank 1 still warming up: no window for the run yet
    assert (got["steady_flops"], got["steady_s"]) == (None, None)
    got = rank(1, 6e12, 2e12, 11.0)
    assert (got["steady_flops"], got["steady_s"]) == (5e12, 12.0)  # FLOPs summed, longest span
