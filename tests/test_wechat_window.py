"""Outside WeChat's 48-hour window: a template that leads back, and what still matters given first."""

from __future__ import annotations

from sqlalchemy import select

from bot.config import Settings
from models.db import Database
from models.outbox import enqueue
from models.tables import ChannelAccount, Outbox
from tests.conftest import FakeClock
from tests.telegram_chat import texts
from tests.test_media_store import jpeg
from tests.wechat_chat import WeChatHarness, link_account, wechat_settings

WANG, LI = "o41-wx", "o42-wx"


def window_settings(settings: Settings) -> Settings:
    return wechat_settings(
        settings,
        wechat_template_id="TPL-1",
        wechat_template_url="https://linli.example/staff",
        wechat_miniprogram_appid="wx-mini-app",
        wechat_miniprogram_path="pages/tasks/index",
    )


async def file_report(harness: WeChatHarness) -> None:
    wang = harness.user(WANG)
    await wang.send("3幢后面堆了好多杂物")
    await wang.press("杂物堆放")
    await wang.photo(harness.server.receive_media(jpeg()))
    await wang.press("好了")
    await wang.location(28.1418, 120.9701)
    assert "R0001" in texts(await wang.press("✅ 提交"))


async def test_a_task_offer_outside_the_window_leads_back_and_comes_first_next_time(
    settings: Settings, demo: Database, clock: FakeClock
) -> None:
    harness = WeChatHarness(window_settings(settings), demo, clock)
    try:
        await link_account(demo, "wechat", WANG, "王建国")
        await link_account(demo, "wechat", LI, "李红")
        harness.server.outside_window.add(LI)  # 李红 last wrote more than 48 hours ago
        await file_report(harness)
        await harness.deliver()

        # The template names what it is about and opens the staff page or the mini-program.
        (template,) = [d for d in harness.server.to(LI) if d.api == "template"]
        assert "新任务 #1" in template.body["data"]["thing1"]["value"]
        assert template.body["url"] == "https://linli.example/staff"
        assert template.body["miniprogram"] == {
            "appid": "wx-mini-app",
            "pagepath": "pages/tasks/index",
        }
        async with demo.session() as s:
            offer = (
                await s.execute(select(Outbox).where(Outbox.chat_id == LI, Outbox.kind == "task"))
            ).scalar_one()
        assert offer.status == "held"

        # She writes (the window opens): the offer comes first, in full, then her answer.
        harness.server.outside_window.discard(LI)
        li = harness.user(LI)
        (answer,) = await li.send("你好")
        offer_at, reply_at = answer.text.find("新任务"), answer.text.find("1. 🙋 接单")
        assert 0 <= offer_at < reply_at, answer.text
        assert answer.numbered[0] == (1, "🙋 接单")
        async with demo.session() as s:
            offer = await s.get(Outbox, offer.id)
        assert offer is not None and offer.status == "sent"
        # Its number works, and it is given only once.
        assert "接单成功" in texts(await li.send("1"))
        assert "新任务" not in texts(await li.send("你好"))
    finally:
        await harness.close()


async def test_a_notice_outside_the_window_is_the_template_alone(
    settings: Settings, demo: Database, clock: FakeClock
) -> None:
    """Nothing to answer in it: the template is all, and the next message is not preceded by it."""
    harness = WeChatHarness(window_settings(settings), demo, clock)
    try:
        await link_account(demo, "wechat", LI, "李红")
        harness.server.outside_window.add(LI)
        async with demo.session() as s:
            account = (
                await s.execute(select(ChannelAccount).where(ChannelAccount.external_id == LI))
            ).scalar_one()
            assert account.person_id is not None
            await enqueue(
                s,
                person_id=account.person_id,
                kind="notice",
                dedupe_key="n-water",
                now=clock(),
                text="明天停水\n上午九点至下午三点，请提前储水。",
            )
        await harness.deliver()
        (template,) = harness.server.to(LI)
        assert template.api == "template" and template.text == "明天停水"
        harness.server.outside_window.discard(LI)
        (answer,) = await harness.user(LI).send("你好")
        assert "停水" not in answer.text
        async with demo.session() as s:
            row = (await s.execute(select(Outbox))).scalar_one()
        assert row.status == "sent"
    finally:
        await harness.close()
