"""The settings registry (costlens/core/config.py): each COSTLENS_* variable declared once, read
when used, one boolean rule, and nothing else reading them."""

from __future__ import annotations

import ast
import logging
from datetime import timedelta
from pathlib import Path

import pytest

from costlens.core import config
from costlens.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
NAMES = [s.name for s in config.SETTINGS]
BOOLEANS = [s for s in config.SETTINGS if s.kind == "boolean"]


@pytest.mark.parametrize("setting", BOOLEANS, ids=lambda s: s.name)
def test_every_switch_follows_one_boolean_rule(setting, monkeypatch):
    assert setting.default is False  # so that "empty is off" and "unset is the default" agree
    for on in ("1", "true", "True", "YES", "on"):
        monkeypatch.setenv(setting.name, on)
        assert setting.get() is True, on
    for off in ("0", "false", "FALSE", "no", "off", "", " "):
        monkeypatch.setenv(setting.name, off)
        assert setting.get() is False, off
    monkeypatch.setenv(setting.name, "maybe")
    with pytest.raises(ConfigError) as info:
        setting.get()
    assert setting.name in str(info.value) and "1/true/yes/on" in str(info.value)
    assert "0/false/no/off" in str(info.value)


def test_quiet_false_is_not_quiet(monkeypatch, sqlite_url):
    # COSTLENS_QUIET=false used to mean quiet (anything but "" and "0" was on)
    from costlens.record.options import run_options

    monkeypatch.setenv("COSTLENS_QUIET", "false")
    assert run_options({"db": sqlite_url}).live.quiet is False
    monkeypatch.setenv("COSTLENS_QUIET", "on")
    assert run_options({"db": sqlite_url}).live.quiet is True


def test_the_lost_threshold_is_read_when_used_not_at_import(monkeypatch):
    # store/queries.py read COSTLENS_LOST_AFTER_S once, when it was first imported
    from costlens.store.queries import lost_cutoff, utcnow

    now = utcnow()
    monkeypatch.setenv("COSTLENS_LOST_AFTER_S", "7")
    assert lost_cutoff(now) == now - timedelta(seconds=7)
    monkeypatch.delenv("COSTLENS_LOST_AFTER_S")
    assert lost_cutoff(now) == now - timedelta(seconds=60)


BAD = {
    "COSTLENS_HOME": "/tmp/a\x1bb",
    "COSTLENS_DB": "a\x1bb",
    "COSTLENS_PROJECT": "a\nb",
    "COSTLENS_QUIET": "2",
    "COSTLENS_DEBUG": "maybe",
    "COSTLENS_FLUSH_INTERVAL_S": "nan",
    "COSTLENS_LOST_AFTER_S": "0",
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_value_is_one_line_naming_the_variable(name, cli, monkeypatch):
    monkeypatch.setenv(name, BAD[name])
    with pytest.raises(ConfigError, match=f"environment variable {name}"):
        config.check_environment()
    res = cli("prices", "--format", "json", env={name: BAD[name]})
    assert res.code == 1 and res.out == "", (res.code, res.err)
    assert res.err.startswith(f"costlens: error: environment variable {name}"), res.err
    assert res.err.count("\n") == 1, res.err


def test_safe_get_warns_and_keeps_the_default(monkeypatch, caplog):
    monkeypatch.setenv("COSTLENS_LOST_AFTER_S", "inf")
    with caplog.at_level(logging.WARNING, logger="costlens"):
        assert config.LOST_AFTER_S.safe_get() == 60.0
    assert "COSTLENS_LOST_AFTER_S" in caplog.text
    monkeypatch.setenv("COSTLENS_LOST_AFTER_S", "")
    assert config.LOST_AFTER_S.get() == 60.0 and not config.LOST_AFTER_S.is_set()


def test_docs_list_exactly_the_registry():
    doc = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    regenerate = "python -c 'from costlens.core.config import markdown_table as t; print(t())'"
    assert config.markdown_table() in doc, f"docs/settings.md is stale: paste {regenerate}"
    table = doc.split("<!-- generated", 1)[1].split("<!-- end generated", 1)[0]
    listed = [line.split("`")[1] for line in table.splitlines() if line.startswith("| `")]
    assert listed == NAMES
    assert len(set(NAMES)) == len(NAMES)


def _reads_outside_config(repo: Path = REPO) -> list[str]:
    """Every string in code (not docstrings) that is a COSTLENS_ variable's name, outside
    core/config.py: how a module would read, write or name one without the registry."""
    found = []
    for root in ("costlens", "dashboard"):
        for path in sorted((repo / root).rglob("*.py")):
            if path == repo / "costlens" / "core" / "config.py":
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = {
                id(node.body[0].value)
                for node in ast.walk(tree)
                if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
                and node.body
                and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Constant)
            }
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in docstrings
                    and node.value.startswith("COSTLENS_")
                    and node.value.rstrip("_").replace("_", "").isalnum()
                    and node.value.isupper()
                ):
                    found.append(f"{path.relative_to(repo)}:{node.lineno}: {node.value!r}")
    return found


def test_no_module_but_config_reads_a_costlens_variable():
    found = _reads_outside_config()
    assert not found, "read it through costlens.core.config:\n" + "\n".join(found)


def test_the_scan_finds_a_read(tmp_path):
    # the scan above would have caught os.environ.get("COSTLENS_DB") and f"COSTLENS_{x}"
    fake = tmp_path / "costlens" / "x.py"
    fake.parent.mkdir()
    fake.write_text('"""COSTLENS_DB in a docstring."""\nimport os\n'
                    'a = os.environ.get("COSTLENS_DB")\nb = f"COSTLENS_{a}"\n')  # fmt: skip
    (tmp_path / "dashboard").mkdir()
    found = _reads_outside_config(tmp_path)
    assert [f.split(": ")[1] for f in found] == ["'COSTLENS_DB'", "'COSTLENS_'"]
