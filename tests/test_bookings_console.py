"""The README's bookings walkthrough, played on the console (piped input, the real CLI): a
booking, a full session with a waitlist promotion, and a check-in at the station."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.booking_demo import seed_demo_bookings
from models.bookings import sessions, todays_list
from models.db import Database, utcnow
from models.signups import Slot
from models.tables import Person
from tests.test_console import run


async def test_the_readme_walkthrough_booking_waitlist_promotion_check_in(
    demo: Database, database_url: str, project_root: Path
) -> None:
    async with (
        demo.session() as s
    ):  # the console reads the real time: the demo's session follows it
        await seed_demo_bookings(s, utcnow())
    script = [
        "/as 李红",
        "预约服务",
        "1",  # 🔴 志愿理发
        "1",  # today's extra session: the last place
        "/as 朱凡",
        "我想预约理发",
        "1",  # full: the waitlist
        "/as 李红",
        "我的预约",
        "1",  # ✖ 取消 … frees the place: it is offered to 朱凡
        "/as 朱凡",
        "我的预约",
        "1",  # ✅ 我要这个位置
        "/as 张伟",
        "今日名单",
        "2",  # 签到：朱凡
        "/as 朱凡",
        "我的预约",
    ]
    result = run(["console"], "\n".join(script) + "\n", database_url, project_root)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "预约成功：志愿理发" in out and "巧手理发志愿队" in out
    assert "您是候补第 1 位" in out
    assert "已取消" in out
    assert "有空位了" in out
    assert "位置是您的了" in out
    assert "今日名单：志愿理发" in out and "朱凡 已签到" in out
    assert "志愿理发" in out.split("我的预约")[-1] and "：已签到" in out.split("我的预约")[-1]


async def bookable(s: AsyncSession, point_id: int, now: datetime) -> Slot | None:
    """The point's soonest bookable session (what 预约服务 → 志愿理发 offers first)."""
    found = await sessions(s, point_id, now)
    return found[0] if found else None


@pytest.mark.parametrize(
    ("local", "starts", "same_day"),
    [
        ("10:02", "10:45", True),  # 45 minutes ahead, rounded down to 5 minutes
        ("23:05", "23:50", True),
        ("23:18", "23:55", True),  # 45 minutes ahead is tomorrow: the last bookable time today
        ("23:40", "00:25", False),  # no bookable time left today: 今日名单 shows it all the same
    ],
)
async def test_the_demos_session_today_is_today_in_the_communitys_time(
    demo: Database, local: str, starts: str, same_day: bool
) -> None:
    zone = ZoneInfo("Asia/Shanghai")  # the demo community's time zone, not the machine's
    hour, minute = map(int, local.split(":"))
    now = datetime(2026, 12, 3, hour, minute, tzinfo=zone).astimezone(UTC)
    async with demo.session() as s:
        points = await seed_demo_bookings(s, now)
        haircut = points[0]
        today = await bookable(s, haircut.id or 0, now)
        assert today is not None, "the walkthrough can book it now"
        assert f"{today.starts_at.astimezone(zone):%H:%M}" == starts
        assert (today.starts_at.astimezone(zone).date() == now.astimezone(zone).date()) == same_day
        zhang = (await s.execute(select(Person.id).where(col(Person.name) == "张伟"))).scalar_one()
        listed = [slot.id for slot, _ in await todays_list(s, haircut.id or 0, zhang, now)]
        assert today.id in listed, "张伟's 今日名单 has it"
