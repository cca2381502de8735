"""Run a callback once a module has finished importing (the meter installs itself when ``torch``
has; the framework integrations attach when a trainer module has)."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable
from typing import Any


def spec_calling_back(finder: Any, fullname: str, after: Callable[[Any], None]) -> Any:
    """``fullname``'s spec from the other finders, its loader calling ``after(module)`` once the
    module has executed; None when it cannot be found or hooked. ``finder._busy`` guards the
    lookup against finding itself."""
    finder._busy = True
    try:
        spec = importlib.util.find_spec(fullname)
    except Exception:
        return None
    finally:
        finder._busy = False
    loader = getattr(spec, "loader", None)
    if loader is None or not hasattr(loader, "exec_module"):
        return None
    original = loader.exec_module

    def exec_module(module: Any) -> None:
        try:
            original(module)
        finally:
            with contextlib.suppress(AttributeError):
                del loader.exec_module
        after(module)

    loader.exec_module = exec_module
    return spec


class TorchImportHook:
    """``sys.meta_path`` finder: calls ``callback`` once ``torch`` has finished importing."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._busy = False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "torch" or self._busy:
            return None
        return spec_calling_back(self, "torch", lambda _module: self._callback())
