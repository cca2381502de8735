"""CLI: `costlens estimate` (scratch vs transfer cost with 80% intervals) and `costlens fit`.

`--format json` is parsed by other tools: one JSON object with at least strategy, gpu_hours,
gpu_hours_low, gpu_hours_high, wall_hours, cost_usd, cost_usd_low, cost_usd_high, mfu_assumed,
extrapolation (`--compare`: every strategy under "strategies" plus savings_usd and roi).
Counts (--params, --tokens, ...) take suffixes as in plans: 7B, 2T, 4k.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from costlens.cli.common import (
    DbOption,
    FormatOption,
    OutputFormat,
    checked,
    count_parser,
    name_option,
    quantity_parser,
    vocab_check,
)
from costlens.cli.estimate_output import emit_compare, emit_one
from costlens.core import validate
from costlens.core.errors import UsageError
from costlens.core.validate import quantity
from costlens.core.vocab import ESTIMABLE_STRATEGIES, normalize_precision, normalize_strategy

if TYPE_CHECKING:
    from costlens.store.models import RunRecord


def _count(flag: str, help_text: str, *, above: bool = True) -> Any:
    """An option for a count written as people write it (7B, 2T, 4k, 1.5e9): finite, above 0
    (at least 0 unless ``above``), checked while the line is parsed (exit 2 naming it)."""
    return Annotated[
        float | None,
        typer.Option(
            flag,
            help=help_text,
            metavar="COUNT",
            show_default=False,
            parser=quantity_parser(flag, above=above),
        ),
    ]


ParamsOption = _count("--params", "Model size in parameters (e.g. 7B or 7e9).")
TokensOption = _count(
    "--tokens",
    "Training tokens in all (every epoch counted), e.g. 2T. A fine-tune described by its "
    "examples: --samples, --seq-len and --epochs instead.",
)
SamplesOption = _count(
    "--samples",
    "Training examples (one epoch); tokens = samples x --seq-len x --epochs. Without "
    "--seq-len (no sequences): samples x --epochs, 2N forward FLOPs per sample unless "
    "--flops-per-sample.",
)
FlopsPerSampleOption = _count(
    "--flops-per-sample",
    "With --samples, no --seq-len: forward FLOPs of one sample (as model cards list them; "
    "2 x MACs), e.g. 17.6G for ViT-B/16 at 224px.",
)
LabelsOption = _count("--labelled-samples", "Labelled samples the job needs.", above=False)
TokensPerStepOption = _count("--tokens-per-step", "Tokens (or samples) per step per device.")
ScratchTokensOption = _count("--scratch-tokens", "With --compare: data scratch training needs.")
ScratchLabelsOption = _count(
    "--scratch-labelled-samples", "With --compare: labelled samples scratch needs.", above=False
)
GpuOption = name_option("--gpu", "Accelerator (default A100-80GB; a --from-run: the run's own).")
StrategyOption = name_option(
    "--strategy",
    "scratch, full-finetune, lora or frozen-features (any case).",
    check=vocab_check(lambda v: normalize_strategy(v, allowed=ESTIMABLE_STRATEGIES)),
)
PrecisionOption = name_option(
    "--precision",
    "fp32, tf32, bf16, fp16 or fp8 (default: the GPU's own, V100/T4 fp16, Ampere+ bf16).",
    check=vocab_check(normalize_precision),
)  # fmt: skip
FractionOption = Annotated[
    float | None,
    typer.Option(
        help="LoRA: trainable share in (0, 1]; frozen-features: the head's share.",
        parser=checked("--trainable-fraction", validate.fraction),
    ),
]
CompareOption = Annotated[
    bool, typer.Option("--compare", help="Every strategy side by side, savings and ROI.")
]
TargetOption = name_option(
    "--target",
    "With --compare: price every strategy at this quality (e.g. accuracy>=0.95), each on the "
    "data its own recorded runs needed to reach it.",
)
ProjectOption = name_option("--project", "With --target: the recorded runs of this project.")
TagOption = name_option(
    "--tag", "With --target: only runs with this tag (repeat: every tag).", repeatable=True
)


def estimate(
    params: ParamsOption = None,
    tokens: TokensOption = None,
    gpu: GpuOption = None,
    gpus: Annotated[
        int | None,
        typer.Option(
            help="Number of accelerators (default 1).", parser=checked("--gpus", validate.gpus)
        ),
    ] = None,
    strategy: StrategyOption = "scratch",
    precision: PrecisionOption = None,
    provider: name_option("--provider", "Price on this provider.") = None,
    instance: name_option("--instance", "Price on this instance type.") = None,
    spot: Annotated[bool, typer.Option("--spot", help="Spot prices instead of on-demand.")] = False,
    trainable_fraction: FractionOption = None,
    labelled_samples: LabelsOption = None,
    usd_per_label: Annotated[
        float | None,
        typer.Option(
            help="Dollars per labelled sample.", parser=quantity_parser("--usd-per-label")
        ),
    ] = None,
    n_layers: Annotated[
        int | None,
        typer.Option(
            help="Transformer layers (attention FLOPs).", parser=count_parser("--n-layers")
        ),
    ] = None,
    d_model: Annotated[
        int | None,
        typer.Option(help="Transformer hidden size.", parser=count_parser("--d-model")),
    ] = None,
    seq_len: Annotated[
        int | None,
        typer.Option(
            help="Tokens per sequence: the padded length, or the mean length with --packing. "
            "Adds the attention term (missing --n-layers / --d-model derived from --params).",
            parser=count_parser("--seq-len"),
        ),
    ] = None,
    samples: SamplesOption = None,
    flops_per_sample: FlopsPerSampleOption = None,
    epochs: Annotated[
        float | None,
        typer.Option(
            help="Passes over --samples (default 1).",
            parser=quantity_parser("--epochs", above=True),
        ),
    ] = None,
    packing: Annotated[
        bool, typer.Option("--packing", help="--seq-len is the mean sample length (packed).")
    ] = False,
    tokens_per_step: TokensPerStepOption = None,
    from_run: name_option("--from-run", "Scale this recorded run (id or prefix).") = None,
    scale_tokens: Annotated[
        float,
        typer.Option(
            help="With --from-run: data x K.", parser=quantity_parser("--scale-tokens", above=True)
        ),
    ] = 1.0,
    scale_params: Annotated[
        float,
        typer.Option(
            help="With --from-run: model size x K.",
            parser=quantity_parser("--scale-params", above=True),
        ),
    ] = 1.0,
    optimizer: name_option(
        "--optimizer", "adamw (default) or sgd: the states each trained parameter keeps."
    ) = None,
    compare: CompareOption = False,
    scratch_tokens: ScratchTokensOption = None,
    scratch_labelled_samples: ScratchLabelsOption = None,
    target: TargetOption = None,
    project: ProjectOption = None,
    tag: TagOption = None,
    db: DbOption = None,
    fmt: FormatOption = OutputFormat.table,
) -> None:
    """Estimate a training job's time, GPU-hours, dollars and energy, each with an 80% interval."""
    import warnings

    from costlens import estimator as est
    from costlens.price.tables import PriceTable

    fields: dict[str, Any] = {
        "provider": provider,
        "instance": instance,
        "spot": spot,
        "trainable_fraction": trainable_fraction,
        "labelled_samples": _quantity(labelled_samples, "--labelled-samples"),
        "usd_per_label": usd_per_label,
        "n_layers": n_layers,
        "d_model": d_model,
        "seq_len": seq_len,
        "tokens_per_step": _quantity(tokens_per_step, "--tokens-per-step", strict=True),
        "gpu": gpu,
        "gpus": gpus,
        "precision": normalize_precision(precision) if precision is not None else None,
        "optimizer": _optimizer(optimizer),
    }
    if (labelled_samples is None) != (usd_per_label is None):
        raise UsageError("--labelled-samples and --usd-per-label go together.")
    strategy = normalize_strategy(strategy, allowed=ESTIMABLE_STRATEGIES)
    vs_scratch: dict[str, Any] | None = {
        "scratch_tokens": _quantity(scratch_tokens, "--scratch-tokens", strict=True),
        "scratch_labelled_samples": _quantity(
            scratch_labelled_samples, "--scratch-labelled-samples"
        ),
    }
    own = None if from_run and strategy == "scratch" else strategy  # the run's own strategy
    _refuse_ignored(own, trainable_fraction, compare, vs_scratch)
    vs_scratch = vs_scratch if compare else None
    _check_target(target, compare, project, tag)
    warnings.filterwarnings("default", category=est.ModelWarning)
    lib = {"model": est.saved_model(db), "prices": PriceTable.load()}
    at = {"project": project, "tags": tag or (), "lib": lib, "vs_scratch": vs_scratch, "fmt": fmt}
    if from_run:
        sized = (params, tokens, samples, flops_per_sample)
        _from_run(db, from_run, strategy, sized, fields, at, target, scale_tokens, scale_params)
        return
    data = data_size(tokens, samples, seq_len, epochs, packing, flops_per_sample, params)
    fields["epochs"] = data.get("epochs")
    if target is not None and params is None and data.get("tokens") is None:
        _at_target(db, target, at)  # size, hardware and data from the recorded runs
        return
    if params is None or data.get("tokens") is None:
        raise UsageError(
            "give --params and --tokens, or --params with --samples and --seq-len "
            "(or --from-run RUN_ID)."
        )
    if scale_tokens != 1.0 or scale_params != 1.0:
        raise UsageError("--scale-tokens and --scale-params need --from-run.")
    scenario = est.Scenario(  # a flag not given (None): the Scenario's default
        params=_quantity(params, "--params", strict=True),
        tokens=data["tokens"],
        strategy=strategy,
        **{k: v for k, v in fields.items() if v is not None},
    )
    if target is not None:
        _at_target(db, target, at, scenario=scenario)
    elif vs_scratch is not None:
        emit_compare(est.compare(scenario, **lib, **vs_scratch), fmt)
    else:
        one = est.estimate(scenario, **lib).as_dict()
        _refuse_unfit(one)
        emit_one({**one, **data}, fmt)


