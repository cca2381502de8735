"""The words costlens speaks, defined once: strategies, precisions, run statuses, defaults.

Every module that names a strategy, a precision or a status imports it from here; nothing else
spells these tuples out.
"""

from __future__ import annotations

from costlens.core.errors import UsageError

# How a model was trained. "other" is what the profiler records when nothing is declared or
# inferred; the estimator prices the four named strategies only.
ESTIMABLE_STRATEGIES: tuple[str, ...] = ("scratch", "full-finetune", "lora", "frozen-features")
STRATEGIES: tuple[str, ...] = (*ESTIMABLE_STRATEGIES, "other")
TRANSFER_STRATEGIES: tuple[str, ...] = ("full-finetune", "lora", "frozen-features")
SCRATCH = "scratch"
OTHER_STRATEGY = "other"

# A measured transfer-vs-scratch saving's verdict (costlens.apps.transfer.cells): its interval is
# above 0, below 0, or holds 0.
SAVES, COSTS_MORE, WITHIN_NOISE = "saves", "costs more", "within noise"
VERDICTS: tuple[str, ...] = (SAVES, COSTS_MORE, WITHIN_NOISE)
# At equal quality (a quality target): a cell whose runs do not reach the target is never
# compared on cost. Transfer runs none reached; neither side reached; only transfer reached;
# fewer than 2 reached on a side (a saving without an interval).
NOT_REACHED = "does not reach target"
NEITHER_REACHES = "neither reaches target"
ONLY_TRANSFER_REACHES = "only transfer reaches target"
TOO_FEW_REACHED = "too few reached target"
REACH_VERDICTS: tuple[str, ...] = (
    NOT_REACHED,
    NEITHER_REACHES,
    ONLY_TRANSFER_REACHES,
    TOO_FEW_REACHED,
)

# Numeric formats with a tabulated peak FLOP/s (data/gpu_specs.csv has one column per entry).
PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16", "fp8")
DEFAULT_PRECISION = "fp32"  # a recorded run that recorded no precision ran at PyTorch's default
# A job to price (a Scenario, a plan's job) that names no precision: None, the accelerator's own
# (the spec table's default_precision: fp16 on a V100 or T4, bf16 on Ampere and newer).
DEFAULT_JOB_PRECISION: str | None = None

# A run's life: "running" while it heartbeats; "lost" is derived (stale heartbeat), never stored.
RUN_STATUSES: tuple[str, ...] = (
    "running",
    "completed",
    "failed",
    "interrupted",
    "preempted",
    "lost",
    "stopped",  # stopped by costlens itself (a spend or idle guard); the reason is on the run
)

# The exit code of a run stopped by a guard of costlens (--max-usd, --stop-when-idle).
STOPPED_EXIT_CODE = 3

# The accelerator key of CPU-only instances and runs (priced per instance-hour).
CPU_KEY = "CPU"
# How a run was bought, and the basis of its recorded instance (costlens.record.cloud).
SPOT, ON_DEMAND = "spot", "on-demand"
DETECTED, DECLARED, CHEAPEST_MATCH = "detected", "declared", "cheapest match"

# The steady state of a run starts at the recorder's first flush (every 5 s at most) after a rank
# has taken this many steps: start-up, torch.compile and warm-up are behind it (nanoGPT measures
# MFU from iteration 5). Steady-state MFU is measured from there to the run's last flush.
STEADY_AFTER_STEPS = 5

# Defaults a user can override with a flag.
DEFAULT_IDLE_THRESHOLD_PCT = 10.0  # a GPU sample below this utilisation counts as idle
DEFAULT_RUN_PROJECT = "default"  # a profiled run with no --project and no COSTLENS_PROJECT
DEFAULT_PLAN_PROJECT = "unassigned"  # a planned job with no project column
COVERAGE = 0.8  # every predicted figure carries its 10th..90th percentile interval


def normalize_strategy(value: str, *, allowed: tuple[str, ...] = STRATEGIES) -> str:
    """``LoRA``, ``Full_Finetune`` -> the canonical name; a UsageError names the choices."""
    key = str(value).strip().lower().replace("_", "-").replace(" ", "-")
    if key not in allowed:
        raise UsageError(f"unknown strategy {value!r}; choose one of: {', '.join(allowed)}.")
    return key


def normalize_precision(value: str) -> str:
    """``BF16`` -> ``bf16``; UsageError names the choices."""
    key = str(value).strip().lower()
    if key not in PRECISIONS:
        raise UsageError(f"unknown precision {value!r}; choose one of: {', '.join(PRECISIONS)}.")
    return key
