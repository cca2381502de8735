"""The live thread's cost to training: the same loop under the profiler without it (A), again
(A/A, the noise floor), and with it (B: live figures every 0.2 s, priced, spend and idle guards
checked, progress reports on). Alternated blocks in one run; median step time.

Usage: ``python -m benchmarks.live_overhead [--blocks 8] [--steps 150] [--write]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import torch

from benchmarks._common import machine, today, write_section
from benchmarks.overhead import block, make_loop

HEADING = "Live cost line and guards"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from costlens import profile
    from costlens.record.monitor import RunExtensions

    def bare_profile(**options):  # no price, no trackers: no live thread when quiet
        return profile(extensions=RunExtensions(), **options)

    live_profile = profile

    db = f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    modes = {
        "profiler, no live thread": lambda: bare_profile(db=db, quiet=True),
        "profiler, no live thread again (A/A)": lambda: bare_profile(db=db, quiet=True),
        "profiler + live thread and guards": lambda: live_profile(
            db=db, quiet=False, max_usd=1e9, stop_when_idle_min=1e6, expected_steps=10**6,
            sample_interval_s=0.2,
        ),
    }  # fmt: skip
    step = make_loop()
    times: dict[str, list[float]] = {m: [] for m in modes}
    for i in range(args.blocks):
        order = list(modes)[i % 3 :] + list(modes)[: i % 3]
        for mode in order:
            with modes[mode]():
                times[mode] += block(step, args.steps)[3:]  # the FLOP meter's measured steps out
    base = statistics.median(times["profiler, no live thread"])
    rows = [
        f"| {m} | {statistics.median(t) * 1e3:.2f} | {statistics.median(t) / base:.3f}x |"
        for m, t in times.items()
    ]
    body = "\n".join(
        [
            f"`benchmarks/live_overhead.py` on {today()}; machine: {machine()}.",
            f"MLP 512-1024-1024-10, batch 256, SGD, CPU, 1 torch thread; {args.blocks} alternated "
            f"blocks of {args.steps} steps per mode (first 3 of each dropped); median step time. "
            "The live thread ticks every 0.2 s here (1 s by default).",
            "",
            "| mode | median step (ms) | vs no live thread |",
            "|---|---|---|",
            *rows,
        ]
    )
    print(body)
    if args.write:
        write_section(HEADING, body)


if __name__ == "__main__":
    main()
