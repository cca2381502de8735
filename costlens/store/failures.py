"""What a failed store write means to the user: a full disk said as such, anything else as a
store that cannot be reached; and what was kept (the journal), so nothing reads as lost."""

from __future__ import annotations

import errno

from costlens.core.errors import StoreError
from costlens.store.url import mask_url


def is_disk_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL, PostgreSQL's disk_full (53100) or ENOSPC, however wrapped."""
    seen: BaseException | None = exc
    for _ in range(8):  # the exception, its driver error and their causes
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if getattr(seen, "sqlstate", None) == "53100":
            return True
        text_ = str(seen).lower()
        if "database or disk is full" in text_ or "no space left on device" in text_:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__ or seen.__context__
    return False


def write_failure(url: str, exc: BaseException, kept: str) -> StoreError:
    """The one message for a store write that failed (``kept``: what was kept, and where): a
    full disk said as such, anything else as an unreachable store."""
    masked = mask_url(url)
    if is_disk_full(exc):
        return StoreError(
            f"the disk under store {masked} is full: nothing was written past that point and "
            f"nothing is lost ({kept}). Free some space and run the command again."
        )
    from costlens.store.db import _unreachable

    base = _unreachable(url, exc)
    return type(base)(f"{base} Nothing is lost ({kept}).")
