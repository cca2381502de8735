"""Issue 22: the instance a run runs on, from DMI first and each cloud's metadata protocol second,
against fixture DMI folders and a fake metadata server on 127.0.0.1 (never 169.254.169.254)."""

from __future__ import annotations

import json
import socket
import time

import pytest

from costlens.record import cloud
from costlens.store.queries import list_runs
from tests.conftest import FIXTURES
from tests.record.fake_metadata import AWS_DOC, AZURE_DOC, FakeMetadata

DMI = FIXTURES / "dmi"


@pytest.mark.parametrize(
    ("folder", "want"),
    [("aws", "aws"), ("gcp", "gcp"), ("azure", "azure"), ("baremetal", None)],
)
def test_dmi_names_the_cloud_as_cloud_init_does(folder, want):
    assert cloud.dmi_cloud(DMI / folder) == want


def test_dmi_of_a_xen_aws_instance_and_an_empty_folder(tmp_path):
    assert cloud.dmi_cloud(tmp_path) is None  # no DMI at all (a container without /sys)
    (tmp_path / "product_version").write_text("4.11.amazon\n")
    assert cloud.dmi_cloud(tmp_path) == "aws"


def test_aws_imdsv2_token_flow_and_spot():
    with FakeMetadata("aws", life_cycle="spot") as fake:
        got = cloud.detect(DMI / "aws", fake.url)
    assert got == cloud.Instance(
        "aws", "c6id.xlarge", "us-east-2", "us-east-2b", "spot", "i-0abc123def4567890"
    )
    method, path, headers = fake.requests[0]
    assert (method, path) == ("PUT", "/latest/api/token")
    assert headers["X-aws-ec2-metadata-token-ttl-seconds"]
    assert all(h.get("X-aws-ec2-metadata-token") for m, _, h in fake.requests[1:])


def test_aws_without_a_life_cycle_answer_leaves_the_purchase_option_unknown():
    with FakeMetadata("aws", life_cycle=None) as fake:  # 404 for the life cycle
        got = cloud.detect(DMI / "aws", fake.url)
    assert got is not None and got.instance_type == AWS_DOC["instanceType"]
    assert got.purchase_option is None


def test_gcp_with_its_flavor_header_both_ways():
    with FakeMetadata("gcp") as fake:
        got = cloud.detect(DMI / "gcp", fake.url)
    assert got == cloud.Instance(
        "gcp", "n2d-standard-8", "us-east4", "us-east4-c", "spot", "4520031799277581759"
    )
    assert fake.requests[0][2]["Metadata-Flavor"] == "Google"
    with FakeMetadata("gcp", "no-flavor") as fake:  # not Google's server answering
        assert cloud.detect(DMI / "gcp", fake.url) is None


def test_azure_imds_with_its_metadata_header():
    with FakeMetadata("azure") as fake:
        got = cloud.detect(DMI / "azure", fake.url)
    assert got == cloud.Instance(
        "azure", "Standard_F8s_v2", "eastus", "eastus-2", "on-demand", AZURE_DOC["vmId"]
    )
    assert fake.requests[0][2]["Metadata"] == "true"


@pytest.mark.parametrize("which", ["aws", "gcp", "azure"])
def test_garbage_and_a_slow_service_give_nothing_within_the_budget(which):
    with FakeMetadata(which, "garbage") as fake:
        assert cloud.detect(DMI / which, fake.url) is None
    with FakeMetadata(which, "slow", delay_s=2.0) as fake:
        t0 = time.monotonic()
        assert cloud.detect(DMI / which, fake.url, budget_s=0.2) is None
        assert time.monotonic() - t0 < 0.6


def test_nothing_listening_is_nothing_detected():
    t0 = time.monotonic()
    assert cloud.detect(DMI / "aws", "http://127.0.0.1:9") is None
    assert time.monotonic() - t0 < 0.6


def test_a_machine_no_dmi_names_sends_nothing():
    with FakeMetadata("aws") as fake:
        assert cloud.detect(DMI / "baremetal", fake.url) is None
    assert fake.requests == []


def test_a_declaration_wins_and_asks_nothing(monkeypatch):
    with FakeMetadata("aws") as fake:
        monkeypatch.setenv("COSTLENS_DMI_ROOT", str(DMI / "aws"))
        monkeypatch.setenv("COSTLENS_METADATA_URL", fake.url)
        assert cloud.run_columns({"instance_type": "p5.48xlarge"}) == {"instance_basis": "declared"}
        assert cloud.run_columns({"provider": "gcp"}) == {"instance_basis": "declared"}
        assert fake.requests == []
        got = cloud.run_columns({"region": "eu-west-1"})  # a declared region stays
        assert "region" not in got and got["instance_basis"] == "detected"
        assert got["zone"] == "us-east-2b" and got["instance_id"] == AWS_DOC["instanceId"]
        monkeypatch.setenv("COSTLENS_NO_INSTANCE_DETECTION", "1")
        n = len(fake.requests)
        assert cloud.run_columns({}) == {"instance_basis": "cheapest match"}
        assert len(fake.requests) == n


