"""The 4-second rule: a slow handler gets an empty passive reply and its answer follows, once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select

from bot.config import Settings
from handlers.core import Choice, Context, Reply
from models.db import Database
from models.tables import Outbox
from tests.conftest import FakeClock
from tests.wechat_chat import WeChatHarness, reply_text, wechat_settings

BUDGET = 0.05  # seconds; production uses 4 (WECHAT_REPLY_BUDGET_SECONDS)


async def test_slow_handler_answers_empty_in_time_then_once_as_a_message(
    settings: Settings, demo: Database, clock: FakeClock
) -> None:
    harness = WeChatHarness(
        wechat_settings(settings, wechat_reply_budget_seconds=BUDGET), demo, clock
    )
    release = asyncio.Event()
    runs = 0

    async def slow(ctx: Context, _arg: str) -> Any:
        """Stands for a handler that takes 6 seconds: it finishes when the test says so."""
        nonlocal runs
        runs += 1
        await release.wait()
        return [Reply("报告已收到", [Choice("查看进度", "intent:status")])]

    harness.linli.router.intents["slow"] = slow
    harness.linli.router.commands["slow"] = "slow"
    me = harness.user("o-slow")
    try:
        started = time.monotonic()
        first = await me.send("/slow")
        took = time.monotonic() - started
        assert first == [] and me.last_body == b"success", "an empty answer stops the retries"
        assert took < BUDGET + 1.0, f"answered after {took:.2f}s"
        # WeChat retries the same MsgId three times (each newly signed): no second run.
        for _ in range(3):
            started = time.monotonic()
            assert await me.redeliver() == []
            assert time.monotonic() - started < BUDGET + 1.0
        release.set()
        await harness.deliver()
        assert runs == 1
        pushed = me.pushed()
        assert len(pushed) == 1, [p.text for p in pushed]
        assert "报告已收到" in pushed[0].text and "1. 查看进度" in pushed[0].text
        async with demo.session() as s:
            rows = (await s.execute(select(Outbox))).scalars().all()
        assert [(r.kind, r.status, r.channel) for r in rows] == [("reply", "sent", "wechat")]
        # The number in the late answer still maps to its choice.
        # (Within this test's 50 ms budget the answer may itself come late: then it is pushed.)
        status = reply_text(await me.send("1"))
        if not status:
            await harness.deliver()
            status = me.latest()
        assert status and "没听懂" not in status
    finally:
        release.set()
        await harness.close()


async def test_a_fast_handler_answers_in_the_passive_reply(
    settings: Settings, demo: Database, clock: FakeClock
) -> None:
    harness = WeChatHarness(wechat_settings(settings), demo, clock)
    try:
        me = harness.user("o-fast")
        assert "邻里小助手" in reply_text(await me.send("/start"))
        await harness.deliver()
        assert me.pushed() == []
        assert harness.hook().late_answers == 0
    finally:
        await harness.close()
