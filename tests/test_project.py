"""The project's own promises: README's two commands, CI calling the README's test command."""

from __future__ import annotations

import re

from tests.conftest import REPO


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    return [b.strip() for b in blocks]


def test_readme_gives_two_setup_commands():
    commands = _readme_commands()[:2]
    assert len(commands) == 2
    assert "costlens demo" in commands[0]
    assert "pytest" in commands[1]
    for cmd in commands:
        assert "\n" not in cmd, "each set-up step is one command"


def test_ci_calls_the_readme_test_command_verbatim():
    test_command = _readme_commands()[1]
    ci_lines = [ln.strip() for ln in (REPO / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines


def test_setup_installs_pinned_torch_first():
    setup = (REPO / ".ci" / "setup").read_text()
    assert setup.index("torch==2.13.0") < setup.index("-e .")
