"""A demo-like store for the dashboard's tests: a vision project with scratch, LoRA and full
fine-tune runs, a CPU run, a running run, a failed run and one whose name is an HTML injection
attempt, written through costlens.store.ingest (fixture data for tests, not measurements)."""

from __future__ import annotations

import json
from datetime import timedelta

from costlens.store import insert_run, insert_samples, update_run
from costlens.store.queries import utcnow

XSS_NAME = "<img src=x onerror=alert(1)>"
A100 = "NVIDIA A100-SXM4-80GB"


def _gpu_samples(run_id: str, start, n: int, devices: int, util: float, power_w: float):
    t0 = start.timestamp()
    rows = []
    for d in range(devices):
        for i in range(n):
            u = 2.0 if i % 5 == 0 else util  # every fifth reading idle
            rows.append(
                (run_id, t0 + i * 30.0, 0, d, u, 30 * 2**30 + i * 2**20, 80 * 2**30,
                 power_w + d, None, 1410, 60, 25.0, 64 * 2**30)
            )  # fmt: skip
    return rows


def _host_samples(run_id: str, start, n: int):
    t0 = start.timestamp()
    return [
        (run_id, t0 + i * 10.0, 0, -1, None, None, None, None, None, None, None,
         50.0 + (i % 10), 8 * 2**30 + i * 2**20)
        for i in range(n)
    ]  # fmt: skip


def fill_store(store) -> dict[str, str]:
    """A handful of runs: a vision project with scratch, LoRA and full fine-tune runs, a CPU run,
    a running run, a failed run and one whose name is an HTML injection attempt."""
    now = utcnow()
    ids: dict[str, str] = {}

    def add(key, *, days_ago, hours, devices, device, strategy, project, status="completed",
            samples=0, flops=0.0, energy_j=None, metrics=None, name=None, tags=None):  # fmt: skip
        rid = f"test{key}0000000000000000"[:24]
        started = now - timedelta(days=days_ago)
        values = {
            "id": rid,
            "project": project,
            "name": name if name is not None else f"{project}-{strategy}",
            "tags_json": json.dumps(tags or [strategy]),
            "status": status,
            "started_at": started,
            "ended_at": None if status == "running" else started + timedelta(hours=hours),
            "heartbeat_at": now if status == "running" else None,
            "host": "testhost",
            "user": "tester",
            "command": "python train.py",
            "strategy": strategy,
            "params_total": 86_000_000,
            "params_trainable": 86_000_000 if strategy != "lora" else 600_000,
            "steps": 1000,
            "samples": samples,
            "flops": flops,
            "precision": "bf16" if devices else "fp32",
            "world_size": max(devices, 1),
            "device_name": device,
            "device_count": devices,
            "host_cpu_count": 16,
            "host_ram_total_bytes": 64 * 2**30,
            "energy_j": energy_j,
            "energy_source": "nvml" if energy_j else None,
            "metrics_json": json.dumps(metrics or {}),
        }
        insert_run(store, values)
        ids[key] = rid
        return rid, started

    rid, st = add("scratch", days_ago=6, hours=4, devices=2, device=A100, strategy="scratch",
                  project="vision", samples=1_200_000, flops=2.0e18, energy_j=2.0e7,
                  metrics={"accuracy": 0.912, "loss": 0.31})  # fmt: skip
    insert_samples(store, _gpu_samples(rid, st, 300, 2, 85.0, 350.0))
    rid, st = add("lora", days_ago=4, hours=0.75, devices=1, device=A100, strategy="lora",
                  project="vision", samples=200_000, flops=1.5e17, energy_j=1.2e6,
                  metrics={"accuracy": 0.905, "loss": 0.33,
                           "labelled_samples": 20_000})  # fmt: skip
    insert_samples(store, _gpu_samples(rid, st, 90, 1, 70.0, 300.0))
    rid, st = add("finetune", days_ago=3, hours=3, devices=2, device=A100,
                  strategy="full-finetune", project="vision", samples=400_000, flops=8.0e17,
                  energy_j=2.6e7, metrics={"accuracy": 0.921, "loss": 0.29})  # fmt: skip
    insert_samples(store, _gpu_samples(rid, st, 200, 2, 60.0, 400.0))
    rid, st = add("cpu", days_ago=2, hours=0.5, devices=0, device=None, strategy="scratch",
                  project="tabular", samples=50_000, flops=3.0e13,
                  metrics={"auc": 0.81})  # fmt: skip
    insert_samples(store, _host_samples(rid, st, 180))
    rid, st = add("running", days_ago=0.02, hours=0, devices=1, device=A100, strategy="lora",
                  project="nlp", status="running", samples=10_000, flops=1e16)  # fmt: skip
    insert_samples(store, _gpu_samples(rid, st, 40, 1, 90.0, 320.0))
    add("failed", days_ago=1, hours=0.2, devices=1, device=A100, strategy="scratch",
        project="nlp", status="failed")  # fmt: skip
    add("xss", days_ago=1.5, hours=1, devices=1, device=A100, strategy="other", project="web",
        name=XSS_NAME, tags=["<b>bold</b>", "javascript:alert(2)"])  # fmt: skip
    update_run(store, ids["running"], {"heartbeat_at": utcnow()})
    return ids
