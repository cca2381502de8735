"""Plan-file helpers shared by the plan and forecast tests."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import REPO

EXAMPLE = REPO / "data" / "example_plan.csv"
HEADER = "name,month,project,strategy,params,tokens,gpu,gpus,provider,repeats"


def write_plan(folder: Path, rows: list[str], header: str = HEADER, name: str = "plan.csv") -> Path:
    path = folder / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def row(name="j", month="2027-01", project="p", strategy="scratch", params="1B", tokens="10B",
        gpu="H100", gpus="8", provider="aws", repeats="1") -> str:  # fmt: skip
    return ",".join([name, month, project, strategy, params, tokens, gpu, gpus, provider, repeats])
