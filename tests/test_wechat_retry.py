"""WeChat's retries: the same passive reply again, never an error; a late answer arrives once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.config import Settings
from handlers.core import Context, Reply
from models.db import Database
from models.housekeeping import prune
from models.passive_replies import PassiveReply
from models.tables import Outbox, ProcessedUpdate
from tests.conftest import FakeClock
from tests.wechat_chat import WeChatHarness, WeChatUser, wechat_settings


@pytest.fixture(params=["plain", "safe"])
async def harness(
    request: pytest.FixtureRequest, settings: Settings, demo: Database, clock: FakeClock
) -> Any:
    h = WeChatHarness(wechat_settings(settings, safe=request.param == "safe"), demo, clock)
    yield h
    await h.close()


async def count(db: Database, table: Any) -> int:
    async with db.session() as s:
        return int((await s.execute(select(func.count()).select_from(table))).scalar_one())


def message(me: WeChatUser, text: str, msg_id: str) -> str:
    return me.envelope(me.fields(MsgType="text", Content=text, MsgId=msg_id))


async def test_a_byte_identical_retry_gets_the_same_passive_reply(
    harness: WeChatHarness, demo: Database
) -> None:
    me = harness.user("o-retry")
    query, body = me.signed(message(me, "/register", "7001"))
    first = await me.post(query, body)
    assert first.status_code == 200
    said = me.open_reply(first)
    assert "姓名" in said
    flows = await count(demo, ProcessedUpdate)
    for _ in range(3):  # WeChat's three retries, same timestamp, nonce and signature
        again = await me.post(query, body)
        assert again.status_code == 200 and me.open_reply(again) == said
    assert await count(demo, ProcessedUpdate) == flows  # no second effect
    # The flow did not advance: the next answer is still taken as the name.
    assert "手机" in me.open_reply(await me.post(*me.signed(message(me, "王小明", "7002"))))


async def test_a_re_signed_retry_gets_the_same_passive_reply(
    harness: WeChatHarness, demo: Database
) -> None:
    me = harness.user("o-resigned")
    said = await me.send("/start")
    assert said and "邻里小助手" in said[0].text
    again = await me.redeliver()  # same message, new timestamp-nonce pair and signature
    assert [s.text for s in again] == [said[0].text]
    async with demo.session() as s:
        row = (await s.execute(select(PassiveReply))).scalar_one()
    assert row.state == "answered" and len(row.nonces) == 2


async def test_a_new_message_reusing_a_recent_nonce_is_refused(
    harness: WeChatHarness, demo: Database
) -> None:
    me = harness.user("o-replay")
    query, body = me.signed(message(me, "/start", "7101"), nonce="n-once")
    assert (await me.post(query, body)).status_code == 200
    before = await count(demo, ProcessedUpdate), await count(demo, PassiveReply)
    other = message(me, "/register", "7102")
    query2, body2 = me.signed(other, timestamp=query["timestamp"], nonce="n-once")
    assert (await me.post(query2, body2)).status_code == 403
    assert (await count(demo, ProcessedUpdate), await count(demo, PassiveReply)) == before
    # A retry of that refused message with the same pair stays refused; with its own pair it is new.
    assert (await me.post(query2, body2)).status_code == 403
    fresh = await me.post(*me.signed(other))
    assert fresh.status_code == 200 and "姓名" in me.open_reply(fresh)


async def test_a_late_answer_arrives_once_whatever_the_retries(
    settings: Settings, demo: Database, clock: FakeClock
) -> None:
    """The handler finishes after the budget: the empty answer, retries get it too, one message."""
    harness = WeChatHarness(
        wechat_settings(settings, wechat_reply_budget_seconds=0.05), demo, clock
    )
    release = asyncio.Event()
    runs = 0

    async def slow(ctx: Context, _arg: str) -> Any:
        """Stands for a handler that takes 6 seconds: it finishes when the test says so."""
        nonlocal runs
        runs += 1
        await release.wait()
        return [Reply("您的申请已提交")]

    harness.linli.router.intents["slow"] = slow
    harness.linli.router.commands["slow"] = "slow"
    me = harness.user("o-late")
    try:
        query, body = me.signed(message(me, "/slow", "7201"))
        first = await me.post(query, body)
        assert first.status_code == 200 and first.content == b"success"
        retry = await me.post(query, body)  # the "success" was lost: WeChat retries, identical
        assert retry.status_code == 200 and retry.content == b"success"
        release.set()
        await harness.deliver()
        after = await me.post(query, body)  # one more retry once the answer went out
        assert after.status_code == 200 and after.content == b"success"
        await harness.deliver()
        assert runs == 1
        assert [d.text for d in me.pushed()] == ["您的申请已提交"]
        async with demo.session() as s:
            row = (await s.execute(select(PassiveReply))).scalar_one()
            outbox = (await s.execute(select(Outbox))).scalars().all()
        assert row.state == "late" and row.text is None
        assert [(o.kind, o.status) for o in outbox] == [("reply", "sent")]
    finally:
        release.set()
        await harness.close()


async def test_kept_answers_are_forgotten_after_the_retry_window(
    harness: WeChatHarness, demo: Database, clock: FakeClock
) -> None:
    me = harness.user("o-forget")
    await me.send("/start")
    assert await count(demo, PassiveReply) == 1
    async with demo.session() as s:
        counts = await prune(s, clock() + timedelta(minutes=10), timedelta(days=7))
    assert counts["passive_replies"] == 0  # still inside the window
    async with demo.session() as s:
        counts = await prune(s, clock() + timedelta(hours=2), timedelta(days=7))
    assert counts["passive_replies"] == 1 and await count(demo, PassiveReply) == 0
