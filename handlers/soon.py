"""Features still to come (booking, stations): declared, answering 马上就来.

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


booking = coming_soon(
    "booking",
    menu_order=30,
    commands=("book", "booking"),
    keywords=Keywords(
        "booking",
        zh=(
            "预约 理发 义诊 法律咨询 微阵地 挂号 剪头发 剪头 剪发 量血压 "
            "测血压 体检 健康检查 律师 法律援助 预订 约个 约一下 订个 排个号 "
            "服务点 免费理发 修脚 修家电 磨剪刀 看病 法律问题 咨询律师"
        ),
        en=(
            "book, booking, appointment, haircut, health check, checkup, legal advice, "
            "lawyer, reserve, reservation, barber, clinic, blood pressure, slot"
        ),
        rank=2,
    ),
)
stations = coming_soon(
    "stations",
    menu_order=60,
    commands=("stations",),
    keywords=Keywords(
        "stations",
        zh=(
            "驿站 补给站 能量补给站 休息 歇脚 歇一下 充电 饮水 喝水 热水 "
            "厕所 卫生间 洗手间 休息点 爱心驿站 小蜜蜂 外卖小哥 快递员 网约车 "
            "微波炉 热饭 打水 避暑 取暖 乘凉 充电宝 歇歇 凉快"
        ),
        en=(
            "rest station, station, rest, charge, charging, charge my phone, water, toilet, "
            "restroom, bathroom, drink, rest stop, power bank, break room"
        ),
        rank=5,
    ),
)

PLACEHOLDERS = (booking, stations)
