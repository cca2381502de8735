"""A ``torch.compile``'d training loop bare versus under ``costlens.profile``, alternated.

MLP 512-1024-1024-10, batch 256, SGD, CPU, compiled with the default backend (inductor). Blocks
alternate: bare (a model compiled before costlens was imported), bare again (the A/A noise
floor), costlens (``costlens.profile`` with everything on, and a model compiled inside the run,
so the FLOP meter follows it). Each costlens block is a new run: its first call of the compiled
model replays it once on fake tensors to count its FLOPs; that one-off cost is reported apart
from the steady-state ratio (medians with each block's first steps dropped, for every mode).
Also reported: dynamo's frame counters (compiled frames must be the same as bare) and the FLOPs
the meter counted against FlopCounterMode on the eager model times the steps.

    python benchmarks/compiled_overhead.py [--reps 10] [--steps 60] [--threads 1] [--write]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch
from torch import nn

from benchmarks._common import machine, today, write_section

HEADING = "Compiled loop overhead (torch.compile)"
NOTES = (
    "- Options weighed: holding FlopCounterMode over the first compiled calls (the old way) "
    "makes dynamo skip the frame for good; wrapping the user's backend changes it (refused); "
    "counting on an eager replay with fake tensors (built) costs one fake forward + backward "
    "per input signature (the first-step figure above), nothing per step after it, and never "
    "holds a dispatch mode over a compiled call. Running the replay on another thread was not "
    "built: it would swap the parameters of a module the training thread is using."
)

FIRST_STEPS = 3  # dropped from every block for the steady state (the replay sits in the first)


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10)
    )


def block(model, opt, x, y, steps: int) -> list[tuple[float, float]]:
    """(wall s, process CPU s) per step; CPU time is not slowed by other processes."""
    loss_fn = nn.CrossEntropyLoss()
    times = []
    for _ in range(steps):
        t0, c0 = time.perf_counter(), time.process_time()
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    return times


def eager_step_flops(x, y) -> float:
    from costlens.record.flops import flop_counter

    model = make_model()
    with flop_counter() as c:
        nn.CrossEntropyLoss()(model(x), y).backward()
    return float(c.get_total_flops())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=10, help="blocks per mode (alternated)")
    ap.add_argument("--steps", type=int, default=60, help="steps per block")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from torch._dynamo.utils import counters

    x, y = torch.randn(256, 512), torch.randint(0, 10, (256,))
    bare_model = make_model()
    bare_opt = torch.optim.SGD(bare_model.parameters(), lr=0.01)
    bare = torch.compile(bare_model)
    block(bare, bare_opt, x, y, 5)  # compiles (inductor) before anything is timed
    frames_bare = dict(counters["frames"])

    import costlens

    tmp = tempfile.mkdtemp()
    os.environ.setdefault("COSTLENS_HOME", tmp)
    os.environ["COSTLENS_QUIET"] = "1"
    db = f"sqlite:///{tmp}/bench.db"
    prof_model = make_model()
    prof_opt = torch.optim.SGD(prof_model.parameters(), lr=0.01)
    times: dict[str, list[list[tuple[float, float]]]] = {
        "bare": [],
        "bare again (A/A)": [],
        "costlens": [],
        "FlopMeter only": [],
    }
    from costlens.record.flops import FlopMeter

    meter = FlopMeter()  # one meter through the benchmark, installed for its own blocks only
    meter.install()
    meter_model = make_model()
    meter_opt = torch.optim.SGD(meter_model.parameters(), lr=0.01)
    meter_compiled = torch.compile(meter_model)
    block(meter_compiled, meter_opt, x, y, 5)  # its one replay, outside the timed blocks
    meter.uninstall()
    flops: list[float] = []
    first_calls: list[float] = []
    modes = list(times)
    for r in range(args.reps):
        for mode in modes[r % 4 :] + modes[: r % 4]:  # rotate the order round by round
            if mode == "FlopMeter only":
                meter.install()
                times[mode].append(block(meter_compiled, meter_opt, x, y, args.steps))
                meter.uninstall()
                continue
            if mode != "costlens":
                times[mode].append(block(bare, bare_opt, x, y, args.steps))
                continue
            with costlens.profile(db=db, name="compiled-bench", sample_interval_s=1.0) as run:
                compiled = torch.compile(prof_model)
                t = block(compiled, prof_opt, x, y, args.steps)
                times["costlens"].append(t)
                first_calls.append(t[0][0])
                flops.append(run._meter.snapshot().flops)
    frames_after = dict(counters["frames"])
    want = eager_step_flops(x, y) * args.steps
    med = {
        k: [statistics.median(t[i] for b in v for t in b[FIRST_STEPS:]) for i in (0, 1)]
        for k, v in times.items()
    }
    first_bare = statistics.median(b[0][0] for b in times["bare"])
    wall0, cpu0 = med["bare"]
    rows = [
        f"| {k} | {c * 1e3:.2f} | {c / cpu0:.3f}x | {w * 1e3:.2f} | {w / wall0:.3f}x |"
        for k, (w, c) in med.items()
    ]
    body = "\n".join(
        [
            f"`benchmarks/compiled_overhead.py` on {today()}; machine: {machine()} "
            "(2 cores shared with other jobs: noisy).",
            f"MLP 512-1024-1024-10, batch 256, SGD, CPU, `torch.compile` default backend "
            f"(inductor), {args.threads} torch thread(s); {args.reps} rounds of blocks of "
            f"{args.steps} steps per mode, order rotated; median "
            "time per step (process CPU time, which other jobs do not inflate, and wall) "
            f"without each block's first {FIRST_STEPS} steps. costlens = "
            "`costlens.profile` with everything on, each block a new run (so each block also "
            "pays a run's start, store open and end); FlopMeter only = one meter installed for "
            "its blocks (the compiled-call wrapper, backward and optimizer hooks).",
            "",
            "| mode | CPU ms/step | vs bare | wall ms/step | vs bare |",
            "|---|---:|---:|---:|---:|",
            *rows,
            "",
            f"- dynamo frames: bare model {frames_bare}; after all costlens blocks "
            f"{frames_after} (no frame left uncompiled: `ok` == `total`).",
            f"- FLOPs per costlens block: {statistics.median(flops):.4g}; FlopCounterMode on the "
            f"eager model x {args.steps} steps: {want:.4g} "
            f"(ratio {statistics.median(flops) / want:.4f}).",
            f"- One-off cost per run (the fake-tensor replay in the first compiled call): first "
            f"step {statistics.median(first_calls) * 1e3:.1f} ms under costlens vs "
            f"{first_bare * 1e3:.1f} ms bare (median over blocks).",
            NOTES,
        ]
    )
    print(body)
    if args.write:
        write_section(HEADING, body)


if __name__ == "__main__":
    main()
