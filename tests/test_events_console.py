"""The README's events walkthrough, played on the console (piped input, the real CLI)."""

from __future__ import annotations

from pathlib import Path

from models.db import Database, utcnow
from models.events import DEMO_CODE, seed_demo_events
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
