"""The delivery worker's public idle API: `idle` and `wait_idle()`, as bench.broadcast uses them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from sqlalchemy import func, select
from telegram import Bot

from bot.channels.telegram_channel import TelegramSender
from bot.delivery import ChannelLimits, DeliverySettings, DeliveryWorker
from models.db import Database
from models.notices import Audience, create_notice
from models.outbox import enqueue
from models.people import active_roles
from models.tables import Outbox
from tests.conftest import FakeClock
from tests.fakes.telegram import TOKEN, FakeBotApi, RecordingRequest
from tests.telegram_chat import link, person_named

FAST = ChannelLimits(per_second=1000.0, per_chat_interval=0.0, per_group_per_minute=6000.0)
PEOPLE = ["刘芳", "朱凡", "周杰", "陈秀英", "王建国", "李红", "张伟", "赵敏", "孙强"]
WITHIN = 30.0  # seconds: a bound on a wait that takes milliseconds, so a bug fails, not hangs


@pytest.fixture
async def worker(
    demo: Database, clock: FakeClock, api: FakeBotApi
) -> AsyncIterator[DeliveryWorker]:
    """A worker whose sends are recorded only by the 0.2 s flush (flush_every is never reached)."""
    for i, name in enumerate(PEOPLE):
        await link(demo, 1000 + i, name)
    async with Bot(
        TOKEN, base_url="https://api.telegram.invalid/bot", request=RecordingRequest(api)
    ) as bot:
        settings = DeliverySettings(concurrency=2, flush_every=1000, batch=50)
        yield DeliveryWorker(demo, [TelegramSender(bot, FAST)], settings, clock=clock)


async def broadcast(db: Database, clock: FakeClock, text: str) -> int:
    """A notice to the whole demo community by 刘芳; its number of recipients."""
    author = await person_named(db, "刘芳")
    async with db.session() as s:
        notice = await create_notice(s, author, await active_roles(s, author), audience=Audience.COMMUNITY,
                                     arg=None, category="general", text=text, now=clock())  # fmt: skip
    return notice.recipients


async def statuses(db: Database) -> dict[str, int]:
    """Outbox rows by status."""
    async with db.session() as s:
        rows = await s.execute(select(Outbox.status, func.count()).group_by(Outbox.status))
        return {str(status): int(count) for status, count in rows.all()}


@pytest.fixture
def running(worker: DeliveryWorker) -> Callable[[], AbstractAsyncContextManager[None]]:
    """`async with running():` the worker's `run(stop)` for the duration of the block."""

    @asynccontextmanager
    async def run() -> AsyncIterator[None]:
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:
            yield
        finally:
            stop.set()
            await task

    return run


async def test_wait_idle_returns_once_every_due_row_is_sent_and_recorded(
    demo: Database, clock: FakeClock, api: FakeBotApi, worker: DeliveryWorker, running
) -> None:
    recipients = await broadcast(demo, clock, "停水通知")
    assert recipients == len(PEOPLE) and not worker.idle
    async with running():
        await asyncio.wait_for(worker.wait_idle(), WITHIN)
        assert worker.idle
        # Still running: the rows were recorded as sent, not just sent.
        assert await statuses(demo) == {"sent": recipients}
    assert api.delivered() == recipients


async def test_rows_committed_after_the_worker_went_idle_are_waited_for(
    demo: Database, clock: FakeClock, api: FakeBotApi, worker: DeliveryWorker, running
) -> None:
    chen = await person_named(demo, "陈秀英")
    async with running():
        await asyncio.wait_for(worker.wait_idle(), WITHIN)  # nothing to send yet
        assert worker.idle and api.delivered() == 0
        async with demo.session() as s:
            assert await enqueue(s, person_id=chen.id, kind="test", dedupe_key="late", now=clock(),
                                 text="您的申请已受理")  # fmt: skip
        # Nobody called wake(): wait_idle itself looks again, so it cannot return on the old state.
        await asyncio.wait_for(worker.wait_idle(), WITHIN)
        assert await statuses(demo) == {"sent": 1}
    assert [m.text for m in api.to_chat(1003)] == ["您的申请已受理"]


async def test_rows_that_fail_do_not_keep_the_worker_from_being_idle(
    demo: Database, clock: FakeClock, api: FakeBotApi, worker: DeliveryWorker, running
) -> None:
    api.blocked.add("1001")  # 朱凡 blocked the bot: 403
    api.missing.add("1002")  # 周杰's chat does not exist: 400
    recipients = await broadcast(demo, clock, "周六健康讲座")
    async with running():
        await asyncio.wait_for(worker.wait_idle(), WITHIN)
        assert await statuses(demo) == {"sent": recipients - 2, "blocked": 1, "dead": 1}


async def test_wait_idle_while_drain_sends(
    demo: Database, clock: FakeClock, api: FakeBotApi, worker: DeliveryWorker
) -> None:
    recipients = await broadcast(demo, clock, "停电通知")
    sent, _ = await asyncio.wait_for(asyncio.gather(worker.drain(), worker.wait_idle()), WITHIN)
    assert sent == recipients == api.delivered()
    assert worker.idle and await statuses(demo) == {"sent": recipients}
