"""The domain: tables and use cases. `load_all()` imports every module, so every table is on
`SQLModel.metadata` and every task kind has registered its hooks, without a hand-kept list."""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> list[str]:
    """Import every module of the models package (not the migrations); their names."""
    names: list[str] = []
    for info in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
        if info.name.startswith(f"{__name__}.migrations"):
            continue
        importlib.import_module(info.name)
        names.append(info.name)
    return names
