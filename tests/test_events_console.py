"""The README's events walkthrough, played on the console (piped input, the real CLI)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from models.db import Database, utcnow
from models.event_demo import DEMO_CODE, seed_demo_events
from models.events import EventRating
from models.tasks import VolunteerHours
from tests.test_console import run


async def test_the_readme_walkthrough_sign_up_waitlist_promotion_check_in(
    demo: Database, database_url: str, project_root: Path
) -> None:
    async with demo.session() as s:  # the console reads the real time: the demo's events follow it
        await seed_demo_events(s, utcnow())
    script = [
        "/as 张伟",
        "活动",
        "✅ 报名",  # the last place
        "/as 朱凡",
        "周末有什么活动",
        "✅ 报名",  # full: the waitlist
        "/as 张伟",
        "我的活动",
        "1",  # ✖ 取消：… frees the place: it is offered to 朱凡
        "/as 朱凡",
        "我的活动",
        "1",  # ✅ 我要这个位置
        f"签到 {DEMO_CODE}",
        "我的活动",
    ]
    result = run(["console"], "\n".join(script) + "\n", database_url, project_root)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "还剩 1 个名额（共 3）" in out
    assert "报名成功" in out
    assert "候补第 1 位" in out
    assert "已取消" in out
    assert "有空位待确认" in out
    assert "位置是您的了" in out
    assert "签到成功" in out
    assert "已签到" in out


async def test_the_done_means_sign_up_reminded_check_in_rate_and_hours(
    demo: Database, database_url: str, project_root: Path
) -> None:
    """The README's runnable lines: `--later N` runs the console N minutes ahead (the demo
    workshop starts 15 minutes after loading, is reminded 10 minutes before and lasts 2 hours)."""
    async with demo.session() as s:
        await seed_demo_events(s, utcnow())

    def console(lines: list[str], later: int = 0) -> str:
        args = ["console", *(["--later", str(later)] if later else [])]
        result = run(args, "\n".join(lines) + "\n", database_url, project_root)
        assert result.returncode == 0, result.stderr
        return result.stdout

    signed = console(["/as 张伟", "活动", "✅ 报名", "我的任务", "1", "🙋 接单"])
    assert "报名成功" in signed and "接单成功" in signed
    reminded = console(["/as 张伟"], later=5)
    assert "发给 张伟：⏰ 活动提醒" in reminded
    came = console(["/as 张伟", f"签到 {DEMO_CODE}"], later=10)
    assert "签到成功" in came
    ended = console(["/as 张伟"], later=140)
    assert "发给 张伟：🙏 三八节 志愿者妈妈亲子DIY手工坊 结束了，给这次活动打个分吧" in ended
    assert "发给 张伟：⏱ 任务 #1 的 2.0 小时已计入您的志愿时长" in ended
    rated = console(["/as 张伟", "我的活动", "1", "很好", "⏱ 我的时长"], later=141)
    assert "已结束，等您打分" in rated and "谢谢您的评价" in rated
    assert "共 2.0 小时（1 次）" in rated
    async with demo.session() as s:
        assert (await s.execute(select(EventRating.stars))).scalars().all() == [5]
        assert (await s.execute(select(VolunteerHours.minutes))).scalars().all() == [120]
