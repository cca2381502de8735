"""The run record is declared once (``RunRecord``) and held equal to the ``runs`` table."""

from __future__ import annotations

from datetime import datetime

from costlens.store.models import (
    DERIVED_RUN_KEYS,
    RECORD_KEY_OF_COLUMN,
    RUN_KEYS,
    Run,
    RunRecord,
    run_column_defaults,
)
from costlens.store.queries import run_record


def test_the_record_keys_are_the_run_columns_plus_the_derived_keys():
    columns = [c.name for c in Run.__table__.columns]
    shown = {RECORD_KEY_OF_COLUMN.get(c, c) for c in columns} - {None}
    assert set(RUN_KEYS) == shown | set(DERIVED_RUN_KEYS)
    assert tuple(RunRecord.__annotations__) == RUN_KEYS
    assert len(RUN_KEYS) == len(set(RUN_KEYS))


def test_a_row_becomes_a_record_with_every_key_in_order_and_typed_values():
    row = {c.name: None for c in Run.__table__.columns}
    row.update(
        id="r1",
        status="completed",
        strategy="lora",
        started_at=datetime(2026, 1, 1, 12, 0, 0),
        ended_at="2026-01-01T12:30:00",
        steps="12",  # a driver that returns text still gives numbers
        params_total=2**62 + 1,  # kept exact: not passed through a float
        energy_j=float("nan"),
        device_name="NVIDIA A100-SXM4-80GB",
        tags_json='["a"]',
        metrics_json='{"loss": 1.5}',
        inferred_json='{"strategy": {"value": "lora", "basis": "peft config"}}',
    )
    rec = run_record(row)
    assert tuple(rec) == RUN_KEYS
    assert rec["started_at"] == "2026-01-01T12:00:00Z" and rec["duration_s"] == 1800.0
    assert (rec["steps"], rec["samples"], rec["world_size"], rec["flops"]) == (12, 0, 1, 0.0)
    assert rec["params_total"] == 2**62 + 1 and rec["energy_j"] is None
    assert (rec["device"], rec["tags"], rec["metrics"]) == (
        "NVIDIA A100-SXM4-80GB",
        ["a"],
        {"loss": 1.5},
    )
    assert rec["strategy_basis"] == "inferred: peft config" and rec["base_model_basis"] is None


def test_an_insert_fills_the_not_null_columns_from_the_model():
    defaults = run_column_defaults()
    assert defaults["world_size"] == 1 and defaults["tags_json"] == "[]"
    not_null = {c.name for c in Run.__table__.columns if not c.nullable}
    assert set(defaults) == not_null - {"id", "started_at"}
