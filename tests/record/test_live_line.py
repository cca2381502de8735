"""The live cost line through a real terminal (a pty), and its absence on a pipe or with --quiet."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import REPO

PROFILED = """
    import time
    import costlens

    with costlens.profile(db={db!r}, provider="aws", expected_steps=400, quiet={quiet},
                          sample_interval_s=0.05) as run:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.0:
            run.step()
            time.sleep(0.01)
"""

TORCH_LOOP = """
    import time
    import torch

    model = torch.nn.Linear(8, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 3.0:
        opt.zero_grad()
        model(torch.randn(4, 8)).sum().backward()
        opt.step()
        time.sleep(0.005)
"""


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "COSTLENS_HOME": str(home), "PYTHONPATH": str(REPO)}
    for key in ("COSTLENS_DB", "COSTLENS_QUIET"):
        env.pop(key, None)
    return env


def _on_a_terminal(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Run ``argv`` with stderr on a pty; (exit code, everything it wrote there)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env, cwd=cwd
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child has closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    code = proc.wait(timeout=120)
    os.close(master)
    return code, b"".join(chunks).decode("utf-8", "replace")


def _script(tmp_path: Path, body: str, **fmt) -> Path:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(body.format(**fmt)))
    return path


def _redraws(text: str) -> list[str]:
    return [part.split("\x1b[K")[0] for part in text.split("\r") if part.startswith("costlens 0:")]


def test_profile_draws_one_updating_line_on_a_terminal(tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    script = _script(tmp_path, PROFILED, db=db, quiet=False)
    code, text = _on_a_terminal([sys.executable, str(script)], _env(tmp_path), tmp_path)
    assert code == 0, text
    lines = _redraws(text)
    assert len(lines) >= 2, text  # about once a second over 3 s
    last = lines[-1]
    assert " steps | " in last and "steps/s" in last
    assert "so far (aws/" in last and "on-demand)" in last
    assert last.endswith("at 400 steps") and "~$" in last
    assert "\r\x1b[K" in text  # the line is cleared before the end-of-run summary
    assert "costlens: run " in text and "completed" in text


def test_quiet_profile_draws_nothing(tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    script = _script(tmp_path, PROFILED, db=db, quiet=True)
    code, text = _on_a_terminal([sys.executable, str(script)], _env(tmp_path), tmp_path)
    assert code == 0, text
    assert _redraws(text) == [] and "completed" not in text


def test_no_line_on_a_pipe_within_minutes(tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    script = _script(tmp_path, PROFILED, db=db, quiet=False)
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=_env(tmp_path),
        cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "steps/s" not in proc.stderr and "\r" not in proc.stderr
    assert "completed" in proc.stderr  # the end-of-run summary still comes
    assert "  cost $" in proc.stderr and " per hour (aws/" in proc.stderr  # with its dollars


def test_costlens_run_shows_real_steps_and_the_projection_on_a_terminal(tmp_path):
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    script = _script(tmp_path, TORCH_LOOP)
    argv = [sys.executable, "-m", "costlens", "run", "--db", db, "--expected-steps", "5k",
            "--sample-interval-s", "0.05", "--", sys.executable, str(script)]  # fmt: skip
    code, text = _on_a_terminal(argv, _env(tmp_path), tmp_path)
    assert code == 0, text
    lines = _redraws(text)
    assert lines, text
    steps = int(lines[-1].split(" | ")[1].split()[0].replace(",", ""))
    assert steps > 10  # the optimizer's steps, counted by the meter
    assert lines[-1].endswith("at 5,000 steps")
    quiet_code, quiet_text = _on_a_terminal(
        [*argv[:4], "--quiet", *argv[4:]], _env(tmp_path), tmp_path
    )
    assert quiet_code == 0 and _redraws(quiet_text) == []
