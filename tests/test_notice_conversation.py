"""A manager sends a notice from the chat and watches it deliver; residents choose what reaches them.

Every script runs on Telegram and on WeChat (the `chat` fixture, tests/chat.py).
"""

from __future__ import annotations

from sqlalchemy import select

from models.db import Database
from models.notices import Notice, NoticeMute, report_progress
from tests.chat import Chat, labels
from tests.conftest import FakeClock
from tests.telegram_chat import person_named, texts


async def test_manager_sends_a_notice_to_one_grid_and_gets_the_report(
    chat: Chat, demo: Database, clock: FakeClock
) -> None:
    liu = await chat.person("刘芳", 10)
    chen = await chat.person("陈秀英", 11)
    wang = await chat.person("王建国", 12)
    zhao = await chat.person("赵敏", 13)
    chat.block(wang)  # 王建国 has blocked the bot (Telegram) / unfollowed the account (WeChat)
    assert "发给谁" in texts(await liu.send("📢 发通知"))
    assert "哪个网格" in texts(await liu.press("某个网格"))
    assert "什么通知" in texts(await liu.press("乐清网格"))
    assert "通知内容" in texts(await liu.press("一般通知"))
    preview = await liu.send("本周六上午9点，3幢后面清理杂物，欢迎大家参加。")
    assert "将发送给 6 人，其中 3 人能收到，3 人暂时无法联系" in texts(preview)
    started = await liu.press("立即发送")
    assert "已开始发送，共 3 人" in texts(started)

    await chat.deliver()
    assert "3幢后面清理杂物" in chen.last_text
    assert zhao.messages == [], "赵敏 lives in the other grid"

    report = await liu.press("查看进度")
    assert "已送达 2" in texts(report) and "无法联系 3" in texts(report)
    # Who was not reached, and why, so the grid can phone or visit them.
    missed = texts(await liu.press("未送达名单"))
    assert "王建国｜虹桥南村2幢2单元402｜已屏蔽或取消关注" in missed
    for name in ("朱凡", "李红", "张伟"):
        assert f"{name}｜" in missed and "没有绑定聊天账号" in missed
    assert "陈秀英" not in missed and "赵敏" not in missed
    forged = await chen.press_payload("notice:missed:1")
    assert "没有权限" in texts(forged)
    async with demo.session() as s:
        await report_progress(s, clock())
    await chat.deliver()
    assert "发送完毕" in liu.last_text


async def test_notice_scheduled_for_tomorrow_morning(chat: Chat, demo: Database) -> None:
    zhu = await chat.person("朱凡", 20)
    await zhu.send("/notice")
    await zhu.press("本网格全体")
    await zhu.press("活动通知")
    await zhu.send("明晚7点楼道议事会")
    await zhu.press("定时发送")
    answer = await zhu.send("03-08 09:00")
    assert "已定好时间：03-08 09:00" in texts(answer)
    async with demo.session() as s:
        notice = (await s.execute(select(Notice))).scalar_one()
    assert (
        notice.status == "scheduled" and notice.scheduled_at.hour == 1
    )  # 09:00 in Shanghai is 01:00 UTC


async def test_only_the_author_or_a_manager_may_stop_or_read_a_notice(
    chat: Chat, demo: Database
) -> None:
    liu = await chat.person("刘芳", 30)
    other = await chat.person("周杰", 31)  # a grid leader, not the author
    await liu.send("/notice")
    await liu.press("全社区")
    await liu.press("一般通知")
    await liu.send("测试")
    await liu.press("立即发送")
    async with demo.session() as s:
        notice = (await s.execute(select(Notice))).scalar_one()
    assert "没有权限" in texts(await other.press_payload(f"notice:cancel:{notice.id}"))
    assert "没有权限" in texts(await other.press_payload(f"notice:report:{notice.id}"))
    stopped = await liu.press("停止发送")
    assert "已停止" in texts(stopped)


async def test_resident_mutes_activity_notices_but_not_urgent_ones(
    chat: Chat, demo: Database
) -> None:
    chen = await chat.person("陈秀英", 40)
    view = await chen.send("🔕 通知设置")
    shown = labels(view)
    assert "🔔 活动通知：接收中" in shown and not any("紧急" in label for label in shown)
    after = await chen.press("活动通知")
    assert any("🔕 活动通知：已关闭" in label for label in labels(after))
    forged = await chen.press_payload("mute:urgent")
    assert "不能关闭" in texts(forged)
    person = await person_named(demo, "陈秀英")
    async with demo.session() as s:
        mutes = (
            (await s.execute(select(NoticeMute.category).where(NoticeMute.person_id == person.id)))
            .scalars()
            .all()
        )
    assert mutes == ["activity"]


async def test_free_text_reaches_a_feature_of_another_module(chat: Chat) -> None:
    liu = await chat.person("刘芳")  # a uid of its own
    assert "发给谁" in texts(await liu.send("我要发通知给全体居民"))
