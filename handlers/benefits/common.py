"""What every part of the benefits feature shares: the programmes, the ID key, the roles."""

from __future__ import annotations

from functools import cache

from handlers.core import Context
from models.benefits import Catalogue, load_catalogue
from models.idcard import IdCipher
from models.tables import Role


@cache
def _default_catalogue() -> Catalogue:
    return load_catalogue()


def catalogue_of(ctx: Context) -> Catalogue:
    """The programmes loaded at start (the composition root puts them in ctx.data)."""
    found = ctx.data.get("programmes")
    return found if isinstance(found, Catalogue) else _default_catalogue()


def id_cipher_of(ctx: Context) -> IdCipher | None:
    """The ID-number keys read at start, if set."""
    found = ctx.data.get("id_cipher")
    return found if isinstance(found, IdCipher) else None


def is_manager(ctx: Context) -> bool:
    """True for the community's managers."""
    return ctx.has_role(Role.MANAGER)


def small_int(text: str) -> int | None:
    """An id typed or carried in a flow: at most nine digits."""
    return int(text) if text.isdigit() and len(text) <= 9 else None
