"""A reminder that came due while the service was stopped goes out once, late, saying its time.

A real `linli deliver` process (clock + delivery worker) is started and killed with SIGKILL; the
reminder's time passes while no process runs; a second process sends it. Nothing patches a clock:
the processes read the real time, and the sign-up is one made earlier (its rows carry the times it
was made at), the way the database holds it after an outage.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import col

from models.db import Database, utcnow
from models.events import create_event, join
from models.outbox import enqueue
from models.signups import SignupReminder
from models.tables import ChannelAccount, Outbox
from tests.fakes.telegram import FakeBotApi
from tests.telegram_chat import person_named
from tests.test_crash import bot_api_over_http, start_delivery_process

CHAT = "77011"


async def test_a_reminder_due_while_stopped_is_sent_once_late_with_its_time(
    demo: Database, database_url: str, project_root: Path
) -> None:
    li = await person_named(demo, "李红")
    manager = await person_named(demo, "刘芳")
    async with demo.session() as s:
        s.add(ChannelAccount(channel="telegram", external_id=CHAT, chat_id=CHAT, person_id=li.id))
        await s.flush()
        await enqueue(s, person_id=li.id or 0, kind="test", dedupe_key="restart:hello",
                      now=utcnow(), text="你好")  # fmt: skip
    api = FakeBotApi()
    started = []
    async with bot_api_over_http(api) as base:
        try:
            first = await start_delivery_process(database_url, base, project_root)
            started.append(first)
            await api.wait_until(lambda: api.delivered() >= 1)  # it runs and sends
            first.kill()  # SIGKILL: stopped, nothing cleaned up
            await first.wait()

            # While it is down: a sign-up made 15 minutes ago, whose reminder (1 h before the
            # start) came due 10 minutes ago, with nobody running to send it.
            now = utcnow()
            made = now - timedelta(minutes=15)
            async with demo.session() as s:
                event = await create_event(
                    s, organiser=manager, title="环保出行", place="社区东门",
                    starts_at=now + timedelta(minutes=50), ends_at=now + timedelta(minutes=170),
                    capacity=10, reminders=[60], now=made,
                )  # fmt: skip
                await join(s, event.id or 0, li.id or 0, made)
                due = (await s.execute(select(SignupReminder.due_at))).scalar_one()
            assert due < utcnow()

            second = await start_delivery_process(database_url, base, project_root)
            started.append(second)
            # (the greeting may come twice: it was in flight when the first process was killed)
            await api.wait_until(lambda: any("活动提醒" in m.text for m in api.to_chat(CHAT)))
            second.terminate()
            assert await second.wait() == 0
        finally:
            for process in started:  # never leave a leader behind
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    said = [s.text for s in api.to_chat(CHAT)]
    original = due.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%m-%d %H:%M")
    assert said[0] == "你好"
    reminders = [t for t in said if "活动提醒" in t]
    assert len(reminders) == 1
    assert "系统刚恢复，晚到了" in reminders[0] and original in reminders[0]
    assert "环保出行" in reminders[0] and "社区东门" in reminders[0]
    async with demo.session() as s:
        status = (await s.execute(select(SignupReminder.status))).scalar_one()
        rows = (
            await s.execute(
                select(func.count()).select_from(Outbox).where(col(Outbox.kind) == "signup")
            )
        ).scalar_one()
    assert status == "sent" and rows == 1
