"""Fixed start-up of ``costlens run`` on a script that only imports torch, alternated.

Modes, each a fresh interpreter, rotated round by round: ``python script.py`` (bare), the same
again (A/A: the noise floor), and ``costlens run -- python script.py`` (SQLite store, created
before timing). Per launch: wall time to the script's first line (what the script waits for),
total wall time, and CPU time (user + sys of the child: robust to a busy machine). Medians; the
figure is costlens minus bare.

    python benchmarks/startup.py [--rounds 7] [--write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import machine, today, write_section  # noqa: E402

HEADING = "Start-up of costlens run"
SCRIPT = "import time, sys\nprint(time.time(), flush=True)\nimport torch\n"


def launch(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(seconds to the script's first line, total wall seconds, child CPU seconds)."""
    before = os.times()
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True, timeout=300)
    total = time.time() - t0
    after = os.times()
    first = float(out.stdout.split()[0]) - t0
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return first, total, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    script = tmp / "only_torch.py"
    script.write_text(SCRIPT)
    db = f"sqlite:///{tmp}/startup.db"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "COSTLENS_HOME": str(tmp),
        "COSTLENS_QUIET": "1",
        "HF_HUB_OFFLINE": "1",
    }
    bare = [sys.executable, str(script)]
    prof = [sys.executable, "-m", "costlens", "run", "--db", db, "--", sys.executable, str(script)]
    modes = {"bare": bare, "bare again (A/A)": bare, "costlens run": prof}
    launch(prof, env)  # creates the store (schema) and warms the file cache
    res: dict[str, list[tuple[float, float, float]]] = {m: [] for m in modes}
    names = list(modes)
    for r in range(args.rounds):
        for name in names[r % 3 :] + names[: r % 3]:
            res[name].append(launch(modes[name], env))
    med = {m: [statistics.median(v[i] for v in res[m]) for i in range(3)] for m in modes}
    rows = [f"| {m} | {a:.3f} | {b:.3f} | {c:.3f} |" for m, (a, b, c) in med.items()]
    b, p, aa = med["bare"], med["costlens run"], med["bare again (A/A)"]
    body = "\n".join(
        [
            f"`benchmarks/startup.py` on {today()}; machine: {machine()} (2 cores shared with "
            f"other jobs: noisy). {args.rounds} rounds, modes rotated; medians in seconds.",
            "",
            "| mode | to the script's first line | total wall | child CPU |",
            "|---|---|---|---|",
            *rows,
            "",
            f"costlens run adds {p[0] - b[0]:+.3f} s before the script starts, "
            f"{p[1] - b[1]:+.3f} s wall in all and {p[2] - b[2]:+.3f} s of CPU "
            f"(A/A: {aa[0] - b[0]:+.3f} / "
            f"{aa[1] - b[1]:+.3f} / {aa[2] - b[2]:+.3f} s).",
        ]
    )
    print(body)
    if args.write:
        write_section(HEADING, body)


if __name__ == "__main__":
    main()