def test_bad_endpoint_setting_is_refused(monkeypatch):
    from costlens.core import config
    from costlens.core.errors import ConfigError

    monkeypatch.setenv("COSTLENS_METADATA_URL", "https://169.254.169.254/latest")
    with pytest.raises(ConfigError, match="COSTLENS_METADATA_URL"):
        config.METADATA_URL.get()


# ---------------------------------------------------------------- `costlens run`, end to end

SCRIPT = "import time\nfor _ in range(3):\n    time.sleep(0.05)\nprint('done')\n"


def _run(cli, tmp_path, sqlite_url, *flags):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    res = cli("run", "--db", sqlite_url, *flags, "--", "python", str(script))
    assert res.code == 0, res.err
    return res


@pytest.fixture(autouse=True)
def _fast(monkeypatch):
    monkeypatch.setenv("COSTLENS_FLUSH_INTERVAL_S", "0.2")


@pytest.mark.parametrize(
    ("which", "want"),
    [
        ("aws", ("aws", "c6id.xlarge", "us-east-2", "us-east-2b", "spot")),
        ("gcp", ("gcp", "n2d-standard-8", "us-east4", "us-east4-c", "spot")),
        ("azure", ("azure", "Standard_F8s_v2", "eastus", "eastus-2", "on-demand")),
    ],
)
def test_costlens_run_records_and_prices_the_detected_instance(
    which, want, cli, store, sqlite_url, tmp_path, monkeypatch
):
    with FakeMetadata(which) as fake:
        monkeypatch.setenv("COSTLENS_DMI_ROOT", str(DMI / which))
        monkeypatch.setenv("COSTLENS_METADATA_URL", fake.url)
        _run(cli, tmp_path, sqlite_url)
    (rec,) = list_runs(store)
    got = (rec["provider"], rec["instance_type"], rec["region"], rec["zone"])
    assert (*got, rec["purchase_option"]) == want
    assert rec["instance_basis"] == "detected" and rec["instance_id"]
    cost = json.loads(cli("cost", rec["id"], "--db", sqlite_url, "--format", "json").out)
    q = cost["quote"]
    assert (q["provider"], q["instance_type"], q["region"]) == want[:3]
    assert cost["spot"] is (want[4] == "spot")
    assert cost["quote_reason"].startswith(f"detected instance {want[0]}/{want[1]}")
    assert f"the run's region {want[2]}" in cost["quote_reason"]


def test_costlens_run_with_a_declaration_records_it_as_declared(
    cli, store, sqlite_url, tmp_path, monkeypatch
):
    with FakeMetadata("aws") as fake:
        monkeypatch.setenv("COSTLENS_DMI_ROOT", str(DMI / "aws"))
        monkeypatch.setenv("COSTLENS_METADATA_URL", fake.url)
        _run(cli, tmp_path, sqlite_url, "--provider", "gcp", "--instance", "n2d-standard-8")
    assert fake.requests == []
    (rec,) = list_runs(store)
    assert (rec["provider"], rec["instance_type"], rec["instance_basis"]) == (
        "gcp",
        "n2d-standard-8",
        "declared",
    )
    assert rec["zone"] is None and rec["instance_id"] is None


def test_a_run_on_a_machine_no_cloud_names_opens_no_socket_beyond_loopback(
    cli, store, sqlite_url, tmp_path, monkeypatch
):
    """The real metadata address configured, a bare-metal DMI: not one socket leaves loopback
    (any attempt is refused here, so a regression cannot send a packet either)."""
    monkeypatch.setenv("COSTLENS_DMI_ROOT", str(DMI / "baremetal"))
    monkeypatch.delenv("COSTLENS_METADATA_URL")  # the default: 169.254.169.254
    seen: list[object] = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_sendto = socket.socket.sendto

    def loopback_only(address: object) -> None:
        if isinstance(address, tuple):
            host = str(address[0])
            if not (host.startswith("127.") or host in ("::1", "localhost")):
                seen.append(address)
                raise OSError(f"test: no packet to {host}")

    def connect(self, address):
        loopback_only(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        loopback_only(address)
        return real_connect_ex(self, address)

    def sendto(self, data, *args):
        loopback_only(args[-1])
        return real_sendto(self, data, *args)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", sendto)
    _run(cli, tmp_path, sqlite_url)
    time.sleep(cloud.DETECT_BUDGET_S)  # a detection thread, had one started, has had its time
    assert seen == []
    (rec,) = list_runs(store)
    assert rec["instance_basis"] == "cheapest match" and rec["provider"] is None


def test_detection_never_delays_the_training_thread(monkeypatch):
    """A metadata service that hangs: starting the detection returns at once."""
    with FakeMetadata("aws", "slow", delay_s=1.0) as fake:
        monkeypatch.setenv("COSTLENS_DMI_ROOT", str(DMI / "aws"))
        monkeypatch.setenv("COSTLENS_METADATA_URL", fake.url)
        t0 = time.monotonic()
        d = cloud.Detection().start({})
        assert time.monotonic() - t0 < 0.05
        assert d.columns == {}
        assert d.wait()
        assert d.columns == {"instance_basis": "cheapest match"}
