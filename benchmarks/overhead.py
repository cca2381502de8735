"""Profiler overhead on a plain CPU training loop, measured in one run.

MLP 512-1024-1024-10, batch 256, SGD. Modes, alternated block by block: bare; under
``costlens.profile`` with everything on (FLOP meter, host/GPU sampler at 1 s, SQLite store,
flushes); ``FlopCounterMode`` around every step; CodeCarbon's ``EmissionsTracker``
(``measure_power_secs=1``) when codecarbon is importable. Figures: median step time per mode and
its ratio to bare; start-up of ``costlens.profile`` (warm: torch already imported; cold: a fresh
interpreter importing costlens and starting a run).

    python benchmarks/overhead.py [--reps 8] [--steps 40] [--write]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Profiler overhead"


def make_loop():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(256, 512)
    y = torch.randint(0, 10, (256,))

    def step():
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()

    return step


MEASURED_STEPS = 3  # FlopMeter's default measure_steps
MEASURED_STRETCH = 5  # steps looked at for the measurement's one-off cost (a little beyond it)


def block(step, steps: int, per_step_ctx=None) -> list[float]:
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        if per_step_ctx is None:
            step()
        else:
            with per_step_ctx():
                step()
        times.append(time.perf_counter() - t0)
    return times


def codecarbon_tracker():
    try:
        from codecarbon import EmissionsTracker
    except ImportError:
        return None
    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    out = tempfile.mkdtemp()
    return lambda: EmissionsTracker(
        measure_power_secs=1, save_to_file=False, output_dir=out, log_level="error"
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def scraping(port: int, every_s: float = 0.5):
    """A scraper on its own thread reading http://127.0.0.1:PORT/metrics, as Prometheus would."""
    import threading
    import urllib.request

    stop = threading.Event()

    def scrape() -> None:
        while not stop.wait(every_s):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()

    t = threading.Thread(target=scrape, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()


def cold_start_s(db: str) -> float:
    code = (
        "import time; t0 = time.perf_counter(); import costlens; "
        f"run = costlens.profile(db={db!r}).__enter__(); "
        "print(time.perf_counter() - t0)"
    )
    env = {**os.environ, "COSTLENS_QUIET": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its bytecode cached
    vals = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        )
        vals.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(vals)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=8, help="blocks per mode (alternated)")
    ap.add_argument("--steps", type=int, default=200, help="steps per block")
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = ap.parse_args()

    from torch.utils.flop_counter import FlopCounterMode

    import costlens

    tmp = tempfile.mkdtemp()
    os.environ.setdefault("COSTLENS_HOME", tmp)
    os.environ["COSTLENS_QUIET"] = "1"
    db = f"sqlite:///{tmp}/bench.db"
    step = make_loop()
    block(step, 10)  # warm-up
    cc = codecarbon_tracker()

    times: dict[str, list[float]] = {
        "bare": [],
        "bare again (A/A: the noise floor)": [],
        "costlens": [],
        "costlens, metrics server on (scraped every 0.5 s)": [],
        "FlopCounterMode every step": [],
    }
    if cc:
        times["CodeCarbon (measure_power_secs=1)"] = []
    starts, ends = [], []
    with costlens.profile(db=db, name="warm-store"):
        block(step, 2)  # the store exists before timing (schema created once)
    for _ in range(args.reps):
        times["bare"].append(block(step, args.steps))
        times["bare again (A/A: the noise floor)"].append(block(step, args.steps))
        t0 = time.perf_counter()
        prof = costlens.profile(db=db, name="bench", sample_interval_s=1.0)
        prof.__enter__()
        starts.append(time.perf_counter() - t0)
        times["costlens"].append(block(step, args.steps))
        t0 = time.perf_counter()
        prof.__exit__(None, None, None)
        ends.append(time.perf_counter() - t0)
        port = free_port()
        with costlens.profile(db=db, name="bench-metrics", metrics_port=port), scraping(port):
            times["costlens, metrics server on (scraped every 0.5 s)"].append(
                block(step, args.steps)
            )
        times["FlopCounterMode every step"].append(
            block(step, args.steps, lambda: FlopCounterMode(display=False))
        )
        if cc:
            tracker = cc()
            tracker.start()
            times["CodeCarbon (measure_power_secs=1)"].append(block(step, args.steps))
            tracker.stop()
    cold = cold_start_s(db)

    def all_steps(blocks: list[list[float]]) -> list[float]:
        return [t for b in blocks for t in b]

    def steady(blocks: list[list[float]]) -> list[float]:  # every mode drops the same steps
        return [t for b in blocks for t in b[MEASURED_STEPS:]]

    bare = statistics.median(all_steps(times["bare"]))
    bare_steady = statistics.median(steady(times["bare"]))
    rows = []
    for mode, blocks in times.items():
        med, med_s = statistics.median(all_steps(blocks)), statistics.median(steady(blocks))
        rows.append(
            f"| {mode} | {med * 1e3:.2f} | {med / bare:.3f}x | {med_s * 1e3:.2f} "
            f"| {med_s / bare_steady:.3f}x |"
        )
    first = [b[i] for b in times["costlens"] for i in range(MEASURED_STRETCH)]
    first_bare = [b[i] for b in times["bare"] for i in range(MEASURED_STRETCH)]
    extra_s = (statistics.mean(first) - statistics.mean(first_bare)) * MEASURED_STRETCH
    amortised = (
        f"The FLOP meter measures the first {MEASURED_STEPS} steps of a run (per input shape) "
        f"with FlopCounterMode: each block is a new run, so that cost recurs every {args.steps} "
        f"steps here. Measured extra time of a run's first {MEASURED_STRETCH} steps: "
        f"{extra_s * 1e3:.1f} ms in all, i.e. {extra_s / (1000 * bare) * 100:.2f}% of a "
        f"1,000-step run and {extra_s / (10000 * bare) * 100:.3f}% of a 10,000-step one."
    )
    aa = statistics.median(all_steps(times["bare again (A/A: the noise floor)"])) / bare
    noise = (
        f"**The A/A ratio is {aa:.3f}x: the machine was busy during this run, so these ratios "
        "are noise; rerun on a quiet machine.**"
        if abs(aa - 1) > 0.03
        else f"A/A ratio {aa:.3f}x: ratios within about {abs(aa - 1) * 100 + 0.5:.1f}% are noise."
    )
    if not cc:
        rows.append("| CodeCarbon (measure_power_secs=1) | not measured (not importable) | | | |")
    machine = (
        f"{platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}"
    )
    section = "\n".join(
        [
            SECTION,
            "",
            f"`benchmarks/overhead.py` on {date.today().isoformat()}; machine: {machine}.",
            f"MLP 512-1024-1024-10, batch 256, SGD, CPU; {args.reps} alternated blocks of "
            f"{args.steps} steps per mode; median step time. costlens = `costlens.profile` with "
            "everything on (FLOP meter, 1 s sampler, SQLite store, flushes every 5 s); the metrics "
            "server mode adds `metrics_port=` (prometheus_client) and a scraper every 0.5 s.",
            "",
            "| mode | median step, all (ms) | vs bare | median step, steady (ms) | vs bare |",
            "|---|---|---|---|---|",
            *rows,
            "",
            f"*Steady*: the first {MEASURED_STEPS} steps of every block dropped, in every mode "
            "alike.",
            "",
            noise,
            "",
            amortised,
            "",
            f"Start-up of `costlens.profile` (torch already imported): median "
            f"{statistics.median(starts) * 1e3:.1f} ms; cold (fresh interpreter: `import costlens` "
            f"+ start a run, bytecode cached): {cold * 1e3:.0f} ms. Target: under 100 ms. "
            f"End of run (last sample and flush): median {statistics.median(ends) * 1e3:.0f} ms.",
            "",
        ]
    )
    print(section)
    if args.write:
        path = ROOT / "BENCHMARKS.md"
        text = path.read_text() if path.exists() else "# Benchmarks\n\n"
        start = text.find(SECTION + "\n")
        if start < 0:
            text = text.rstrip("\n") + "\n\n" + section
        else:
            nxt = text.find("\n## ", start + len(SECTION))
            text = text[:start] + section + (text[nxt + 1 :] if nxt >= 0 else "")
        tmp_path = path.with_suffix(".md.tmp")
        tmp_path.write_text(text)
        tmp_path.replace(path)
        print(f"wrote {SECTION!r} to {path}", file=sys.stderr)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
