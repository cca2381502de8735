"""The sampler contract: nothing at import, and the do-nothing sampler."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from costlens.record.telemetry import NullSampler


def test_import_never_initialises_nvml(tmp_path):
    (tmp_path / "pynvml.py").write_text(
        textwrap.dedent(
            """
            import os
            class NVMLError(Exception):
                pass
            def nvmlInit():
                open(os.environ["MARK"], "w").write("init")
            """
        )
    )
    mark = tmp_path / "mark"
    code = "import costlens, costlens.record.telemetry, costlens.record, costlens.record.recorder"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "MARK": str(mark)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)
    assert not mark.exists()


def test_null_sampler_reads_nothing():
    s = NullSampler()
    assert s.sample(0.0) == [] and s.energy() == (None, None) and s.device_names() == []
