"""The options of a run, declared once: the fields of :class:`RunOptions`.

Each field that carries a :class:`Flag` is an option of all three ways to start a run:
``costlens.profile(...)`` takes it as a keyword argument, the typer command ``costlens run``
offers its flag (:mod:`costlens.cli.run` builds its parameters from :data:`OPTIONS`), and the
fast path (:func:`costlens.cli.launch.fast_run`, which starts the script before typer loads)
reads the same flags from :data:`FLAGS`. :func:`run_options` checks the values with each field's
check and builds the one :class:`RunOptions`; its :attr:`RunOptions.live` (the live line and the
guards) is built from it with one tick rule, whichever entry point made it.

To add an option: a field below (type, default, flag, help, check), then its use.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from costlens.core import config, validate
from costlens.core.errors import InputError, UsageError
from costlens.core.numbers import parse_number
from costlens.core.vocab import DEFAULT_IDLE_THRESHOLD_PCT, STOPPED_EXIT_CODE, normalize_strategy
from costlens.record.monitor import LINE_EVERY_S_TTY, LiveOptions, RunExtensions

MIN_TICK_S = 0.01  # the live thread never spins faster than this


@dataclass(frozen=True)
class Flag:
    """How an option is written on the command line, described and checked.

    ``check(value, what)`` (a :mod:`costlens.core.validate` rule) returns the value to use or
    raises :class:`~costlens.core.errors.InputError` naming ``what`` (the flag on the command
    line, the keyword in Python); None for a switch. ``api_check``: profile()'s own check where it
    must differ (said at the field)."""

    flag: str
    help: str
    check: Callable[[Any, str], Any] | None = None
    names: tuple[str, ...] = ()  # more names of the flag (-q)
    metavar: str | None = None
    show_default: bool = True
    api_check: Callable[[Any, str], Any] | None = None


def _option(default: Any, flag: str, help: str, check: Any = None, **more: Any) -> Any:
    return field(default=default, metadata={"flag": Flag(flag, help, check, **more)})


def _positive(value: Any, what: str) -> float:
    """A limit: a finite number above 0 (``1k`` allowed)."""
    out = parse_number(value, what)
    if out <= 0:
        raise InputError(f"{what} must be a positive number (got {value!r}).")
    return out


def _steps(value: Any, what: str) -> int:
    return validate.whole(value, what, minimum=1)


def _strategy(value: Any, what: str) -> str:
    """A strategy of the vocabulary in any case (``LoRA`` -> lora); another is refused."""
    try:
        return normalize_strategy(validate.name(value, what))
    except InputError:
        raise
    except UsageError as exc:
        raise InputError(f"{what}: {exc}") from None


def _strategy_or_other(value: Any, what: str) -> str:
    """profile()'s strategy: a known one in any case; another is kept, and the run warns of it and
    records it as "other" (the profiler does not refuse training over a label)."""
    try:
        return _strategy(value, what)
    except InputError:
        return validate.name(value, what)


DB_HELP = (
    "Store URL (sqlite:///PATH or postgresql://USER@HOST/DB). Default: $COSTLENS_DB, else "
    "~/.costlens/costlens.db."
)


@dataclass
class RunOptions:
    """What the user declared about a run (see the module's docstring)."""

    project: str | None = _option(None, "--project", "Project the run belongs to.", validate.name)
    name: str | None = _option(None, "--name", "Run name (default: the script's).", validate.name)
    strategy: str | None = _option(
        None, "--strategy", "scratch, full-finetune, lora, frozen-features or other (any case).",
        _strategy, api_check=_strategy_or_other,
    )  # fmt: skip
    base_model: str | None = _option(
        None, "--base-model", "The pretrained model it starts from.", validate.name
    )
    tags: list[str] | None = _option(None, "--tag", "A tag (repeatable).", validate.name)  # noqa: RUF009
    provider: str | None = _option(None, "--provider", "Cloud provider it runs on.", validate.name)
    instance: str | None = _option(None, "--instance", "Instance type it runs on.", validate.name)
    region: str | None = _option(
        None, "--region", "Cloud region it runs in (prices and grid carbon).", validate.name
    )
    sample_interval_s: float = _option(
        1.0, "--sample-interval-s", "Seconds between telemetry readings (above 0).",
        validate.interval_s,
    )  # fmt: skip
    max_usd: float | None = _option(
        None, "--max-usd",
        "Stop the training when the run has cost this much (warning at 80%); the run is saved "
        f"as 'stopped' and costlens exits with {STOPPED_EXIT_CODE}.",
        _positive, show_default=False,
    )  # fmt: skip
    stop_when_idle_min: float | None = _option(
        None, "--stop-when-idle",
        "Stop the training when every GPU has been idle this many minutes (below "
        f"--idle-threshold); exit code {STOPPED_EXIT_CODE}.",
        _positive, metavar="MINUTES", show_default=False,
    )  # fmt: skip
    idle_threshold_pct: float = _option(
        DEFAULT_IDLE_THRESHOLD_PCT, "--idle-threshold",
        "GPU utilisation (%) under which a GPU counts as idle for --stop-when-idle.",
        validate.percent,
    )  # fmt: skip
    expected_steps: int | None = _option(
        None, "--expected-steps",
        "The run's total steps, for a projected final cost on the live line.",
        _steps, show_default=False,
    )  # fmt: skip
    quiet: bool = _option(
        False, "--quiet", "No live cost line and no summary on stderr.", names=("-q",)
    )
    db: str | None = _option(None, "--db", DB_HELP, validate.url, show_default=False)
    metrics_port: int | None = _option(
        None, "--metrics-port",
        "Serve the run's live figures for Prometheus at http://127.0.0.1:PORT/metrics (from "
        "memory, never the store; $COSTLENS_METRICS_ADDR for another address; default: "
        "$COSTLENS_METRICS_PORT, else off).",
        validate.port, metavar="PORT", show_default=False,
    )  # fmt: skip
    # Not options: what the entry point adds.
    command: str | None = None  # default: this process's sys.argv
    extensions: RunExtensions = field(default_factory=RunExtensions)  # price and trackers

    @functools.cached_property
    def live(self) -> LiveOptions:
        """The live line and the guards (``quiet`` or ``$COSTLENS_QUIET``: no line); the thread
        ticks at the sampling interval, at most once a second."""
        return LiveOptions(
            max_usd=self.max_usd,
            stop_when_idle_min=self.stop_when_idle_min,
            idle_threshold_pct=self.idle_threshold_pct,
            quiet=bool(self.quiet) or config.QUIET.safe_get(),
            tick_s=min(LINE_EVERY_S_TTY, max(float(self.sample_interval_s), MIN_TICK_S)),
            extensions=self.extensions,
            metrics_port=(
                self.metrics_port
                if self.metrics_port is not None
                else config.METRICS_PORT.safe_get()
            ),
            metrics_addr=config.METRICS_ADDR.safe_get(),
        )


@dataclass(frozen=True)
class Option:
    """One declared option: the field's name, type and default, and its :class:`Flag`."""

    key: str
    type: Any
    default: Any
    flag: Flag

    @property
    def repeatable(self) -> bool:
        return typing.get_origin(_required(self.type)) is list

    @property
    def switch(self) -> bool:
        return self.type is bool

    def parse(self, value: Any, *, cli: bool) -> Any:
        """The value to use, checked (``cli``: errors name the flag, else the keyword)."""
        what = self.flag.flag if cli else self.key
        check = self.flag.check if cli or self.flag.api_check is None else self.flag.api_check
        if self.switch:
            return bool(value)
        if value is None and self.default is None:
            return None
        if self.repeatable:
            if isinstance(value, str) or not isinstance(value, (list, tuple)):
                raise InputError(f"{what} must be a list of names (got {value!r}).")
            return [check(v, what if cli else f"{what}[{i}]") for i, v in enumerate(value)]
        return check(value, what)


def _required(hint: Any) -> Any:
    """``X | None`` -> X."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if len(args) == 1 and type(None) in typing.get_args(hint) else hint


def _declared() -> dict[str, Option]:
    hints = typing.get_type_hints(RunOptions)
    return {
        f.name: Option(f.name, hints[f.name], f.default, f.metadata["flag"])
        for f in fields(RunOptions)
        if "flag" in f.metadata and f.default is not MISSING
    }


#: Every option, by keyword (field order: the order of ``costlens run --help``).
OPTIONS: dict[str, Option] = _declared()
#: Every option, by each of its command-line names (``--quiet`` and ``-q``).
FLAGS: dict[str, Option] = {
    name: opt for opt in OPTIONS.values() for name in (opt.flag.flag, *opt.flag.names)
}


def run_options(
    values: Mapping[str, Any],
    *,
    cli: bool = False,
    command: str | None = None,
    extensions: RunExtensions | None = None,
) -> RunOptions:
    """The run's options from ``values`` (keyword -> value; strings from a command line are
    parsed), each checked by its field's rule, and the ``COSTLENS_*`` variables checked: a bad
    value is an :class:`~costlens.core.errors.InputError` (a ``ValueError``) naming the flag
    (``cli``) or the keyword, before anything runs; an unknown keyword a ``TypeError``."""
    unknown = sorted(set(values) - set(OPTIONS))
    if unknown:
        raise TypeError(
            f"costlens.profile() got an unexpected keyword argument {unknown[0]!r} (its options: "
            f"{', '.join(OPTIONS)})"
        )
    checked = {key: OPTIONS[key].parse(value, cli=cli) for key, value in values.items()}
    config.check_environment()
    return RunOptions(**checked, command=command, extensions=extensions or RunExtensions())


def options_doc() -> str:
    """The options as a docstring section (``costlens.profile``'s help lists them from here)."""
    lines = ["Options (each also a flag of ``costlens run``):", ""]
    for opt in OPTIONS.values():
        lines.append(
            f"- ``{opt.key}`` (``{opt.flag.flag}``, default {opt.default!r}): {opt.flag.help}"
        )
    return "\n".join(lines)


__all__ = ["FLAGS", "OPTIONS", "Flag", "Option", "RunOptions", "options_doc", "run_options"]
