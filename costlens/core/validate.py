"""One validation layer for every number and name a user gives costlens.

CLI options (:mod:`costlens.cli.common`), plan files, price tables, ``COSTLENS_*`` environment
variables (:mod:`costlens.core.config`) and the Python API (``costlens.profile(...)``) all check
their inputs here, so the same value is refused the same way everywhere, with one line naming
what to fix (the flag, file, line or variable is the ``what`` argument). Numbers go through
:func:`costlens.core.numbers.parse_number` (suffixes ``k``, ``M``, ``B``/``G``, ``T``; ``nan``
and ``inf`` refused).

Documented bounds:

- seeds: whole numbers in ``0 .. 2**63 - 1``;
- percentages (thresholds): ``0 .. 100``;
- intervals (seconds): finite and above 0;
- counts that size an allocation (simulations, repeats, GPUs): what this machine's memory can
  hold (:func:`check_memory` names the memory they would need);
- dates: real calendar dates ``YYYY-MM-DD`` (``2026-02-30`` is refused);
- names and URLs: not empty, no control characters;
- quality targets: ``METRIC>=THRESHOLD`` or ``METRIC<=THRESHOLD`` (a metric name of letters,
  digits, ``_ . / -``; a finite number);
- booleans (switches): ``1/true/yes/on`` or ``0/false/no/off`` or empty (off), any case;
- input files (plans, price tables, catalogs): at most :data:`MAX_INPUT_FILE_BYTES`, refused
  before they are parsed.

Every error is a :class:`~costlens.core.errors.InputError`: a usage error (exit code 2) and a
``ValueError`` (what Python callers expect of a bad argument).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

from costlens.core.errors import InputError
from costlens.core.numbers import NumberError, is_blank, parse_number

MAX_INPUT_FILE_BYTES = 50 * 1024 * 1024  # plans, price tables and catalogs larger are refused
MAX_SEED = 2**63 - 1
MAX_GPUS = 1_000_000  # GPUs in one job: more than any cluster built (a typo guard, not a limit)
MAX_QUANTITY = 1e18  # any other count or amount without a bound of its own (a typo guard)
# Typo guards for the sizes of a training job, far above any run built or planned (the largest
# published runs: ~2e12 parameters, ~3e13 tokens, 1e7-token contexts): a value above is a slip
# (``--params 1e40``, ``--seq-len 9223372036854775808``), refused naming the field.
PLAUSIBLE_MAX: dict[str, float] = {
    "params": 1e15, "tokens": 1e17, "samples": 1e15, "labelled_samples": 1e15,
    "scratch_tokens": 1e17, "scratch_labelled_samples": 1e15, "transfer_tokens": 1e17,
    "tokens_per_step": 1e12, "seq_len": 1e8, "epochs": 1e6, "n_layers": 1e5, "d_model": 1e7,
    "scale_tokens": 1e6, "scale_params": 1e6, "gpus": MAX_GPUS, "gpu_count": MAX_GPUS,
}  # fmt: skip
_ALIASES = {"parameters": "params", "seq_len_tokens": "seq_len", "gpu_s": "gpus"}
_DIGITS_RE = re.compile(r"^\s*[-+]?\d+\s*$", re.ASCII)
_DATE_RE = re.compile(r"^(\d{4})-(\d{2})(?:-(\d{2}))?$", re.ASCII)
_TARGET_RE = re.compile(r"^\s*([A-Za-z0-9_./-]{1,200})\s*(>=|<=)\s*(\S+)\s*$", re.ASCII)
TARGET_FORM = "METRIC>=THRESHOLD or METRIC<=THRESHOLD, e.g. accuracy>=0.95 or loss<=0.3"


def upper_bound(what: str) -> float:
    """The largest value accepted for ``what`` (a flag ``--seq-len``, a plan column
    ``seq_len``, a form label ``seq len``): :data:`PLAUSIBLE_MAX`, else :data:`MAX_QUANTITY`."""
    key = re.sub(r"[^a-z]+", "_", what.lower()).strip("_")
    key = _ALIASES.get(key, key)
    return PLAUSIBLE_MAX.get(key, MAX_QUANTITY)


def shown(value: Any) -> str:
    """``repr(value)`` short enough for a message (a 5000-digit value is not echoed whole)."""
    if isinstance(value, int) and value.bit_length() > 200:
        return f"a {int(value.bit_length() * 0.30103) + 1}-digit number"
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + "...'"


def number(
    value: Any,
    what: str,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    above: bool = False,
    integer: bool = False,
) -> float:
    """A finite number (suffixes allowed) in ``[minimum, maximum]`` (strictly above ``minimum``
    if ``above``), whole if ``integer``; a :class:`~costlens.core.numbers.NumberError` (an
    :class:`InputError`) otherwise. Without ``maximum`` the bound is :func:`upper_bound`."""
    out = parse_number(value, what)
    top = upper_bound(what) if maximum is None else maximum
    if minimum is not None and (out < minimum or (above and out == minimum)):
        rel = "greater than" if above else "at least"
        raise NumberError(f"{what} must be {rel} {minimum:g} (got {shown(value)}).")
    if out > top:
        raise NumberError(f"{what} must be at most {top:g} (got {shown(value)}).")
    if integer and not out.is_integer():
        raise NumberError(f"{what} must be a whole number (got {shown(value)}).")
    return out


def quantity(
    value: Any,
    what: str,
    *,
    required: bool = True,
    minimum: float = 0.0,
    above: bool = False,
    integer: bool = False,
) -> float | None:
    """:func:`number` for a quantity (plan cells, ``estimate`` flags, dashboard fields): at least
    ``minimum`` (above it if ``above``), whole if ``integer``; a blank (None, empty text, an
    empty spreadsheet cell's NaN) gives None, or "``what`` is required." if ``required``."""
    if is_blank(value):
        if required:
            raise NumberError(f"{what} is required.")
        return None
    return number(value, what, minimum=minimum, above=above, integer=integer)


def whole(value: Any, what: str, *, minimum: int = 0, maximum: float | None = None) -> int:
    """A whole number of at least ``minimum`` (``1k`` is 1000); plain digits are read exactly
    (a 64-bit seed does not pass through a float)."""
    if (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and _DIGITS_RE.match(value)
    ):
        if len(str(value).strip()) > 30:  # beyond 2**63: no int() of a 5000-digit text
            return int(number(value, what, minimum=minimum, maximum=maximum, integer=True))
        out = int(value)
        bound = upper_bound(what) if maximum is None else maximum
        if out < minimum or out > bound:
            raise InputError(
                f"{what} must be at least {minimum} and at most {bound:g} (got {shown(value)})."
            )
        return out
    return int(number(value, what, minimum=minimum, maximum=maximum, integer=True))


def seed(value: Any, what: str = "seed") -> int:
    """A random seed: a whole number from 0 to 2**63 - 1."""
    return whole(value, what, minimum=0, maximum=MAX_SEED)


def port(value: Any, what: str) -> int:
    """A TCP port to listen on: a whole number from 1 to 65535."""
    return whole(value, what, minimum=1, maximum=65535)


def percent(value: Any, what: str) -> float:
    """A percentage (a threshold) from 0 to 100."""
    return number(value, what, minimum=0.0, maximum=100.0)


def interval_s(value: Any, what: str) -> float:
    """A time interval in seconds: finite and above 0."""
    return number(value, what, minimum=0.0, above=True)


def gpus(value: Any, what: str = "gpus") -> int:
    """A number of GPUs in one job: 1 to :data:`MAX_GPUS`."""
    return whole(value, what, minimum=1, maximum=MAX_GPUS)


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


def boolean(value: Any, what: str) -> bool:
    """A switch: ``1/true/yes/on`` is on, ``0/false/no/off`` or empty is off (any case, spaces
    around ignored); anything else is refused, naming the accepted words."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS or text in FALSE_WORDS:
        return text in TRUE_WORDS
    raise InputError(
        f"{what} must be one of {'/'.join(TRUE_WORDS)} (on) or {'/'.join(FALSE_WORDS[:-1])} "
        f"or empty (off) (got {value!r})."
    )


def fraction(value: Any, what: str) -> float:
    """A share in (0, 1]."""
    return number(value, what, minimum=0.0, above=True, maximum=1.0)


def _gib(n_bytes: float) -> str:
    for unit, size in (("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n_bytes >= size:
            return f"{n_bytes / size:.1f} {unit}"
    return f"{n_bytes / 1024:.1f} KiB"


def memory_bytes() -> int:
    """The memory this machine can give a new allocation: MemAvailable, else physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return 2**62  # unknown: do not refuse


def check_memory(n_bytes: float, what: str) -> None:
    """Refuse work that would need more memory than this machine has available, naming it."""
    have = memory_bytes()
    if n_bytes > have:
        raise InputError(
            f"{what} would need about {_gib(n_bytes)} of memory; this machine has "
            f"{_gib(have)} available. Use a smaller value."
        )


_CONTROL = ("Cc", "Cf", "Zl", "Zp", "Cs")


def has_control(text: str) -> bool:
    """Any control or format character (newline, escape, NUL, bidi overrides...), a line or
    paragraph separator (U+2028, U+2029) or a lone surrogate."""
    return any(unicodedata.category(c) in _CONTROL for c in text)


def name(value: Any, what: str) -> str:
    """A name (project, run, job, tag, provider...): text, not empty, no control characters."""
    if not isinstance(value, str):
        raise InputError(f"{what} must be text (got {type(value).__name__}).")
    out = value.strip(" ")  # spaces only: a tab or newline at either end is refused below
    if not out:
        raise InputError(f"{what} must not be empty.")
    if has_control(out):
        raise InputError(f"{what} must not contain control characters (got {value!r}).")
    return out


def optional_name(value: Any, what: str) -> str | None:
    """:func:`name`, or None for None (not given; an empty string is still refused)."""
    return None if value is None else name(value, what)


def target(value: Any, what: str) -> tuple[str, str, float]:
    """A quality target as (metric, ``>=`` or ``<=``, threshold): :data:`TARGET_FORM`."""
    match = _TARGET_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise InputError(f"{what} must be {TARGET_FORM} (got {value!r}).")
    metric, op, raw = match.groups()
    try:
        threshold = float(parse_number(raw))
    except NumberError:
        raise InputError(
            f"{what}: the threshold {raw!r} is not a finite number; write {TARGET_FORM}."
        ) from None
    return metric, op, threshold


def url(value: Any, what: str) -> str:
    """A store URL or path: not empty, no control characters, no spaces at its ends."""
    out = name(value, what)
    if out != value:
        raise InputError(f"{what} must not start or end with spaces (got {value!r}).")
    return out


def calendar_date(value: Any, what: str = "date") -> str:
    """``YYYY-MM-DD`` (or a month ``YYYY-MM``) that is a real calendar date."""
    text = str(value).strip()
    m = _DATE_RE.match(text)
    if not m:
        raise InputError(f"{what}: {value!r} is not a date (YYYY-MM-DD).")
    year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3) or 1)
    try:
        dt.date(year, month, day)
    except ValueError as exc:
        raise InputError(f"{what}: {value!r} is not a real date ({exc}).") from None
    return text


def oversize(path: str | Path, limit: int = MAX_INPUT_FILE_BYTES) -> str | None:
    """Why an input file is refused before anything reads it (over ``limit`` bytes), or None.
    A missing or unreadable file gives None: its reader says so in its own words. The caller
    raises its own typed error (a plan's :class:`~costlens.core.errors.PlanError`...)."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        return None
    if size <= limit:
        return None
    return f"the file is {_gib(size)}, over the {_gib(limit)} limit for input files; split it"
