"""Issue 15: one set of exit codes on every command, found by walking the typer app (a new
command or option is covered without editing this file).

- exit 2: a flag or argument value that is wrong in itself (not a number, out of bounds, empty,
  control characters, not one of the choices), named in one line;
- exit 1: a value that is well formed but the world disagrees (no such file, run or store);
- numeric flags take the suffixes k, M, B/G, T (as plans and the dashboard do) and refuse nan.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import typer

BAD = "bad\x07value"  # refused by every value-taking option: numbers, names, paths, choices
PLACEHOLDER = {
    "run_id": "x", "plan": "plan.csv", "path": "vms.csv", "command": "true", "bill": "bill.csv",
}  # fmt: skip


def _commands() -> Iterator[tuple[tuple[str, ...], object]]:
    from costlens.cli.app import app

    def walk(cmd, path):
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            yield from walk(sub, (*path, name))
        if path and any(p.name != "help" for p in cmd.params):
            yield path, cmd

    yield from walk(typer.main.get_command(app), ())


COMMANDS = dict(_commands())


def _is_option(p) -> bool:
    return type(p).__name__.endswith("Option")


def _value_params() -> list[tuple[tuple[str, ...], str]]:
    out = []
    for path, cmd in COMMANDS.items():
        for p in cmd.params:
            if _is_option(p) and (p.is_flag or p.count):
                continue
            out.append((path, p.name))
    return out


def _argv(path: tuple[str, ...], name: str | None, value: str) -> list[str]:
    """``costlens PATH`` with ``name`` set to ``value`` and placeholders for required arguments
    (a placeholder is never used: the bad value is refused while the line is parsed)."""
    cmd = COMMANDS[path]
    opts: list[str] = []
    args: list[str] = []
    for p in cmd.params:
        if _is_option(p):
            if p.name == name:
                opts += [p.opts[0], value]
        elif p.name != "command":
            args.append(value if p.name == name else PLACEHOLDER[p.name])
    tail = ["--", "true"] if path == ("run",) else []
    return [*path, *opts, *args, *tail]


def test_the_walk_finds_every_command():
    names = {" ".join(p) for p in COMMANDS}
    expected = {"runs", "show", "run", "sync", "cost", "estimate", "fit", "forecast", "dashboard",
                "demo", "prices", "prices import", "gpus", "db info", "db upgrade"}  # fmt: skip
    assert expected <= names
    assert len(_value_params()) >= 70


@pytest.mark.parametrize("path, name", _value_params(), ids=lambda v: str(v))
def test_every_bad_value_is_exit_2_naming_the_flag(cli, path, name):
    if name == "command":
        pytest.skip("the profiled command is the user's own (any text)")
    res = cli(*_argv(path, name, BAD))
    assert res.code == 2, (res.code, res.err[-400:])
    assert "Traceback" not in res.err and "costlens bug" not in res.err
    param = next(p for p in COMMANDS[path].params if p.name == name)
    shown = [*param.opts] if _is_option(param) else [name.upper()]
    assert any(s in res.err for s in shown), (shown, res.err)


def _parse(path: tuple[str, ...], name: str, value: str):
    cmd = COMMANDS[path]
    return cmd.make_context(path[-1], _argv(path, name, value)[len(path) :]).params[name]


def test_numeric_flags_take_suffixes_and_refuse_nan():
    """Each option given ``1k`` reads it as 1000, or as text (a name or path), or refuses it for
    its bound ("at most"), as not a date or not a choice; none refuses it as "not a number".
    Each numeric one refuses nan."""
    numeric = []
    for path, name in _value_params():
        if name in ("command", "fmt", "budget_period"):
            continue
        try:
            value = _parse(path, name, "1k")
        except Exception as exc:  # a BadParameter of typer's click
            why = str(exc)  # a bound, a date, a choice: never "not a number"
            assert not any(w in why for w in ("expected a number", "valid integer", "valid number"))
            if "at most" in str(exc):
                numeric.append((path, name))
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert value == 1000, (path, name, value)
            numeric.append((path, name))
        else:
            assert value in ("1k", ["1k"]) or str(value) == "1k", (path, name, value)
    assert len(numeric) >= 20, numeric
    for path, name in numeric:
        with pytest.raises(Exception, match="expected a number"):
            _parse(path, name, "nan")
    assert _parse(("estimate",), "gpus", "8") == 8
    assert _parse(("forecast",), "budget", "1.5M") == 1.5e6


def test_strategies_and_precisions_are_case_insensitive():
    assert _parse(("estimate",), "strategy", "LoRA") == "lora"
    assert _parse(("estimate",), "strategy", "Full_Finetune") == "full-finetune"
    assert _parse(("estimate",), "precision", "BF16") == "bf16"
    assert _parse(("run",), "strategy", "Frozen-Features") == "frozen-features"
    assert _parse(("forecast",), "transfer_strategy", "LoRA") == "lora"
    assert _parse(("runs",), "status", "Completed") == "completed"


def _runtime_errors(tmp_path, sqlite_url) -> dict[str, list[str]]:
    """A well-formed line that fails at run time, for each command."""
    from costlens.store import open_store

    open_store(sqlite_url).dispose()  # an empty store
    missing_db = str(tmp_path / "no" / "such" / "folder" / "x.db")
    script = tmp_path / "fails.py"
    script.write_text("raise SystemExit(1)\n")
    return {
        "runs": ["runs", "--db", str(tmp_path / "missing.db")],
        "show": ["show", "nosuchrun", "--db", sqlite_url],
        "run": ["run", "--db", sqlite_url, "--", "python", str(script)],
        "cost": ["cost", "nosuchrun", "--db", sqlite_url],
        "estimate": ["estimate", "--from-run", "nosuchrun", "--db", sqlite_url],
        "fit": ["fit", "--db", str(tmp_path / "missing.db")],
        "forecast": ["forecast", str(tmp_path / "missing.csv")],
        "dashboard": ["dashboard", "--db", str(tmp_path / "missing.db")],
        "exporter": ["exporter", "--db", str(tmp_path / "missing.db"), "--port", "19999"],
        "demo": ["demo", "--db", missing_db, "--no-serve", "--quick"],
        "prices": ["prices", "--prices", str(tmp_path / "missing.csv")],
        "prices import": ["prices", "import", str(tmp_path / "missing.csv")],
        "gpus": ["gpus"],  # reads only the shipped table: no input can fail; must succeed
        "db info": ["db", "info", "--db", str(tmp_path / "missing.db")],
        "db upgrade": ["db", "upgrade", "--db", missing_db],
        "export mlflow": ["export", "mlflow", "nosuchrun", "--db", sqlite_url,
                          "--tracking-uri", f"file://{tmp_path / 'mlruns'}"],
        "export wandb": ["export", "wandb", "nosuchrun", "--db", sqlite_url],
        "export focus": ["export", "focus", "--db", str(tmp_path / "missing.db")],
        "reconcile": ["reconcile", str(tmp_path / "missing-bill.csv"), "--db", sqlite_url],
        # last: a journal file waits (made below), and there is no store to write it into
        "sync": ["sync", "--db", missing_db],
    }  # fmt: skip


def test_runtime_errors_are_exit_1_on_every_command(cli, tmp_path, sqlite_url):
    cases = _runtime_errors(tmp_path, sqlite_url)
    assert set(cases) == {" ".join(p) for p in COMMANDS}, "add a runtime-error case"
    for name, argv in cases.items():
        if name == "sync":
            from costlens.record.journal_files import journal_dir

            (journal_dir(create=True) / "waiting.jsonl").write_text("{}\n")
        res = cli(*argv, env={"COSTLENS_QUIET": "1"})
        expected = 0 if name == "gpus" else 1
        assert res.code == expected, (name, res.code, res.err[-300:])
        assert "Traceback" not in res.err and "costlens bug" not in res.err, (name, res.err)
        if name not in ("run", "gpus"):  # run: the script's own exit code
            assert res.err.strip().startswith("costlens: error: "), (name, res.err)
            assert "\n" not in res.err.strip(), (name, res.err)


def test_a_missing_optional_package_is_exit_1_a_bad_out_suffix_exit_2(cli, sqlite_url, tmp_path,
                                                                       monkeypatch):  # fmt: skip
    """Issue 20, the rule of costlens.core.errors: 2 when the command line itself is wrong (an
    ``--out`` suffix costlens cannot write is, before any work); 1 when the line is right and
    the environment lacks something (an optional package was exit 2)."""
    import sys

    from costlens.store import open_store

    open_store(sqlite_url).dispose()
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb -> ImportError
    res = cli("export", "wandb", "somerun", "--db", sqlite_url)
    assert res.code == 1, (res.code, res.err)
    assert "wandb is not installed: pip install wandb" in res.err
    plan = tmp_path / "plan.csv"
    plan.write_text("name\n")
    res = cli("forecast", str(plan), "--out", str(tmp_path / "x.pdf"))
    assert res.code == 2 and "--out must end in .xlsx, .csv or .json" in res.err, res.err
