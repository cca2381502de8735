"""Processes end cleanly (issue 24, "also seen"): ``os._exit(3)`` in the script records the exit
code (the run was left ``lost`` with no exit code); a SIGKILL to ``costlens run`` does not leave
the child of a non-Python command running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from costlens.store import open_store
from costlens.store.queries import list_runs
from tests.faults.conftest import report

OS_EXIT_TRAIN = textwrap.dedent(
    """
    import os, time
    from costlens.record.signals import current_run  # the run `costlens run` started
    for i in range(40):
        current_run().step(samples=2)
        time.sleep(0.01)
    os._exit(3)
    """
)


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "COSTLENS_FLUSH_INTERVAL_S": "0.1", "COSTLENS_QUIET": "1", "DB": url}


def test_os_exit_in_the_script_records_its_exit_code(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    script = tmp_path / "train.py"
    script.write_text(OS_EXIT_TRAIN)
    cmd = [sys.executable, "-m", "costlens", "run", "--db", url, "--", "python", str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(url), timeout=120)
    assert proc.returncode == 3, proc.stderr[-2000:]
    with open_store(url) as store:
        (rec,) = list_runs(store)
    report("os._exit(3) in the script", 40, rec["steps"])
    assert rec["exit_code"] == 3 and rec["status"] == "failed", rec  # was lost, no exit code
    assert rec["steps"] == 40 and rec["samples"] == 80


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigkill_to_costlens_run_leaves_no_orphan(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    cmd = [sys.executable, "-m", "costlens", "run", "--db", url, "--", "sleep", "300"]
    proc = subprocess.Popen(cmd, env=_env(url), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    sleeper = None
    while sleeper is None and time.monotonic() < deadline:
        for child in _children(proc.pid):
            if Path(f"/proc/{child}/comm").read_text().strip() == "sleep":
                sleeper = child
        time.sleep(0.05)
    assert sleeper is not None, "the command did not start"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    deadline = time.monotonic() + 10
    while _alive(sleeper) and time.monotonic() < deadline:
        time.sleep(0.05)
    alive = _alive(sleeper)
    if alive:
        os.kill(sleeper, signal.SIGKILL)
    assert not alive, "the command outlived costlens run (an orphan)"


def test_failed_logins_of_another_local_process_never_lock_out_a_logged_in_user(sqlite_url):
    """On a loopback dashboard every local process is 127.0.0.1: 10 bad tries from any of them
    locked the real user out for 60 s. A correct login now gets a session cookie (random, this
    server's), and a request carrying it is never throttled; a new login waits out the window."""
    import base64

    from dashboard.app import LoginThrottle, create_app, install_access_control

    def basic(password: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"ann:{password}".encode()).decode()}

    open_store(sqlite_url).dispose()
    app = create_app(sqlite_url)
    install_access_control(app.server, auth=("ann", "pw"), token=None, throttle=LoginThrottle())
    user = app.server.test_client()  # the real user's browser, logged in first
    assert user.get("/", headers=basic("pw")).status_code == 200
    attacker = app.server.test_client()  # another local process, same address
    codes = [attacker.get("/", headers=basic(f"guess{i}")).status_code for i in range(12)]
    assert codes == [401] * 10 + [429] * 2
    assert user.get("/", headers=basic("pw")).status_code == 200  # was 429 for 60 s
    assert user.get("/").status_code == 200  # the session cookie alone is enough
    assert attacker.get("/", headers=basic("pw")).status_code == 429  # no oracle for guesses
    forged = app.server.test_client()
    forged.set_cookie("costlens_session", "guess")
    assert forged.get("/").status_code == 401  # a forged cookie is no login (and no guess at ann)


def test_a_new_correct_login_passes_a_lockout_on_another_name_and_guessing_stays_bounded(
    sqlite_url,
):
    """Failures count per address and user name (plus a cap per address over all names): a
    brand-new correct login is not held by another local process's guesses at other names;
    guesses at the real name still lock it (no oracle), and rotating names is capped."""
    import base64

    from dashboard.app import (
        ADDRESS_FAILURES_PER_MINUTE,
        LoginThrottle,
        create_app,
        install_access_control,
    )

    def basic(user: str, password: str) -> dict[str, str]:
        return {
            "Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        }

    open_store(sqlite_url).dispose()
    app = create_app(sqlite_url)
    install_access_control(app.server, auth=("ann", "pw"), token=None, throttle=LoginThrottle())
    attacker = app.server.test_client()
    codes = [attacker.get("/", headers=basic("admin", f"g{i}")).status_code for i in range(12)]
    assert codes == [401] * 10 + [429] * 2
    assert app.server.test_client().get("/", headers=basic("ann", "pw")).status_code == 200
    codes = [attacker.get("/", headers=basic("ann", f"g{i}")).status_code for i in range(11)]
    assert codes == [401] * 10 + [429]
    assert attacker.get("/", headers=basic("ann", "pw")).status_code == 429  # no oracle
    # rotating names: at most ADDRESS_FAILURES_PER_MINUTE failures from one address a minute
    n = ADDRESS_FAILURES_PER_MINUTE + 5
    codes = [attacker.get("/", headers=basic(f"u{i}", "x")).status_code for i in range(n)]
    assert codes.count(401) == ADDRESS_FAILURES_PER_MINUTE - 20 and codes[-1] == 429
