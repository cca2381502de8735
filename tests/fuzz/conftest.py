"""Input fuzzing (issue 13): hypothesis over every CLI command, every file format and the
dashboard's upload. Bounded for CI: derandomized (the same cases on every run), a fixed number of
examples per test (``FUZZ_SCALE`` multiplies them for a longer local run), about 2 minutes in all.

Each case ends in one of three outcomes, counted and printed at the end of the session:
``accepted`` (exit 0 and a correct answer), ``clean error`` (non-zero exit with one message, no
traceback, no "costlens bug", no output file), or a failure (the test fails).
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

FUZZ_COUNTS: Counter[str] = Counter()
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))


def fuzz_settings(max_examples: int, **extra):
    """Hypothesis settings of one fuzz test: derandomized, no deadline (a shared CI machine)."""
    return settings(
        max_examples=max(1, int(max_examples * SCALE)),
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                               HealthCheck.data_too_large],
        **extra,
    )  # fmt: skip


def outcome(name: str, ok: bool) -> None:
    """Count one case of fuzz test ``name``: accepted (``ok``) or a clean error."""
    FUZZ_COUNTS["tried"] += 1
    FUZZ_COUNTS[f"{name}: {'accepted' if ok else 'clean error'}"] += 1
    FUZZ_COUNTS["accepted" if ok else "clean errors"] += 1


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not FUZZ_COUNTS:
        return
    tr = terminalreporter
    tr.section("input fuzzing")
    tr.write_line(
        f"cases tried {FUZZ_COUNTS['tried']}, accepted {FUZZ_COUNTS['accepted']}, "
        f"clean errors {FUZZ_COUNTS['clean errors']}"
    )
    for key in sorted(k for k in FUZZ_COUNTS if ": " in k):
        tr.write_line(f"  {key}: {FUZZ_COUNTS[key]}")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("COSTLENS_QUIET", "1")


@pytest.fixture(scope="module")
def prices():
    from costlens.price.tables import PriceTable

    return PriceTable.load()


@pytest.fixture(scope="module")
def model():
    from costlens import estimator

    return estimator.load_model()
