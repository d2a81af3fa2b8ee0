"""Text catalogs: gettext .po files per language, read with Babel; message ids are keys."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from babel.messages.pofile import read_po

LOCALE_DIR = Path(__file__).parent / "locale"
LOCALES = ("zh", "en")
DEFAULT_LOCALE = "zh"
DOMAIN = "linli"


@cache
def catalog(locale: str) -> dict[str, str]:
    """key → text for one language, from bot/locale/<locale>/LC_MESSAGES/linli.po."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as fh:
        cat = read_po(fh, locale=locale)
    return {str(m.id): str(m.string) for m in cat if m.id and m.string and not m.fuzzy}


def translate(locale: str, key: str) -> str:
    """The text for `key` in `locale`, falling back to Chinese, then to the key itself."""
    texts = catalog(locale if locale in LOCALES else DEFAULT_LOCALE)
    found = texts.get(key)
    if found is None:
        found = catalog(DEFAULT_LOCALE).get(key, key)
    return found
