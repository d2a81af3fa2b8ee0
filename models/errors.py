"""Domain errors carry a message key, so the conversation layer can say why in any language."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A use case refused: `key` names the text to show, `values` fill it in."""

    def __init__(self, key: str, **values: Any) -> None:
        super().__init__(key)
        self.key = key
        self.values = values
