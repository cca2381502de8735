"""The project's own promises: README's two commands, CI calling the README's test command, and
every third-party module the code imports declared in pyproject.toml."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from importlib.metadata import packages_distributions

import tomllib

from tests.conftest import REPO

SOURCE_PACKAGES = ("costlens", "dashboard")
# Modules that only developer tools, or the integrations with the user's own frameworks (loaded
# only when the training script imports the framework), import, with the extra declaring them.
DEV_ONLY_IMPORTS = {
    "playwright": ("dev", {"dashboard/screenshots.py"}),
    "transformers": ("dev", {"costlens/record/integrations/hf.py"}),
    # optional integrations: used only when the training already imports them (or on export)
    "mlflow": ("mlflow", {"costlens/apps/tracking/trackers.py"}),
    # live figures for Prometheus and OpenTelemetry: only when asked for (--metrics-port, OTEL_*)
    "prometheus_client": ("metrics", {"costlens/record/exporters.py"}),
    "opentelemetry": ("metrics", {"costlens/record/exporters.py"}),
}


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    return [b.strip() for b in blocks]


def _setup_commands() -> list[str]:
    """The README's set-up commands: the bash blocks of its set-up section, venv steps aside."""
    return [c for c in _readme_commands() if "bash .ci/setup" in c]


def test_readme_gives_two_setup_commands():
    commands = _setup_commands()
    assert len(commands) == 2
    assert "costlens demo" in commands[0]
    assert "pytest" in commands[1]
    for cmd in commands:
        assert "\n" not in cmd, "each set-up step is one command"


def test_readme_creates_and_activates_a_virtual_environment_first():
    blocks = _readme_commands()
    venv = next(i for i, b in enumerate(blocks) if "-m venv" in b)
    assert "activate" in blocks[venv]
    assert venv < blocks.index(_setup_commands()[0])


def test_ci_calls_the_readme_test_command_verbatim_in_a_fresh_venv():
    test_command = _setup_commands()[1]
    ci = (REPO / ".ci" / "run").read_text()
    ci_lines = [ln.strip() for ln in ci.splitlines()]
    assert test_command in ci_lines
    at = ci_lines.index(test_command)
    before = "\n".join(ci_lines[:at])
    assert re.search(r"rm -rf \S*venv", before), "CI removes the old virtual environment"
    assert "-m venv" in before and "activate" in before, "CI creates and activates a new one"


def test_setup_installs_pinned_torch_first_into_the_active_python(tmp_path):
    """.ci/setup installs into the ``python`` on PATH (an activated venv's), torch first."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for name in ("python", "python3"):
        stub = bin_dir / name
        # "import torch" fails: setup must install the pinned torch before costlens itself.
        stub.write_text(
            f'#!/bin/sh\necho "{name} $*" >> "{log}"\n'
            'case "$*" in "-c import torch") exit 1;; esac\n'
        )
        stub.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.run(
        ["bash", str(REPO / ".ci" / "setup")], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    calls = log.read_text().splitlines()
    assert all(c.startswith("python ") for c in calls), calls
    installs = [c for c in calls if " -m pip install " in c]
    assert installs[0].endswith("torch==2.13.0"), installs
    assert installs[1].endswith("-e ."), installs


def _declared() -> dict[str, set[str]]:
    """Distribution names (normalised) per group: "" for dependencies, else the extra's name."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    groups = {"": project["dependencies"], **project.get("optional-dependencies", {})}

    def name(req: str) -> str:
        return re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0].lower().replace("_", "-")

    return {g: {name(r) for r in reqs} for g, reqs in groups.items()}


def third_party_imports() -> dict[str, set[str]]:
    """Top-level third-party module -> the files importing it (function-level imports too)."""
    found: dict[str, set[str]] = {}
    for pkg in SOURCE_PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), rel)):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for top in {n.split(".")[0] for n in names}:
                    if top not in sys.stdlib_module_names and top not in SOURCE_PACKAGES:
                        found.setdefault(top, set()).add(rel)
    return found


def test_the_import_scan_sees_lazy_imports():
    imports = third_party_imports()
    assert "costlens/record/flops/meter.py" in imports["torch"]  # imported inside functions only
    assert "yaml" in imports and "waitress" in imports


def test_every_third_party_import_is_a_declared_dependency():
    declared = _declared()
    dists = packages_distributions()
    problems = []
    for module, files in sorted(third_party_imports().items()):
        names = {d.lower().replace("_", "-") for d in dists.get(module, [])}
        if not names:
            problems.append(f"{module} (imported by {sorted(files)}) is not installed")
            continue
        group, allowed_files = DEV_ONLY_IMPORTS.get(module, ("", None))
        if allowed_files is not None and not files <= allowed_files:
            problems.append(f"{module} is for dev tools only, but {sorted(files)} import it")
        if not names & declared[group]:
            where = "dependencies" if not group else f"the [{group}] extra"
            problems.append(
                f"{module} ({sorted(names)}, imported by {sorted(files)}) not in {where}"
            )
    assert not problems, "\n".join(problems)


def _stub_python(tmp_path, system: bool):
    """A ``python`` on PATH that logs its calls and answers setup's venv check (1: system)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "calls.log"
    for name in ("python", "python3"):
        stub = bin_dir / name
        stub.write_text(
            f'#!/bin/sh\necho "{name} $*" >> "{log}"\n'
            f'case "$*" in "-") cat >/dev/null; echo {int(system)};; esac\n'
        )
        stub.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}, log


def test_setup_refuses_a_system_python_in_one_line_unless_told(tmp_path):
    env, log = _stub_python(tmp_path, system=True)
    setup = str(REPO / ".ci" / "setup")
    proc = subprocess.run(["bash", setup], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "virtual environment" in proc.stderr and "--system" in proc.stderr
    assert " -m pip install " not in log.read_text()  # nothing installed
    told = subprocess.run(
        ["bash", setup, "--system"], env=env, capture_output=True, text=True, timeout=60
    )
    assert told.returncode == 0, told.stderr
    assert " -m pip install " in log.read_text()


def test_setup_check_tells_a_venv_from_the_distribution_python(tmp_path):
    """The real check on Debian's /usr/bin/python3 with its EXTERNALLY-MANAGED marker: refused
    (skipped on a machine without one)."""
    from pathlib import Path

    import pytest

    setup = str(REPO / ".ci" / "setup")
    system = Path("/usr/bin/python3")
    if not (system.exists() and any(Path("/usr/lib").glob("python3*/EXTERNALLY-MANAGED"))):
        pytest.skip("no externally managed /usr/bin/python3 here")
    proc = subprocess.run(
        ["bash", setup], env={"PYTHON": str(system), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and "system's Python" in proc.stderr, proc.stderr
