"""The host sampler: the process tree's CPU and memory, without blocking."""

from __future__ import annotations

import subprocess
import sys
import time

from costlens.record.telemetry import HostSampler


def test_host_sampler_reads_the_process_tree_without_blocking():
    # The child says when its 64 MiB are really in memory (every page written), so a loaded
    # machine cannot make the sampler look before it is there.
    code = "import sys, time; b = b'x' * (64 * 2**20); print('ready', flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
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
