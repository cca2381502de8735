"""A demo-like project for the transfer page's tests: CPU-only runs (no energy counter) of one
width and two labelled budgets, scratch and two transfer strategies, each repeated three times
with its training-thread CPU time logged (fixture data for tests, not measurements)."""

from __future__ import annotations

import json
from datetime import timedelta

from costlens.store import insert_run
from costlens.store.queries import utcnow

PROJECT = "digits-transfer"
# (strategy, labels) -> training-thread CPU seconds of the three repeats
CPU_S = {
    ("scratch", 50): (2.0, 2.2, 1.8),
    ("full-finetune", 50): (0.5, 0.55, 0.45),  # saves
    ("frozen-features", 50): (1.2, 3.0, 2.0),  # never reaches the target (NOT_REACHED)
    ("scratch", 200): (1.0, 1.1, 0.9),
    ("full-finetune", 200): (4.0, 4.4, 3.6),  # costs more
    ("frozen-features", 200): (0.2, 0.22, 0.18),  # saves
}


def fill_transfer(store) -> list[str]:
    """Insert the runs; their ids."""
    now, ids = utcnow(), []
    for (strategy, labels), cpus in CPU_S.items():
        for repeat, cpu in enumerate(cpus, 1):
            rid = f"tr{strategy[:4]}{labels}{repeat}".ljust(24, "0")[:24]
            started = now - timedelta(hours=1, seconds=len(ids))
            reached = (strategy, labels) != ("frozen-features", 50)
            metrics = {"accuracy": 0.95 if reached else 0.9 + 0.01 * repeat, "epochs": 5,
                       "width": 2, "labelled_samples": labels, "target_accuracy": 0.95,
                       "reached_target": reached, "repeat": repeat,
                       "train_cpu_s": cpu, "task": "digits 5-9"}  # fmt: skip
            insert_run(store, {
                "id": rid, "project": PROJECT, "status": "completed", "strategy": strategy,
                "name": f"{strategy} w2 {labels} labels #{repeat}", "tags_json": "[]",
                "started_at": started, "ended_at": started + timedelta(seconds=cpu * 1.5),
                "host": "testhost", "user": "tester", "command": "costlens demo",
                "params_total": 12_345, "params_trainable": 12_345, "steps": 10,
                "samples": labels * 5, "flops": 1e9 * cpu, "precision": "fp32",
                "world_size": 1, "device_count": 0, "host_cpu_count": 2,
                "metrics_json": json.dumps(metrics),
            })  # fmt: skip
            ids.append(rid)
    return ids
