"""Access control, loopback rules, the CLI's refusal to serve unguarded, and serving."""

from __future__ import annotations

import base64
import subprocess
import sys

import pytest

from costlens.core.errors import UsageError


def test_basic_auth_and_token_guard_every_path(store, sqlite_url):  # the store must exist
    from dashboard.app import TOKEN_COOKIE, create_app

    app = create_app(sqlite_url, auth=("ann", "s3cret:pw"), token="t" * 20)
    c = app.server.test_client()
    resp = c.get("/")
    assert resp.status_code == 401 and "Basic" in resp.headers["WWW-Authenticate"]
    assert c.get("/_dash-layout").status_code == 401
    good = "Basic " + base64.b64encode(b"ann:s3cret:pw").decode()
    bad = "Basic " + base64.b64encode(b"ann:wrong").decode()
    assert c.get("/", headers={"Authorization": good}).status_code == 200
    assert c.get("/", headers={"Authorization": bad}).status_code == 200  # its session cookie
    c = app.server.test_client()  # a browser that never logged in
    assert c.get("/", headers={"Authorization": bad}).status_code == 401
    assert c.get("/", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert c.get("/", headers={"Authorization": "Bearer " + "t" * 20}).status_code == 200
    fresh = app.server.test_client()
    resp = fresh.get("/?token=" + "t" * 20)
    assert resp.status_code == 200 and TOKEN_COOKIE in resp.headers.get("Set-Cookie", "")
    assert fresh.get("/_dash-layout").status_code == 200  # the cookie carries on


def test_loopback_detection_and_auth_parsing():
    from dashboard.app import is_loopback, parse_auth

    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert is_loopback("127.1.2.3") and not is_loopback("0.0.0.0")
    assert not is_loopback("192.168.1.5") and not is_loopback("example.com")
    assert parse_auth("u:p:q") == ("u", "p:q")
    for bad in ("nopassword", ":p", "u:"):
        with pytest.raises(UsageError):
            parse_auth(bad)


def test_cli_refuses_to_serve_off_loopback_without_access_control(cli, sqlite_url):
    res = cli("dashboard", "--db", sqlite_url, "--host", "0.0.0.0", "--port", "1")
    assert res.code == 2 and "--auth" in res.err and "--token" in res.err
    res = cli("dashboard", "--db", sqlite_url, "--host", "0.0.0.0", "--auth", "nopassword")
    assert res.code == 2 and "USER:PASSWORD" in res.err
    res = cli("dashboard", "--host", "0.0.0.0", env={"COSTLENS_DASHBOARD_TOKEN": "short"})
    assert res.code == 2 and "16 characters" in res.err


def test_imports_keep_to_their_path():
    """costlens and its CLI load no Dash; the transfer analysis no pandas; the dashboard and its
    views no torch."""
    code = (
        "import sys, costlens.apps.transfer; bad = ['pandas'] if 'pandas' in sys.modules else []; "
        "import costlens, costlens.cli, costlens.cli.dashboard; "
        "bad += [m for m in ('dash', 'plotly', 'dashboard') if m in sys.modules]; "
        "import dashboard.app, dashboard.views.transfer, dashboard.views.estimate; "
        "bad += ['torch'] if 'torch' in sys.modules else []; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_cli_serves_the_dashboard_with_a_token(sqlite_url, tmp_path):
    import os
    import socket
    import time
    import urllib.error
    import urllib.request

    from costlens.store import open_store

    open_store(sqlite_url).dispose()  # the dashboard reads an existing store; it creates none
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = "k" * 24
    proc = subprocess.Popen(
        [sys.executable, "-m", "costlens", "dashboard", "--db", sqlite_url, "--port", str(port)],
        env={**os.environ, "COSTLENS_DASHBOARD_TOKEN": token},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base, timeout=2)
                pytest.fail("served without the token")
            except urllib.error.HTTPError as exc:
                assert exc.code == 401
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "the dashboard did not start"
                time.sleep(0.3)
        req = urllib.request.Request(base, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200 and b"costlens" in resp.read()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in err
