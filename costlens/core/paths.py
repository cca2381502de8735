"""Where things live on disk: the user's home folder and the shipped reference tables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from costlens.core import config
from costlens.core.errors import ConfigError

_MARKER = "gpu_specs.csv"


def home_dir(create: bool = True) -> Path:
    """The costlens home folder: ``$COSTLENS_HOME`` or ``~/.costlens``."""
    path = config.HOME.get() or Path.home() / ".costlens"
    if create:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot create the costlens home folder {path}: {exc.strerror}. "
                "Set COSTLENS_HOME to a writable folder."
            ) from exc
    return path


@lru_cache(maxsize=1)
def data_dir() -> Path:
    """The shipped reference tables: ``data/`` in a checkout, ``costlens/data`` in a wheel."""
    here = Path(__file__).resolve().parent.parent  # costlens/
    for candidate in (here / "data", here.parent / "data"):
        if (candidate / _MARKER).is_file():
            return candidate
    raise ConfigError(
        f"costlens reference tables not found next to {here}; reinstall costlens "
        "(the wheel ships them as costlens/data)."
    )
