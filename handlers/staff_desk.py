"""'/web': a staff member gets a one-time link to the staff desk (the web console)."""

from __future__ import annotations

from handlers.core import Context
from handlers.feature import Feature
from handlers.intents import Keywords
from handlers.router import Outcome, Router
from handlers.ui import with_menu
from models.console import LINK_TTL, issue_link
from models.errors import DomainError

router = Router()


@router.intent("web", "web")
async def web_link(ctx: Context, _arg: str) -> Outcome:
    """Grid leaders, managers and team leaders get a link (10 minutes, once); others a polite no."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("web.staff_only"))
    try:
        token = await issue_link(ctx.session, ctx.person, ctx.now)
    except DomainError as err:
        return with_menu(ctx, ctx.t(err.key, **err.values))
    link = ctx.data["console_link"](token)
    minutes = int(LINK_TTL.total_seconds() // 60)
    return with_menu(ctx, ctx.t("web.link", link=link, minutes=minutes))


# No menu item and no published command: residents never see it; staff are told of it. Free
# text ("打开工作台", "web console") reaches it too; a resident who types it gets the polite no.
feature = Feature(
    name="staff_desk",
    router=router,
    keywords=(
        Keywords(
            "web",
            zh="网页版 电脑版 后台 管理后台 网页后台 工作台 打开工作台 网页工作台 控制台",
            en="web console, staff desk, web desk, the desk, admin console, console link, web version",
            rank=4,
        ),
    ),
)
