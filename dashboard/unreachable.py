"""Pages that cannot reach the store say so.

The app's callback error handler (``Dash(on_error=...)``): when a page or a callback fails
because the store cannot be read (PostgreSQL down, a SQLite file deleted or made unreadable
after the dashboard started), the first ``children`` output of the callback gets one notice naming
the store (its masked URL) and what to check, and other outputs stay as they were, with the same
notice in the shell's ``store-notice`` box. Nothing else is caught: a bug still fails. The
store's connections are pre-pinged and a SQLite file is checked before each use
(:class:`dashboard.views.state.AppState`), so the next request after the store is back reads
it again.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from costlens.core.errors import StoreError
from costlens.store.url import redact

log = logging.getLogger("costlens")

NOTICE_ID = "store-notice"  # the shell's box for a notice no page output can show


def is_store_failure(exc: BaseException) -> bool:
    """True for an error of reaching or reading the store (not a bug of ours)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    return isinstance(exc, (StoreError, OperationalError, DBAPIError, sqlite3.Error))


def store_message(exc: BaseException, display_url: str, url: str) -> str:
    """One message: the store, what went wrong (secrets redacted), what to check."""
    if isinstance(exc, StoreError):
        return f"{exc} The dashboard goes on and reads the store again when it answers."
    detail = redact(str(getattr(exc, "orig", None) or exc), url).strip().splitlines()
    reason = detail[0] if detail else type(exc).__name__
    what = (
        "that the file exists and is readable"
        if url.startswith("sqlite")
        else "that the server is running and accepts connections"
    )
    return (
        f"cannot reach store {display_url}: {reason}. Check {what} (--db or COSTLENS_DB). "
        "The dashboard goes on and reads the store again when it answers."
    )


def on_callback_error(exc: Exception) -> Any:
    """Dash's ``on_error``: a notice for a store failure; any other error is raised again."""
    import dash

    from dashboard import components
    from dashboard.views import state

    if not is_store_failure(exc):
        raise exc
    app = state.current()
    message = store_message(exc, app.display_url, app.store_url)
    log.warning("costlens dashboard: %s", message)
    notice = components.notice(message, kind="error")
    outputs = dash.callback_context.outputs_list
    multi = isinstance(outputs, list)
    specs = outputs if multi else [outputs]
    values: list[Any] = [dash.no_update] * len(specs)
    where = [
        i for i, o in enumerate(specs) if isinstance(o, dict) and o.get("property") == "children"
    ]
    if where:  # one notice, in the first place that can show it
        values[where[0]] = notice
    else:  # nothing this callback updates can show it: the shell's box does
        dash.set_props(NOTICE_ID, {"children": notice})
    return values if multi else values[0]
