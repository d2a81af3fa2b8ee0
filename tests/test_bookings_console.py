"""The README's bookings walkthrough, played on the console (piped input, the real CLI): a
booking, a full session with a waitlist promotion, and a check-in at the station."""

from __future__ import annotations

from pathlib import Path

from models.booking_demo import seed_demo_bookings
from models.db import Database, utcnow
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
