"""Fixtures of the input-validation tests: a valid plan, a valid price file, a SkyPilot catalog."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture
def plan_csv(tmp_path: Path) -> Path:
    """A copy of the shipped example plan (valid: forecasts cleanly)."""
    path = tmp_path / "plan.csv"
    shutil.copy(REPO / "data" / "example_plan.csv", path)
    return path


@pytest.fixture
def small_plan_text() -> str:
    return (
        "name,month,project,strategy,params,tokens,gpu,gpus,provider,repeats\n"
        "job,2027-01,p,scratch,125M,1B,A100-80GB,1,lambda,1\n"
    )


@pytest.fixture
def prices_csv(tmp_path: Path) -> Path:
    path = tmp_path / "prices.csv"
    shutil.copy(REPO / "tests" / "fixtures" / "prices_small.csv", path)
    return path


@pytest.fixture
def skypilot_csv(tmp_path: Path) -> Path:
    path = tmp_path / "aws" / "vms.csv"
    path.parent.mkdir()
    shutil.copy(REPO / "tests" / "fixtures" / "skypilot_aws_vms.csv", path)
    return path
