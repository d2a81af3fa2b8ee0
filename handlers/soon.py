"""Features still to come (votes): declared, answering 马上就来.

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


vote = coming_soon(
    "vote",
    menu_order=40,
    commands=("vote",),
    keywords=Keywords(
        "vote",
        zh=(
            "投票 表决 设计方案 方案 选方案 投一票 投个票 墙绘 外墙设计 "
            "设计图 民意 征求意见 选哪个 哪个方案 投赞成 投反对 赞成票"
        ),
        en="vote, poll, ballot, wall design, design:1.5, designs:1.5",
        rank=3,
    ),
)
PLACEHOLDERS = (vote,)
