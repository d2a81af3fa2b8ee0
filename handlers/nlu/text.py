"""Text folding shared by the understanding layer: NFKC, traditional → simplified, lowercase."""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def fold(text: str) -> str:
    """NFKC, traditional Chinese to simplified, lowercase (punctuation kept)."""
    text = unicodedata.normalize("NFKC", text)
    if any(ord(ch) >= 0x2E80 for ch in text):
        text = _converter().convert(text)
    return text.lower()
