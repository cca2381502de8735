"""The SQLite store's child process imports the store as soon as it starts (issue 25): its
imports overlap the parent's sampler set-up and the script, instead of starting when the first
"open" call comes (which a short script then waited for at its end)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_the_store_child_imports_the_store_before_its_first_call():
    code = (
        "import sys; from costlens.record.store_side import child_main; child_main(); "
        "print('costlens.store.ingest' in sys.modules, 'costlens.store.db' in sys.modules, "
        "file=sys.stderr)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        stdin=subprocess.DEVNULL,  # no call at all: the pipe's end of file ends the child
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        timeout=120,
    )
    assert out.stderr.strip().splitlines()[-1] == "True True", out.stderr
