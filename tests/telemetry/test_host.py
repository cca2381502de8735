"""The host sampler: the process tree's CPU and memory, without blocking."""

from __future__ import annotations

import subprocess
import sys
import time

from costlens.telemetry import HostSampler


def test_host_sampler_reads_the_process_tree_without_blocking():
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; b = bytearray(64 * 2**20); time.sleep(30)"]
    )
    try:
        time.sleep(0.5)
        own = HostSampler(root_pid=child.pid).sample(0.0)[0].host_ram_bytes
        s = HostSampler()
        t0 = time.perf_counter()
        (r,) = s.sample(0.0)
        elapsed = time.perf_counter() - t0
        assert r.device_index == -1
        assert r.host_ram_bytes >= own >= 64 * 2**20  # the child's memory counts
        assert r.host_cpu_pct is not None and r.host_cpu_pct >= 0
        assert elapsed < 0.2  # cpu_percent(interval=None): no sleep inside
    finally:
        child.kill()
        child.wait()
