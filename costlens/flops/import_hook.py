"""Run a callback once ``torch`` has finished importing (the meter installs itself then)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any


class TorchImportHook:
    """``sys.meta_path`` finder: calls ``callback`` once ``torch`` has finished importing."""

    def __init__(self, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._busy = False

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != "torch" or self._busy:
            return None
        import importlib.util

        self._busy = True
        try:
            spec = importlib.util.find_spec("torch")
        except Exception:
            return None
        finally:
            self._busy = False
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return None
        original = loader.exec_module
        callback = self._callback

        def exec_module(module: Any) -> None:
            try:
                original(module)
            finally:
                with contextlib.suppress(AttributeError):
                    del loader.exec_module
            callback()

        loader.exec_module = exec_module
        return spec
