"""Slurm (srun without torchrun), accelerate launch and the DeepSpeed launcher: two local CPU
processes with the environment each launcher sets form one run, with its launcher and job."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import text

from costlens.record import dist_info, make_run_id
from costlens.store.queries import list_runs
from tests.conftest import REPO

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import os, torch, costlens
    rank = int(os.environ.get("SLURM_PROCID", os.environ.get("RANK", "0")))
    model = torch.nn.Linear(8, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with costlens.profile(project="launch", db=os.environ["DB"], sample_interval_s=0.05) as run:
        for _ in range(3 + rank):
            model(torch.randn(5, 8)).sum().backward()
            opt.step()
            opt.zero_grad()
    print("run", run.id)
    """
)

SLURM = {
    "SLURM_JOB_ID": "4242", "SLURM_STEP_ID": "0", "SLURM_NTASKS": "2", "SLURM_NNODES": "1",
    "SLURM_TASKS_PER_NODE": "2", "SLURM_JOB_PARTITION": "gpu-a100", "SLURM_NODEID": "0",
}  # fmt: skip
ACCELERATE = {
    "TORCHELASTIC_RUN_ID": "none", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
    "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29511", "GROUP_RANK": "0",
    "ACCELERATE_MIXED_PRECISION": "no", "ACCELERATE_USE_CPU": "True",
}  # fmt: skip
DEEPSPEED = {
    "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29512",
    "CROSS_RANK": "0", "CROSS_SIZE": "1", "LOCAL_SIZE": "2",
}  # fmt: skip


def _rank_env(launcher: str, rank: int) -> dict[str, str]:
    if launcher == "slurm":
        return {**SLURM, "SLURM_PROCID": str(rank), "SLURM_LOCALID": str(rank)}
    base = ACCELERATE if launcher == "accelerate" else DEEPSPEED
    return {**base, "RANK": str(rank), "LOCAL_RANK": str(rank)}


def _clean_env() -> dict[str, str]:
    drop = ("SLURM_", "ACCELERATE_", "TORCHELASTIC_", "RANK", "WORLD_SIZE", "LOCAL_", "CROSS_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@pytest.mark.parametrize("launcher", ["slurm", "accelerate", "deepspeed"])
def test_two_processes_of_one_launch_are_one_run(launcher, store, sqlite_url, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    base = {**_clean_env(), "DB": sqlite_url, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
            "COSTLENS_FLUSH_INTERVAL_S": "0.5", "COSTLENS_QUIET": "1"}  # fmt: skip
    procs = [
        subprocess.Popen(
            [sys.executable, str(script)],
            env={**base, **_rank_env(launcher, rank)},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    ids = {
        line.split()[1] for out, _ in outs for line in out.splitlines() if line.startswith("run")
    }
    assert len(ids) == 1  # both processes agreed on the run id
    (rec,) = list_runs(store)
    assert rec["world_size"] == 2 and rec["launcher"] == launcher
    assert rec["steps"] == 4 and rec["samples"] == 5 * (3 + 4)  # most steps; samples summed
    if launcher == "slurm":
        assert (rec["job_id"], rec["job_partition"]) == ("4242", "gpu-a100")
    with store.engine.connect() as conn:
        ranks = conn.execute(
            text("SELECT rank FROM run_ranks WHERE run_id = :r ORDER BY rank"), {"r": rec["id"]}
        ).all()
    assert [r[0] for r in ranks] == [0, 1]


def test_each_launcher_environment_reads_as_its_own_job():
    slurm = [dist_info({**SLURM, "SLURM_PROCID": str(r), "SLURM_LOCALID": str(r)}) for r in (0, 1)]
    assert [d.rank for d in slurm] == [0, 1] and slurm[0].local_world_size == 2
    assert make_run_id(slurm[0]) == make_run_id(slurm[1])
    next_step = dist_info({**SLURM, "SLURM_STEP_ID": "1", "SLURM_PROCID": "0"})
    assert make_run_id(next_step) != make_run_id(slurm[0])  # another job step, another run
    batch = dist_info({"SLURM_JOB_ID": "7", "SLURM_JOB_PARTITION": "cpu", "SLURM_NTASKS": "4"})
    assert batch.world_size == 1 and batch.job_id == "7"  # the batch script itself: one process
    tr = dist_info({**SLURM, "TORCHELASTIC_RUN_ID": "abc", "WORLD_SIZE": "4", "RANK": "3"})
    assert (tr.launcher, tr.rank, tr.job_id) == ("torchrun", 3, "4242")  # torchrun inside srun
    ds = dist_info({**DEEPSPEED, "RANK": "1", "LOCAL_RANK": "1", "CROSS_RANK": "0"})
    assert (ds.launcher, ds.rank, ds.local_world_size) == ("deepspeed", 1, 2)
    assert dist_info({"ACCELERATE_MIXED_PRECISION": "no"}).launcher == "accelerate"
