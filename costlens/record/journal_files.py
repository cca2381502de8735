"""The journal's files on disk: where they are, which a live run still holds, which store each
was recorded for, and the note about those waiting for `costlens sync`."""

from __future__ import annotations

import contextlib
import fcntl
import json
from pathlib import Path
from typing import Any

from costlens.core.paths import home_dir

SUFFIX = ".jsonl"
MAX_LINE_BYTES = 64 * 2**20  # a longer line is not a record (a flush is a few hundred KiB)


def journal_dir(create: bool = False) -> Path:
    """``<home>/journal``."""
    path = home_dir(create=create) / "journal"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def pending_files() -> list[Path]:
    """Journal files on disk, oldest first (empty when there is no journal folder)."""
    folder = journal_dir(create=False)
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.suffix == SUFFIX and p.is_file()]
    return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))


def _held(fh: Any) -> bool:
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # a live run is writing it
        return True
    return False


def closed_files() -> list[Path]:
    """Journal files no live process holds: what `costlens sync` would write."""
    out = []
    with contextlib.suppress(OSError):
        for path in pending_files():
            try:
                with open(path, "rb") as fh:
                    if not _held(fh):
                        out.append(path)
            except OSError:
                continue
    return out


def pending_note() -> str | None:
    """One line about closed journals waiting for `costlens sync`, or None."""
    files = closed_files()
    if not files:
        return None
    n = len(files)
    return (
        f"costlens: {n} journal file{'s' if n != 1 else ''} of runs recorded while their store "
        f"was unreachable wait{'s' if n == 1 else ''} in {journal_dir()}: "
        "`costlens sync --db STORE` writes them."
    )


def file_store(path: Path) -> str | None:
    """The store a journal file was recorded for (its first record's ``store``), or None (an
    older journal, or a first line that is not a run record)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.readline(MAX_LINE_BYTES)
        rec = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, RecursionError, ValueError):
        return None
    store = rec.get("store") if isinstance(rec, dict) and rec.get("k") == "run" else None
    return store if isinstance(store, str) and store else None


def by_store(files: list[Path], default: str) -> dict[str, list[Path]]:
    """``files`` grouped by the store each was recorded for (``store_label`` form); a journal
    naming none (written by an older costlens) goes to ``default``."""
    groups: dict[str, list[Path]] = {}
    for path in files:
        groups.setdefault(file_store(path) or default, []).append(path)
    return groups
