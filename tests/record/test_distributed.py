"""torchrun --nproc_per_node=2, gloo on CPU: all ranks form one run; counts summed over ranks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import text

from costlens.store.queries import list_runs
from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _torchrun(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    exe = shutil.which("torchrun")
    cmd = [exe] if exe else [sys.executable, "-m", "torch.distributed.run"]
    return subprocess.run(
        [*cmd, "--nproc_per_node=2", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env={**os.environ, "COSTLENS_FLUSH_INTERVAL_S": "0.5", "OMP_NUM_THREADS": "1"},
    )


def _ranks(store, run_id: str) -> list[tuple]:
    with store.engine.connect() as conn:
        return list(
            conn.execute(
                text(
                    "SELECT rank, steps, samples, flops FROM run_ranks WHERE run_id = :r "
                    "ORDER BY rank"
                ),
                {"r": run_id},
            )
        )


def test_costlens_run_under_torchrun_records_one_run_summed_over_ranks(store, sqlite_url):
    """FLOPs and samples add up over ranks; steps are the synchronised count, not a sum."""
    proc = _torchrun(
        "-m", "costlens", "run", "--db", sqlite_url, "--project", "ddp", "--",
        "python", str(REPO / "examples" / "ddp_torchrun.py"), "--steps", "5", "--batch", "8",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    (rec,) = list_runs(store)
    assert rec["world_size"] == 2 and rec["status"] == "completed"
    ranks = _ranks(store, rec["id"])
    assert [r[0] for r in ranks] == [0, 1]
    assert rec["steps"] == max(r[1] for r in ranks)
    assert rec["samples"] == sum(r[2] for r in ranks)
    assert rec["flops"] == pytest.approx(sum(r[3] for r in ranks))
    if (REPO / "costlens" / "flops" / "meter.py").is_file():
        assert [r[1] for r in ranks] == [5, 5] and rec["steps"] == 5
        assert rec["samples"] == 2 * 5 * 8
        assert rec["flops"] > 0
    assert proc.stderr.count("costlens: run ") == 1  # one summary: rank 0's


DECLARED = textwrap.dedent(
    """
    import os, time
    import costlens

    rank = int(os.environ["RANK"])
    with costlens.profile(project="declared", db=os.environ["DB"], sample_interval_s=0.05) as run:
        for _ in range(3 + rank):  # ranks do different amounts of work
            run.step(samples=10, tokens=100)
            time.sleep(0.05)
    print("run", run.id)
    """
)


def test_declared_counts_add_up_and_host_sampled_once_per_node(
    store, sqlite_url, tmp_path, monkeypatch
):
    script = tmp_path / "declared.py"
    script.write_text(DECLARED)
    monkeypatch.setenv("DB", sqlite_url)
    proc = _torchrun(str(script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ids = {line.split()[1] for line in proc.stdout.splitlines() if line.startswith("run ")}
    assert len(ids) == 1  # every rank agreed on the run id
    (rec,) = list_runs(store)
    assert rec["id"] in ids and rec["world_size"] == 2
    # samples and tokens add up over ranks; steps are the most any rank took
    assert rec["steps"] == max(3, 4) and rec["samples"] == 70 and rec["tokens"] == 700
    with store.engine.connect() as conn:
        writers = conn.execute(
            text("SELECT COUNT(*), COUNT(DISTINCT t_unix_s) FROM samples WHERE run_id = :r"),
            {"r": rec["id"]},
        ).one()
    assert writers[0] >= 1 and writers[0] == writers[1]  # one host reading per tick, not two
