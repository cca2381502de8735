"""A fake cloud metadata service on 127.0.0.1 speaking each cloud's protocol, for the instance
detection tests (never 169.254.169.254).

- AWS IMDSv2: ``PUT /latest/api/token`` needs ``X-aws-ec2-metadata-token-ttl-seconds``; every GET
  needs ``X-aws-ec2-metadata-token`` with that token (401 otherwise, as IMDSv2 answers); the
  identity document and ``meta-data/instance-life-cycle`` (404 when ``life_cycle`` is None, as on
  an instance whose purchase option the service does not give).
- GCP: answers only with ``Metadata-Flavor: Google`` (403 otherwise) and sends that header back.
- Azure IMDS: answers only with ``Metadata: true`` (400 otherwise).

``mode``: "ok", "slow" (answers after ``delay_s``), "garbage" (200 with text that is not JSON),
"no-flavor" (GCP without its response header). ``requests`` lists (method, path, headers).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "AQAEAFAKE-token=="
AWS_DOC = {
    "instanceType": "c6id.xlarge",
    "region": "us-east-2",
    "availabilityZone": "us-east-2b",
    "instanceId": "i-0abc123def4567890",
    "accountId": "123456789012",
}
GCP_DOC = {
    "id": 4520031799277581759,
    "machineType": "projects/123456789/machineTypes/n2d-standard-8",
    "zone": "projects/123456789/zones/us-east4-c",
    "scheduling": {"automaticRestart": "FALSE", "preemptible": "TRUE", "provisioningModel": "SPOT"},
}
AZURE_DOC = {
    "vmSize": "Standard_F8s_v2",
    "location": "eastus",
    "zone": "2",
    "vmId": "02aab8a4-74ef-476e-8182-f6d2ba4166a6",
    "priority": "Regular",
}


class FakeMetadata:
    """``with FakeMetadata("aws") as fake:`` -> ``fake.url`` (http://127.0.0.1:PORT)."""

    def __init__(self, cloud: str, mode: str = "ok", *, life_cycle: str | None = "spot",
                 delay_s: float = 2.0) -> None:  # fmt: skip
        self.cloud, self.mode, self.life_cycle, self.delay_s = cloud, mode, life_cycle, delay_s
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_PUT(self) -> None:
                fake._answer(self, "PUT")

            def do_GET(self) -> None:
                fake._answer(self, "GET")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeMetadata:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, h: BaseHTTPRequestHandler, method: str) -> None:
        self.requests.append((method, h.path, dict(h.headers.items())))
        if self.mode == "slow":
            time.sleep(self.delay_s)
        status, body, headers = getattr(self, f"_{self.cloud}")(method, h.path, h.headers)
        token = self.cloud == "aws" and method == "PUT"
        if self.mode == "garbage" and status == 200 and not token:
            body = "<html>captive portal</html>"
        data = body.encode()
        try:
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:  # the client gave up (its budget): nothing to answer
            pass

    def _aws(self, method: str, path: str, headers: Any) -> tuple[int, str, dict[str, str]]:
        if method == "PUT":
            ttl = headers.get("X-aws-ec2-metadata-token-ttl-seconds")
            if path != "/latest/api/token" or not ttl:
                return 400, "", {}
            return 200, TOKEN, {}
        if headers.get("X-aws-ec2-metadata-token") != TOKEN:
            return 401, "", {}
        if path == "/latest/dynamic/instance-identity/document":
            return 200, json.dumps(AWS_DOC), {"Content-Type": "application/json"}
        if path == "/latest/meta-data/instance-life-cycle" and self.life_cycle:
            return 200, self.life_cycle, {}
        return 404, "Not Found", {}

    def _gcp(self, method: str, path: str, headers: Any) -> tuple[int, str, dict[str, str]]:
        if headers.get("Metadata-Flavor") != "Google":
            return 403, "Missing Metadata-Flavor:Google header.", {}
        flavor = {} if self.mode == "no-flavor" else {"Metadata-Flavor": "Google"}
        if path.startswith("/computeMetadata/v1/instance/") and "recursive=true" in path:
            return 200, json.dumps(GCP_DOC), {"Content-Type": "application/json", **flavor}
        return 404, "", flavor

    def _azure(self, method: str, path: str, headers: Any) -> tuple[int, str, dict[str, str]]:
        if headers.get("Metadata") != "true":
            error = {"error": "Bad request. Required metadata header not specified"}
            return 400, json.dumps(error), {}
        if path.startswith("/metadata/instance/compute") and "api-version=" in path:
            return 200, json.dumps(AZURE_DOC), {"Content-Type": "application/json"}
        return 404, "", {}
