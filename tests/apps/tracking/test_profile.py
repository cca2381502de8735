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
