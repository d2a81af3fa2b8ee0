"""Features still to come: declared, answering 马上就来 (none today: booking, votes and stations
have their modules).

Each is a placeholder `Feature` with its menu item, commands and keywords; the bookings and votes work
replaces one by listing its own feature module in `bot/app.py` instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from handlers.core import Context
from handlers.feature import Command, Feature, MenuItem
from handlers.intents import Keywords
from handlers.router import Outcome, Router
from handlers.ui import with_menu


def coming_soon(
    name: str,
    *,
    menu_order: int,
    commands: Sequence[str],
    keywords: Keywords,
    published: str | None = None,
) -> Feature:
    """A feature that answers 'coming soon' to its menu item, its /commands and its keywords."""
    router = Router()

    async def soon(ctx: Context, _arg: str) -> Outcome:
        return with_menu(ctx, ctx.t("soon.text", feature=ctx.t(f"feature.{name}")))

    soon.__name__ = f"soon_{name}"
    router.intent(name, *commands)(soon)
    return Feature(
        name=name,
        router=router,
        menu=(MenuItem(name, menu_order),),
        commands=(Command(published or commands[0], menu_order),),
        keywords=(keywords,),
    )


PLACEHOLDERS: tuple[Feature, ...] = ()