def _from_run(
    db: str | None, from_run: str, strategy: str, sized: tuple, fields: dict[str, Any],
    at: dict[str, Any], target: str | None, scale_tokens: float, scale_params: float,
) -> None:  # fmt: skip
    """``--from-run``: the recorded run scaled, or every strategy at ``target``."""
    if any(v is not None for v in sized):
        raise UsageError(
            "--from-run takes the size and data from the run: use --scale-params and "
            "--scale-tokens instead of --params, --tokens and --samples."
        )
    if strategy != "scratch":  # scratch (the default): the run's own strategy
        fields["strategy"] = strategy
    scale = {"scale_tokens": scale_tokens, "scale_params": scale_params}
    if target is not None:
        if scale_tokens != 1.0:
            raise UsageError(
                "--target takes each strategy's data from its runs: drop --scale-tokens."
            )
        over = {"scale_params": scale_params, **fields}
        _at_target(db, target, at, from_run=from_run, run_overrides=over)
        return
    _estimate_run(
        _recorded_run(db, from_run), {**at["lib"], **scale, **fields}, at["vs_scratch"], at["fmt"]
    )


def _check_target(target: str | None, compare: bool, project: str | None, tag: Any) -> None:
    if target is None and (project is not None or tag):
        raise UsageError("--project and --tag choose the runs for --target.")
    if target is not None and not compare:
        raise UsageError("--target prices every strategy at that quality: add --compare.")


