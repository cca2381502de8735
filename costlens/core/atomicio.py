"""Atomic file writes: render to a temporary name in the target folder, then rename.

A crash, a full disk or a refused value never leaves a half-written export, price table or
saved model behind: either the old file stays or the new one is complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from costlens.core.errors import CostlensError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | Path, *, make_parents: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path``; renamed onto ``path`` on success, deleted on failure.

    The folder must exist unless ``make_parents``. OS errors become a CostlensError that names
    the file.
    """
    path = Path(path).expanduser()
    folder = path.parent if str(path.parent) else Path(".")
    if make_parents:
        folder.mkdir(parents=True, exist_ok=True)
    if not folder.is_dir():
        raise CostlensError(f"cannot write {path}: the folder {folder} does not exist.")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise CostlensError(f"cannot write {path}: {exc.strerror}.") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CostlensError(f"cannot write {path}: {exc.strerror or exc}.") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes, *, make_parents: bool = False) -> Path:
    with atomic_path(path, make_parents=make_parents) as tmp:
        tmp.write_bytes(data)
    return Path(path)
