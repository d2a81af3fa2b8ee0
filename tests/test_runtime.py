"""The service keeps serving: errors are caught with an id, the clock runs, old rows are pruned."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.app import Linli
from bot.config import Settings
from handlers.core import Context, Incoming
from models.db import Database
from models.housekeeping import prune
from models.tables import Conversation, ProcessedUpdate
from scheduler.clock import Clock
from tests.conftest import FakeClock


async def test_a_failing_handler_gets_a_polite_answer_with_an_id_and_others_are_served(
    linli: Linli, demo: Database, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(ctx: Context, _arg: str) -> list:
        raise RuntimeError("disk on fire")

    linli.router.intent("boom", "boom")(explode)  # a feature with a bug in it
    with caplog.at_level(logging.ERROR, logger="linli"):
        replies = await linli.handle(Incoming("console", "a", "a", "/boom", message_id="m1"))
    assert len(replies) == 1 and "系统出了点问题" in replies[0].text
    error_id = replies[0].text.split("编号 ")[1].rstrip("）")
    assert any(error_id in r.getMessage() for r in caplog.records)
    assert "disk on fire" in caplog.text
    # The platform redelivers the failed update: it is not run again.
    assert await linli.handle(Incoming("console", "a", "a", "/boom", message_id="m1")) == []
    # Everyone else is served as usual.
    other = await linli.handle(Incoming("console", "b", "b", "/start"))
    assert "邻里小助手" in other[0].text


async def test_clock_starts_and_stops_with_fixed_jobs(demo: Database, settings: Settings) -> None:
    clock = Clock(demo, retention_days=settings.processed_update_retention_days)
    clock.start()
    try:
        assert clock.running
        job = clock.scheduler.get_job("housekeeping")
        assert job is not None and job.coalesce and job.misfire_grace_time == 600
    finally:
        await clock.shutdown()
    assert not clock.running


async def test_housekeeping_prunes_old_inbox_keys_and_expired_flows(
    db: Database, clock: FakeClock
) -> None:
    now = clock()
    async with db.session() as s:
        s.add(ProcessedUpdate(channel="telegram", key="old", processed_at=now - timedelta(days=8)))
        s.add(ProcessedUpdate(channel="telegram", key="new", processed_at=now - timedelta(hours=1)))
        s.add(
            Conversation(
                channel="telegram",
                chat_id="1",
                flow="register",
                step="name",
                expires_at=now - timedelta(minutes=1),
            )
        )
        s.add(
            Conversation(
                channel="telegram",
                chat_id="2",
                flow="register",
                step="name",
                expires_at=now + timedelta(minutes=10),
            )
        )
    async with db.session() as s:
        counts = await prune(s, now, timedelta(days=7))
    assert counts == {"processed_updates": 1, "expired_flows": 1, "passive_replies": 0}
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(ProcessedUpdate))).scalar() == 1
        assert (await s.get(Conversation, ("telegram", "1"))).flow is None
        assert (await s.get(Conversation, ("telegram", "2"))).flow == "register"