def _at_target(db: str | None, target: str, at: dict[str, Any], **kw: Any) -> None:
    from costlens.cli.estimate_target import estimate_at_target

    estimate_at_target(db, target, **at, **kw)


def data_size(
    tokens: str | None,
    samples: str | None,
    seq_len: int | None,
    epochs: float | None,
    packing: bool,
    flops_per_sample: str | None = None,
    params: str | None = None,
) -> dict[str, Any]:
    """:func:`costlens.estimator.data_tokens` of the flags (counts parsed first)."""
    from costlens.estimator.types import data_tokens

    return data_tokens(
        _quantity(tokens, "--tokens", strict=True),
        _quantity(samples, "--samples", strict=True),
        seq_len,
        epochs,
        packing,
        flops_per_sample=_quantity(flops_per_sample, "--flops-per-sample", strict=True),
        params=_quantity(params, "--params", strict=True),
    )


def _refuse_ignored(
    strategy: str | None, fraction: float | None, compare: bool, vs_scratch: dict[str, Any]
) -> None:
    """UsageError for a flag that would change nothing: a trainable share for a strategy that
    trains every parameter, scratch data without ``--compare``."""
    if fraction is not None and strategy in ("scratch", "full-finetune"):
        raise UsageError(
            f"--trainable-fraction is for lora (the adapters' share) and frozen-features (the "
            f"head's share); {strategy} trains every parameter: drop it or choose --strategy lora."
        )
    if not compare and any(v is not None for v in vs_scratch.values()):
        raise UsageError("--scratch-tokens and --scratch-labelled-samples need --compare.")


def _estimate_run(
    record: dict[str, Any], kw: dict[str, Any], vs_scratch: dict[str, Any] | None, fmt: OutputFormat
) -> None:
    """``--from-run``: the recorded run scaled (``vs_scratch`` given: every strategy compared)."""
    from costlens import estimator as est

    if vs_scratch is not None:
        emit_compare(est.compare_from_run(record, **kw, **vs_scratch), fmt)
    else:
        result = est.estimate_from_run(record, **kw).as_dict()
        _refuse_unfit(result)
        emit_one({**result, "from_run": record["id"]}, fmt)


def _optimizer(value: str | None) -> str | None:
    from costlens.estimator.memory import OPTIMIZERS

    if value is not None and value.strip().lower() not in OPTIMIZERS:
        raise UsageError(
            f"--optimizer {value!r} is unknown; choose one of {', '.join(OPTIMIZERS)}."
        )
    return None if value is None else value.strip().lower()


def _refuse_unfit(record: dict[str, Any]) -> None:
    """A job whose states and activations fit on none of its GPUs is refused, never priced."""
    from costlens.core.errors import EstimatorError

    if record.get("fits") is False:
        raise EstimatorError(
            f"the job does not fit on {record['gpus']} x {record['gpu']}: {record['memory_basis']}."
        )


def _quantity(value: str | None, flag: str, *, strict: bool = False) -> float | None:
    return quantity(value, flag, required=False, above=strict)


def _recorded_run(db: str | None, run_id: str) -> RunRecord:
    from costlens.cli.common import open_cli_store
    from costlens.store.queries import get_run

    with open_cli_store(db) as store:
        return get_run(store, run_id)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    from costlens.cli.fit import fit

    app.command("estimate")(estimate)
    app.command("fit")(fit)
