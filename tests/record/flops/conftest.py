from __future__ import annotations

import pytest
import torch

from costlens.record.flops import FlopMeter


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models on a shared 2-core machine: one intra-op thread avoids spinning."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def meter():
    m = FlopMeter()
    m.install()
    yield m
    m.uninstall()
