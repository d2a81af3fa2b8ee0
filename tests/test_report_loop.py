"""The civic loop across three people: a resident reports, a volunteer fixes, the resident rates."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from bot.channels.telegram_channel import TelegramSender
from bot.delivery import ChannelLimits, DeliverySettings, DeliveryWorker
from models.db import Database
from models.tables import (
    Rating,
    Report,
    ReportEvent,
    Task,
    VolunteerHours,
)
from models.tasks import credit_hours
from tests.conftest import FakeClock
from tests.fakes.telegram import FakeBotApi
from tests.telegram_chat import TelegramUser, link, texts

FAST = ChannelLimits(per_second=1000.0, per_chat_interval=0.0)
WANG, LI, ZHANG, ZHU, LIU, ZHAO, ZHOU = 31, 32, 33, 34, 35, 36, 37


async def deliver(app, demo: Database, clock: FakeClock) -> None:
    """Run the delivery worker until the outbox is empty."""
    worker = DeliveryWorker(
        demo, [TelegramSender(app.bot, FAST)], DeliverySettings(concurrency=4), clock=clock
    )
    await worker.drain()


async def people(telegram, api: FakeBotApi, demo: Database):
    app = await telegram()
    for uid, name in ((WANG, "王建国"), (LI, "李红"), (ZHANG, "张伟"), (ZHU, "朱凡"),
                      (LIU, "刘芳"), (ZHAO, "赵敏"), (ZHOU, "周杰")):  # fmt: skip
        await link(demo, uid, name)
    return app, {
        uid: TelegramUser(app, api, uid) for uid in (WANG, LI, ZHANG, ZHU, LIU, ZHAO, ZHOU)
    }


async def file_report(wang: TelegramUser, api: FakeBotApi, *, photo: str = "junk-before") -> str:
    """王建国 reports junk behind building 3 with a photo; returns the confirmation text."""
    asked = await wang.send("3幢后面堆了好多杂物")
    assert "是什么问题" in texts(asked)
    assert "杂物堆放" in asked[-1].buttons[0][0], "the guessed category comes first"
    photos = await wang.press("杂物堆放")
    assert "有照片吗" in texts(photos)
    more = await wang.deliver(api.photo_update(WANG, photo))
    assert "已收到 1 张照片" in texts(more)
    where = await wang.press("好了")
    assert "在哪里" in texts(where)
    assert any("虹桥南村3幢" in label for label, _ in where[-1].buttons), "3幢 from the words"
    confirm = await wang.press("虹桥南村3幢")
    assert "请确认" in texts(confirm) and "杂物堆放" in texts(confirm)
    return texts(await wang.press("✅ 提交"))


async def test_the_whole_loop_report_take_finish_rate_and_hours(
    telegram, api: FakeBotApi, demo: Database, clock: FakeClock
) -> None:
    app, p = await people(telegram, api, demo)
    wang, li, zhang = p[WANG], p[LI], p[ZHANG]

    done = await file_report(wang, api)
    assert "已受理，编号 R0001" in done and "4 小时内" in done

    # The task reaches the 乐清 steward team (朱凡, 李红, 张伟), not the other grid.
    await deliver(app, demo, clock)
    for uid in (LI, ZHANG, ZHU):
        push = api.to_chat(uid)[-1]
        assert "新任务" in push.text and "虹桥南村3幢" in push.text
        assert any("接单" in label for label, _ in push.buttons)
    assert not any("新任务" in s.text for s in api.to_chat(ZHOU))

    # 李红 looks: no reporter name or phone on her card.
    card = await li.press("查看")
    assert "未公开联系方式" in texts(card)
    assert "王建国" not in texts(card) and "13800000005" not in texts(card)
    assert any(s.photo_id == "junk-before" for s in card), [
        (c.method, c.text[:30], c.photo_id) for c in card
    ]

    taken = await li.press("接单")
    assert "接单成功" in texts(taken)
    late = await zhang.press("接单")
    assert "已由 李红 接单" in texts(late)
    await deliver(app, demo, clock)
    assert "李红 接单" in api.to_chat(WANG)[-1].text
    assert "已由 李红 接单" in api.to_chat(ZHANG)[-1].text

    # She finishes with an after-photo and the time it took.
    asked = await li.press("完成")
    assert "处理后的照片" in texts(asked)
    no_photo = await li.send("好了")
    assert "需要一张处理后的照片" in texts(no_photo)
    await li.deliver(api.photo_update(LI, "junk-after"))
    finished = await li.press("1 小时")
    assert "任务 #1 已完成" in texts(finished)
    again = await li.press_payload("task:finish:1")
    assert "已经完成" in texts(again), "finishing twice is a no-op with a clear answer"

    await deliver(app, demo, clock)
    told = api.to_chat(WANG)[-1]
    assert "处理完成" in told.text and told.photo_id == "junk-after"
    assert any("⭐⭐⭐⭐⭐" in label for label, _ in told.buttons)

    # No hours before the rating (and not 72 hours yet).
    async with demo.session() as s:
        assert await credit_hours(s, clock()) == 0

    thanks = await wang.press("⭐⭐⭐⭐⭐")
    assert "已办结" in texts(thanks) and "还想说两句" in texts(thanks)
    assert "谢谢" in texts(await wang.send("很及时，谢谢志愿者"))
    assert "已经评价过" in texts(await wang.press_payload("rate:1:5"))

    async with demo.session() as s:
        assert await credit_hours(s, clock()) == 1
        assert await credit_hours(s, clock()) == 0, "credited once"
    async with demo.session() as s:
        report = await s.get(Report, 1)
        assert report is not None and report.state == "closed"
        rating = (await s.execute(select(Rating))).scalar_one()
        assert rating.stars == 5 and rating.comment == "很及时，谢谢志愿者"
        hours = (await s.execute(select(VolunteerHours))).scalar_one()
        assert hours.minutes == 60
        actions = [
            e.action
            for e in (await s.execute(select(ReportEvent).order_by(ReportEvent.id))).scalars()
        ]
        assert actions == ["created", "taken", "done", "rated"]
    assert "共 1.0 小时" in texts(await li.send("⏱ 我的时长"))


async def test_two_volunteers_press_take_at_the_same_moment(
    telegram, api: FakeBotApi, demo: Database, clock: FakeClock
) -> None:
    _app, p = await people(telegram, api, demo)
    await file_report(p[WANG], api)
    answers = await asyncio.gather(
        p[LI].press_payload("task:take:1"), p[ZHANG].press_payload("task:take:1")
    )
    won = [a for a in answers if "接单成功" in texts(a)]
    lost = [a for a in answers if "慢了一步" in texts(a)]
    assert len(won) == 1 and len(lost) == 1
    async with demo.session() as s:
        task = await s.get(Task, 1)
        assert task is not None and task.state == "taken" and task.assignee_id is not None
