"""The cloud instance a run runs on: local evidence first, the cloud's metadata service second.

The machine's DMI strings (``/sys/class/dmi/id``, ``$COSTLENS_DMI_ROOT``) say whether it is an
AWS, GCP or Azure virtual machine, by the rules cloud-init uses (``ds-identify``): ``sys_vendor``
or ``bios_vendor`` "Amazon EC2" (or an ``ec2`` UUID/serial, a ``*amazon`` Xen version), GCP's
``product_name`` "Google Compute Engine", Azure's ``chassis_asset_tag``
7783-7084-3265-9085-8269-3286-77. Only then is that one cloud's metadata service asked
(``$COSTLENS_METADATA_URL``, 169.254.169.254 by default), within :data:`DETECT_BUDGET_S` in all:

- AWS, IMDSv2: ``PUT /latest/api/token`` (``X-aws-ec2-metadata-token-ttl-seconds``), then with
  ``X-aws-ec2-metadata-token`` the instance identity document and ``instance-life-cycle``
  (``spot`` or ``on-demand``; a 404 leaves the purchase option unknown).
- GCP: ``/computeMetadata/v1/instance/?recursive=true`` with ``Metadata-Flavor: Google`` (the
  answer must carry the same header); ``scheduling.provisioningModel`` SPOT or preemptible: spot.
- Azure IMDS: ``/metadata/instance/compute?api-version=2021-02-01`` with ``Metadata: true``;
  ``priority`` Spot: spot.

On any other machine nothing is sent. Runs on a thread of its own (the recorder starts it), never
raises, and a declaration (``--provider``/``--instance``) always wins: nothing is asked then.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from costlens.core import config
from costlens.core.vocab import CHEAPEST_MATCH, DECLARED, DETECTED, ON_DEMAND, SPOT

log = logging.getLogger("costlens")

AWS, GCP, AZURE = "aws", "gcp", "azure"
DETECT_BUDGET_S = 0.4  # every metadata request of one detection together
AZURE_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"  # cloud-init ds-identify
_MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class Instance:
    """What the metadata service says of the machine (None: it did not say)."""

    provider: str
    instance_type: str | None = None
    region: str | None = None
    zone: str | None = None
    purchase_option: str | None = None
    instance_id: str | None = None


def _read(root: Path, name: str) -> str:
    try:
        return (root / name).read_text(errors="replace").strip()
    except OSError:  # missing, or root-only (product_uuid, product_serial)
        return ""


def dmi_cloud(root: Path | None = None) -> str | None:
    """The cloud the DMI strings under ``root`` name (aws, gcp, azure), or None."""
    root = root if root is not None else config.DMI_ROOT.safe_get()
    vendor = {_read(root, "sys_vendor"), _read(root, "bios_vendor"), _read(root, "board_vendor")}
    if "Amazon EC2" in vendor or _read(root, "product_version").lower().endswith("amazon"):
        return AWS
    if any(_read(root, f).lower().startswith("ec2") for f in ("product_uuid", "product_serial")):
        return AWS
    if _read(root, "product_name") == "Google Compute Engine" or "Google" in vendor:
        return GCP
    if _read(root, "chassis_asset_tag") == AZURE_ASSET_TAG:
        return AZURE
    return None


class _Client:
    """HTTP/1.1 to the metadata endpoint with one deadline for every request."""

    def __init__(self, endpoint: str, budget_s: float) -> None:
        parts = urlsplit(endpoint)
        self.host = parts.hostname or ""
        self.port = parts.port or 80
        self.deadline = time.monotonic() + budget_s

    def request(
        self, method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], str]:  # OSError or HTTPException when it fails
        """(status, headers in lower case, body); OSError/HTTPException past the deadline."""
        import http.client  # on the detection thread, not at import (start-up stays fast)

        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("metadata budget spent")
        conn = http.client.HTTPConnection(self.host, self.port, timeout=left)
        try:
            conn.request(method, path, headers=headers)
            resp = conn.getresponse()
            body = resp.read(_MAX_BODY_BYTES).decode(errors="replace")
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
        finally:
            conn.close()

    def get_ok(self, path: str, headers: dict[str, str]) -> str | None:
        status, _, body = self.request("GET", path, headers)
        return body.strip() if status == 200 else None


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _aws(c: _Client) -> Instance | None:
    status, _, token = c.request(
        "PUT", "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    )
    if status != 200 or not token.strip():
        return None
    auth = {"X-aws-ec2-metadata-token": token.strip()}
    doc = json.loads(c.get_ok("/latest/dynamic/instance-identity/document", auth) or "null")
    if not isinstance(doc, dict):
        return None
    cycle = c.get_ok("/latest/meta-data/instance-life-cycle", auth)
    return Instance(
        AWS,
        instance_type=_text(doc.get("instanceType")),
        region=_text(doc.get("region")),
        zone=_text(doc.get("availabilityZone")),
        purchase_option={"spot": SPOT, "on-demand": ON_DEMAND}.get((cycle or "").lower()),
        instance_id=_text(doc.get("instanceId")),
    )


def _last(path: Any) -> str | None:
    """``projects/1/zones/us-central1-a`` -> ``us-central1-a``."""
    text = _text(path)
    return text.rsplit("/", 1)[-1] if text else None


def _gcp(c: _Client) -> Instance | None:
    flavor = {"Metadata-Flavor": "Google"}
    status, headers, body = c.request("GET", "/computeMetadata/v1/instance/?recursive=true", flavor)
    if status != 200 or headers.get("metadata-flavor") != "Google":
        return None
    doc = json.loads(body)
    if not isinstance(doc, dict):
        return None
    zone = _last(doc.get("zone"))
    sched = doc.get("scheduling") if isinstance(doc.get("scheduling"), dict) else {}
    spot = str(sched.get("provisioningModel", "")).upper() == "SPOT" or (
        str(sched.get("preemptible", "")).upper() == "TRUE"
    )
    known = "provisioningModel" in sched or "preemptible" in sched
    return Instance(
        GCP,
        instance_type=_last(doc.get("machineType")),
        region=zone.rsplit("-", 1)[0] if zone and zone.count("-") >= 2 else None,
        zone=zone,
        purchase_option=(SPOT if spot else ON_DEMAND) if known else None,
        instance_id=_text(str(doc["id"])) if doc.get("id") is not None else None,
    )


def _azure(c: _Client) -> Instance | None:
    body = c.get_ok("/metadata/instance/compute?api-version=2021-02-01", {"Metadata": "true"})
    doc = json.loads(body or "null")
    if not isinstance(doc, dict):
        return None
    priority = str(doc.get("priority") or "").lower()
    region = _text(doc.get("location"))
    zone = _text(doc.get("zone"))
    return Instance(
        AZURE,
        instance_type=_text(doc.get("vmSize")),
        region=region,
        zone=f"{region}-{zone}" if region and zone and zone.isdigit() else zone,
        purchase_option={"spot": SPOT, "regular": ON_DEMAND, "low": SPOT}.get(priority),
        instance_id=_text(doc.get("vmId")),
    )


_ASK = {AWS: _aws, GCP: _gcp, AZURE: _azure}


def detect(
    dmi_root: Path | None = None, endpoint: str | None = None, budget_s: float = DETECT_BUDGET_S
) -> Instance | None:
    """The instance, or None: not a cloud the DMI names, or its metadata service did not answer
    well within ``budget_s`` (never raises; nothing sent unless the DMI names a cloud)."""
    try:
        cloud = dmi_cloud(dmi_root)
        if cloud is None:
            return None
        client = _Client(endpoint or config.METADATA_URL.safe_get(), budget_s)
        return _ASK[cloud](client)
    except Exception as exc:  # timeouts, refused, garbage: the run goes on without it
        log.debug("costlens: instance metadata not read (%s: %s)", type(exc).__name__, exc)
        return None


def run_columns(declared: dict[str, Any], **detect_kw: Any) -> dict[str, Any]:
    """The run's instance columns: a declaration (provider or instance) wins and nothing is
    asked; else what :func:`detect` finds (a declared region still wins); else the basis that
    pricing will take the cheapest matching instance. Never raises."""
    if declared.get("provider") or declared.get("instance_type"):
        return {"instance_basis": DECLARED}
    if config.NO_INSTANCE_DETECTION.safe_get():
        return {"instance_basis": CHEAPEST_MATCH}
    found = detect(**detect_kw)
    if found is None or not found.instance_type:
        return {"instance_basis": CHEAPEST_MATCH}
    out = {k: v for k, v in asdict(found).items() if v is not None}
    if declared.get("region"):
        out.pop("region", None)
    return {**out, "instance_basis": DETECTED}


class Detection:
    """:func:`run_columns` on a daemon thread of its own: :attr:`columns` is {} until it is done
    (the recorder adds them to the run at its next flush), so nothing ever waits for it."""

    def __init__(self, find: Any = run_columns) -> None:
        self._find = find
        self.columns: dict[str, Any] = {}
        self._done = threading.Event()

    def wait(self, timeout_s: float = DETECT_BUDGET_S + 0.1) -> bool:
        """Wait (the recorder, before a run's last flush) until it is done: True, or timed out."""
        return self._done.wait(timeout_s)

    def start(self, declared: dict[str, Any]) -> Detection:
        threading.Thread(
            target=self._main, args=(dict(declared),), name="costlens-instance", daemon=True
        ).start()
        return self

    def _main(self, declared: dict[str, Any]) -> None:
        try:
            self.columns = dict(self._find(declared))
        except Exception as exc:
            log.debug("costlens: instance detection failed (%s)", exc)
        finally:
            self._done.set()
