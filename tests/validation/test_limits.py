"""Issue 13 "Limits": input files over 50 MB are refused before parsing; the dashboard refuses a
request body over its limit from Content-Length, before reading it; failed logins are throttled
per client address (10 a minute) and the throttle is logged."""

from __future__ import annotations

import base64
import socket
import time

import pytest

from costlens.core.validate import MAX_INPUT_FILE_BYTES
from costlens.store import open_store


def _sparse(path, header: str, size: int) -> None:
    """A file of ``size`` bytes that starts with ``header`` (sparse: instant to make)."""
    with open(path, "wb") as fh:
        fh.write(header.encode())
        fh.truncate(size)


@pytest.mark.parametrize("suffix", [".csv", ".toml", ".yaml"])
def test_a_plan_over_50_mb_is_refused_before_it_is_parsed(cli, tmp_path, suffix):
    plan = tmp_path / f"big{suffix}"
    _sparse(plan, "name,month\n", MAX_INPUT_FILE_BYTES + 1)
    t0 = time.perf_counter()
    res = cli("forecast", str(plan))
    elapsed = time.perf_counter() - t0
    assert res.code == 1 and str(plan) in res.err and "50.0 MiB limit" in res.err, res.err
    assert "Traceback" not in res.err
    assert elapsed < 5  # refused from its size: a 200 MB plan used to take 5.1 GB and 400 s


def test_a_plan_at_the_limit_is_read(tmp_path, prices_csv):
    from costlens.core.errors import PlanError
    from costlens.core.validate import oversize

    plan = tmp_path / "edge.csv"
    _sparse(plan, "x", MAX_INPUT_FILE_BYTES)
    assert oversize(plan) is None
    from costlens.budget.plan import load_plan
    from costlens.price.tables import PriceTable

    with pytest.raises(PlanError) as info:  # read (and refused for its content, not its size)
        load_plan(plan, prices=PriceTable.load())
    assert "limit for input files" not in str(info.value)


def test_a_price_table_over_50_mb_is_refused_before_it_is_parsed(cli, tmp_path):
    path = tmp_path / "prices.csv"
    _sparse(path, "provider,instance_type\n", MAX_INPUT_FILE_BYTES + 1)
    res = cli("prices", "--prices", str(path))
    assert res.code == 1 and f"{path}: the file is 50.0 MiB" in res.err, res.err


def test_a_skypilot_catalog_over_50_mb_is_refused(cli, tmp_path):
    path = tmp_path / "aws" / "vms.csv"
    path.parent.mkdir()
    _sparse(path, "InstanceType\n", MAX_INPUT_FILE_BYTES + 10)
    out = tmp_path / "out.csv"
    res = cli("prices", "import", str(path), "--prices-out", str(out))
    assert res.code == 1 and "limit for input files" in res.err and not out.exists()


# ------------------------------------------------------------------------------ the dashboard


def test_the_request_limit_is_set_and_checked_from_content_length(sqlite_url):
    open_store(sqlite_url).dispose()  # the dashboard reads a store, never makes one
    from dashboard.app import MAX_REQUEST_BYTES, create_app
    from dashboard.views.forecast import MAX_UPLOAD_BYTES

    app = create_app(sqlite_url)
    assert app.server.config["MAX_CONTENT_LENGTH"] == MAX_REQUEST_BYTES
    assert MAX_REQUEST_BYTES > MAX_UPLOAD_BYTES * 4 / 3  # a 5 MB upload, base64, still fits
    c = app.server.test_client()
    big = c.post(
        "/_dash-update-component",
        data=b"{}",
        content_type="application/json",
        environ_overrides={"CONTENT_LENGTH": str(60_000_000)},
    )
    assert big.status_code == 413 and b"limit" in big.data


def _raw_request(base: str, head: str, body: bytes = b"") -> tuple[bytes, float]:
    host, port = base.rsplit("/", 1)[-1].rsplit(":", 1)
    t0 = time.perf_counter()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data, time.perf_counter() - t0


def test_the_served_dashboard_refuses_60_mb_without_receiving_it(sqlite_url):
    """The headers announce 60 MB and no body is sent: the answer (413) comes at once."""
    open_store(sqlite_url).dispose()  # the dashboard reads a store, never makes one
    from dashboard.app import create_app, serving

    with serving(create_app(sqlite_url)) as base:
        head = (
            "POST /_dash-update-component HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nContent-Length: 60000000\r\n\r\n"
        )
        data, elapsed = _raw_request(base, head)
        assert data.split(b"\r\n", 1)[0].split()[1] == b"413", data[:200]
        assert elapsed < 3
        small = b'{"output":"x","outputs":{},"inputs":[],"changedPropIds":[]}'
        ok_head = (
            "POST /_dash-update-component HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(small)}\r\n\r\n"
        )
        data, _ = _raw_request(base, ok_head, small)
        assert data.split(b"\r\n", 1)[0].split()[1] != b"413"


class _Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_failed_logins_are_throttled_per_address_and_logged(sqlite_url, caplog):
    open_store(sqlite_url).dispose()  # the dashboard reads a store, never makes one
    from dashboard.app import LoginThrottle, create_app, install_access_control

    app = create_app(sqlite_url)
    clock = _Clock()
    install_access_control(
        app.server, auth=("ann", "pw"), token=None, throttle=LoginThrottle(10, 60, clock=clock)
    )
    attacker = app.server.test_client()
    other = {"environ_base": {"REMOTE_ADDR": "10.0.0.2"}}
    assert attacker.get("/").status_code == 401  # a bare first request is no failed login
    with caplog.at_level("WARNING", logger="costlens"):
        codes = [attacker.get("/", headers=_basic("ann", f"guess{i}")).status_code
                 for i in range(12)]  # fmt: skip
        locked = attacker.get("/", headers=_basic("ann", "pw"))
    assert codes == [401] * 10 + [429] * 2
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) >= 1
    assert "10 failed logins from 127.0.0.1" in caplog.text
    assert caplog.text.count("failed logins from") == 1  # logged once per window
    # another address is not affected
    neighbour = app.server.test_client()
    assert neighbour.get("/", headers=_basic("ann", "pw"), **other).status_code == 200
    clock.t += 61  # the window has passed
    assert attacker.get("/", headers=_basic("ann", "pw")).status_code == 200


def test_the_throttle_forgets_the_oldest_addresses_first():
    from dashboard.app import LoginThrottle

    clock = _Clock()
    t = LoginThrottle(2, 60, clock=clock, max_clients=3)
    for addr in ("a", "b", "c", "d"):
        t.failed(addr)
        t.failed(addr)
    assert t.retry_after_s("a") == 0  # forgotten
    assert t.retry_after_s("d") > 0
