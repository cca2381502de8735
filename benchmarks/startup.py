"""Fixed start-up of ``costlens run`` on a script that only imports torch, alternated.

Modes, each a fresh interpreter, rotated round by round: ``python script.py`` (bare), the same
again (A/A: the noise floor), ``costlens run -- python script.py`` (SQLite store, created
before timing) and the same on a new store each time (what a first run pays once: the schema).
Per launch: wall time to the script's first line (what the script waits for), from its last
line to the process's end (the end of the run: last flush by the SQLite store's child process),
total wall time, and CPU time (user + sys of the children, the store's child included, as this
process is their subreaper: robust to a busy machine). Medians; the figure is costlens minus bare.

Then the cold start of ``costlens.profile``: a fresh interpreter runs ``import costlens`` and
starts a run (``costlens.profile(db=...).__enter__()``); wall time and the training thread's own
CPU time (``time.thread_time``: what the training thread spends, whatever the machine's load).

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
SCRIPT = "import time\nprint(time.time(), flush=True)\nimport torch\n" + (
    "print(time.time(), flush=True)\n"
)
COLD = (
    "import time, sys; t0 = time.perf_counter(); c0 = time.thread_time(); import costlens; "
    "run = costlens.profile(db=sys.argv[1]).__enter__(); "
    "print(time.perf_counter() - t0, time.thread_time() - c0)"
)


def become_subreaper() -> None:
    """Orphaned grandchildren (the store's child process) come to this process, so their CPU is
    counted once reaped (Linux ``PR_SET_CHILD_SUBREAPER``; elsewhere they are not counted)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def reap_orphans(timeout_s: float = 10.0) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.01)


def launch(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float, float]:
    """(seconds to the script's first line, from its last line to the end, total wall seconds,
    children's CPU seconds)."""
    before = os.times()
    t0 = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True, timeout=300)
    t_end = time.time()
    total = t_end - t0
    reap_orphans()  # the SQLite store's child outlives its parent by a moment: count its CPU
    after = os.times()
    first, last = (float(v) for v in out.stdout.split()[:2])
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return first - t0, t_end - last, total, cpu


def cold_starts(db: str, env: dict[str, str], n: int) -> list[tuple[float, float]]:
    """(wall seconds, training-thread CPU seconds) of ``n`` cold starts of costlens.profile."""
    out = []
    for _ in range(n):
        res = subprocess.run([sys.executable, "-c", COLD, db], capture_output=True, text=True,
                             env=env, check=True, timeout=120)  # fmt: skip
        wall, cpu = (float(v) for v in res.stdout.split()[-2:])
        out.append((wall, cpu))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = ap.parse_args()
    become_subreaper()
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
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its bytecode cached
    bare = [sys.executable, str(script)]

    def under(url: str) -> list[str]:
        return [sys.executable, "-m", "costlens", "run", "--db", url, "--", *bare]

    fresh = iter(range(10**6))
    modes = {
        "bare": lambda: bare,
        "bare again (A/A)": lambda: bare,
        "costlens run": lambda: under(db),
        "costlens run, new store": lambda: under(f"sqlite:///{tmp}/new{next(fresh)}.db"),
    }
    launch(under(db), env)  # creates the store (schema) and warms the file cache
    res: dict[str, list[tuple[float, ...]]] = {m: [] for m in modes}
    names = list(modes)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            res[name].append(launch(modes[name](), env))
    med = {m: [statistics.median(v[i] for v in res[m]) for i in range(4)] for m in modes}
    rows = [f"| {m} | {' | '.join(f'{x:.3f}' for x in v)} |" for m, v in med.items()]
    b, p, aa, new = (med[m] for m in ("bare", "costlens run", "bare again (A/A)", names[3]))

    def adds(x: list[float]) -> str:
        return " / ".join(f"{x[i] - b[i]:+.3f}" for i in range(4))

    cold = cold_starts(db, env, args.rounds)
    cold_wall = statistics.median(c[0] for c in cold)
    cold_cpu = statistics.median(c[1] for c in cold)
    load = os.getloadavg()
    body = "\n".join(
        [
            f"`benchmarks/startup.py` on {today()}; machine: {machine()} (2 cores shared with "
            f"other jobs; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the "
            f"end). {args.rounds} rounds, modes rotated; medians in seconds. The script only "
            "imports torch.",
            "",
            "| mode | to the script's first line | script's last line to the end | total wall "
            "| CPU (children) |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"Over bare (before the script / end / whole run wall / CPU): costlens run "
            f"{adds(p)} s; on a new store {adds(new)} s; A/A {adds(aa)} s.",
            "",
            f"Cold start of `costlens.profile` (fresh interpreter: `import costlens` + start a "
            f"run on an existing SQLite store), median of {args.rounds}: {cold_wall * 1e3:.0f} ms "
            f"wall, {cold_cpu * 1e3:.0f} ms of the training thread's CPU.",
        ]
    )
    print(body)
    if args.write:
        write_section(HEADING, body)


if __name__ == "__main__":
    main()
