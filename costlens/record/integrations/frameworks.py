"""Attach the framework callbacks with no code change: when the script imports a framework's
trainer module, its ``Trainer.__init__`` is wrapped to add the costlens callback (unless the user
added one). Nothing is imported here: a finder in ``sys.meta_path`` waits for the import.

Watched modules: ``transformers.trainer`` (Hugging Face), ``lightning.pytorch.trainer.trainer``
and ``pytorch_lightning.trainer.trainer`` (Lightning). ``uninstall()`` removes the finder and
puts back every ``__init__`` it wrapped that is still ours.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable
from typing import Any

from costlens.record.flops.import_hook import spec_calling_back
from costlens.record.safety import log_once


def _attach_hf(trainer: Any) -> None:
    from costlens.record.integrations.hf import attach

    attach(trainer)


def _attach_lightning(package: str) -> Callable[[Any], None]:
    def attach_to(trainer: Any) -> None:
        from costlens.record.integrations.lightning import attach

        attach(trainer, package)

    return attach_to


#: trainer module -> what attaches the callback to a new Trainer of it.
WATCHED: dict[str, Callable[[Any], None]] = {
    "transformers.trainer": _attach_hf,
    "lightning.pytorch.trainer.trainer": _attach_lightning("lightning.pytorch"),
    "pytorch_lightning.trainer.trainer": _attach_lightning("pytorch_lightning"),
}


class FrameworkAttach:
    """``install()`` patches the trainer modules already imported and watches for the others."""

    def __init__(self, watched: dict[str, Callable[[Any], None]] | None = None) -> None:
        self.watched = dict(WATCHED if watched is None else watched)
        self._patched: list[tuple[type, Any, Any]] = []  # (class, original, wrapper)
        self._busy = False
        self._installed = False

    def install(self) -> None:
        for name in self.watched:
            module = sys.modules.get(name)
            if module is not None:
                self._patch(name, module)
        if any(name not in sys.modules for name in self.watched):
            sys.meta_path.insert(0, self)  # type: ignore[arg-type]
            self._installed = True

    def uninstall(self) -> None:
        if self._installed:
            with contextlib.suppress(ValueError):
                sys.meta_path.remove(self)  # type: ignore[arg-type]
            self._installed = False
        patched, self._patched = self._patched, []
        for cls, original, wrapper in patched:
            if cls.__dict__.get("__init__") is wrapper:
                cls.__init__ = original

    # ------------------------------------------------------------------ the finder

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname not in self.watched or self._busy:
            return None
        return spec_calling_back(self, fullname, lambda module: self._patch(fullname, module))

    def _patch(self, name: str, module: Any) -> None:
        try:
            cls = module.Trainer
            if any(c is cls for c, _, _ in self._patched):
                return
            attach, original = self.watched[name], cls.__init__

            @functools.wraps(original)
            def __init__(trainer: Any, *args: Any, **kwargs: Any) -> None:
                original(trainer, *args, **kwargs)
                try:
                    attach(trainer)
                except Exception as exc:
                    log_once("framework-attach", exc)

            cls.__init__ = __init__
            self._patched.append((cls, original, __init__))
        except Exception as exc:
            log_once("framework-attach", exc)
