"""One public ``profile``: ``costlens.profile``, priced and reporting (issue 20: the record layer's
``profile`` was a second public one that silently lacked the price and the trackers)."""

from __future__ import annotations

import ast

import costlens
import costlens.apps.tracking as tracking
import costlens.record
import costlens.record.api
from costlens.apps.tracking.rate import hourly_rate
from tests.conftest import REPO


def _binds_profile(tree: ast.Module) -> bool:
    """A module-level ``def profile``, ``profile = ...`` or ``import ... as profile``."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "profile":
            return True
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "profile" for t in node.targets
        ):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (a.asname or a.name) == "profile" for a in node.names
        ):
            return True
    return False


def test_costlens_profile_is_the_only_public_profile():
    found = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "costlens").rglob("*.py"))
        if _binds_profile(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert found == ["costlens/apps/tracking/__init__.py"]
    assert costlens.profile is tracking.profile
    assert not hasattr(costlens.record, "profile") and "profile" not in costlens.record.__all__
    assert not hasattr(costlens.record.api, "profile")


def test_costlens_profile_prices_and_reports(sqlite_url, monkeypatch):
    monkeypatch.setenv("COSTLENS_QUIET", "1")
    ended = []
    monkeypatch.setattr(tracking, "report_end", lambda run_id, db: ended.append((run_id, db)))
    with costlens.profile(db=sqlite_url, provider="aws", sample_interval_s=0.05) as run:
        run.step()
    ext = run.options.extensions
    assert ext.rate is hourly_rate and ext.on_progress is tracking.report_progress
    assert ended == [(run.id, sqlite_url)]  # the finished run went to the trackers
    facts = run.run_facts(timeout_s=5.0)
    rate = ext.rate(facts)
    assert rate is not None and rate.usd_per_hour > 0 and "aws/" in rate.label


def test_reaching_costlens_profile_loads_no_pricing_or_sql(tmp_path):
    """The price is resolved on the live thread: `costlens.profile` (and `costlens run` before
    the script starts) no longer imports pricing, SQLAlchemy and the store models on the
    training thread first (about 0.27 s on this machine)."""
    import subprocess
    import sys

    code = (
        "import sys, costlens; costlens.profile; import costlens.cli.launch; "
        "print(sorted(m for m in ('sqlalchemy', 'costlens.price', 'typer') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "[]", out.stderr


COLD_START = """
import sys, threading

main_imports = []


class Watch:  # records what the training (main) thread imports; finds nothing itself
    def find_spec(self, name, path=None, target=None):
        if threading.current_thread() is threading.main_thread():
            main_imports.append(name)
        return None


sys.meta_path.insert(0, Watch())
import costlens

run = costlens.profile(db=sys.argv[1]).__enter__()
heavy = ("sqlalchemy", "alembic", "sqlmodel", "pandas", "psutil", "costlens.store.db",
         "costlens.price")
print(sorted({m for m in main_imports if m.split(".")[0] in heavy or m in heavy}))
print(sorted(m for m in ("sqlalchemy", "alembic", "pandas") if m in sys.modules))
"""


def test_cold_start_of_costlens_profile_imports_nothing_heavy_on_the_training_thread(tmp_path):
    """A fresh interpreter: `import costlens; costlens.profile(...).__enter__()` loads no SQL,
    migrations, pricing, pandas or psutil on the training thread (the recorder's thread and the
    SQLite store's child process do that); SQLAlchemy, alembic and pandas are not in the
    process at all when the run has started."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "COSTLENS_HOME": str(tmp_path), "COSTLENS_QUIET": "1"}
    out = subprocess.run(
        [sys.executable, "-c", COLD_START, f"sqlite:///{tmp_path}/cold.db"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert out.stdout.splitlines()[:2] == ["[]", "[]"], out.stdout + out.stderr


def test_the_live_price_loads_no_sql():
    """The live thread prices the run from its facts (the cost line, the spend guard): that loads
    no SQLAlchemy, SQLModel or pydantic into the training process (about 0.5 s of CPU sharing
    the GIL with training); what reads the store loads on first use."""
    import subprocess
    import sys

    code = (
        "import sys; from costlens.apps.tracking.rate import hourly_rate; "
        "rate = hourly_rate({'device_count': 0, 'host_cpu_count': 2}); "
        "sql = sorted(m for m in ('sqlalchemy', 'sqlmodel', 'pydantic') if m in sys.modules); "
        "from costlens.price import cost_breakdown, price_rows, COST_KEYS; "
        "print(rate.usd_per_hour > 0, sql, callable(cost_breakdown))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO
    )
    assert out.stdout.strip() == "True [] True", out.stdout + out.stderr
