"""Crash and takeover: a broadcast survives SIGKILL of the delivery process; one leader at a time."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from sqlalchemy import func, insert, select

from bot.delivery import DeliverySettings
from bot.leader import Leadership
from models.db import Database
from models.notices import Audience, create_notice
from models.people import active_roles
from models.tables import ChannelAccount, Outbox, Person
from tests.conftest import FakeClock
from tests.fakes.telegram import TOKEN, FakeBotApi
from tests.fakes.telegram_server import FakeTelegramServer
from tests.telegram_chat import person_named

RECIPIENTS = 2000
FLUSH_EVERY, CONCURRENCY = 50, 16


@asynccontextmanager
async def bot_api_over_http(api: FakeBotApi) -> AsyncIterator[str]:
    """The fake Bot API on a loopback port, in this event loop."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections wait in the backlog until uvicorn accepts them
    server = uvicorn.Server(
        uvicorn.Config(FakeTelegramServer(api).app, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


async def start_delivery_process(
    database_url: str, base_url: str, root: Path
) -> asyncio.subprocess.Process:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": f"{base_url}/bot",
        "TELEGRAM_PER_SECOND": "1000",
        "TELEGRAM_PER_CHAT_SECONDS": "0",
        "DELIVERY_FLUSH_EVERY": str(FLUSH_EVERY),
        "DELIVERY_CONCURRENCY": str(CONCURRENCY),
        "LOG_LEVEL": "WARNING",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "deliver", env=env, cwd=root,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


async def many_residents(db: Database, count: int) -> None:
    community_id = (await person_named(db, "刘芳")).community_id
    async with db.session() as s:
        first = (await s.execute(select(func.max(Person.id)))).scalar_one() + 1
        await s.execute(
            insert(Person), [{"id": first + i, "community_id": community_id, "name": f"居民{i}", "verified": True,
                              "locale": "zh"} for i in range(count)]
        )  # fmt: skip
        await s.execute(
            insert(ChannelAccount),
            [{"channel": "telegram", "external_id": str(90000 + i), "chat_id": str(90000 + i), "person_id": first + i}
             for i in range(count)],
        )  # fmt: skip


async def test_sigkill_mid_broadcast_loses_nothing_and_repeats_at_most_the_in_flight_bound(
    demo: Database, clock: FakeClock, database_url: str, project_root: Path
) -> None:
    await many_residents(demo, RECIPIENTS)
    manager = await person_named(demo, "刘芳")
    async with demo.session() as s:
        notice = await create_notice(s, manager, await active_roles(s, manager), audience=Audience.COMMUNITY,
                                     arg=None, category="general", text="停水通知", now=clock())  # fmt: skip
    assert notice.recipients == RECIPIENTS
    api = FakeBotApi()
    reached = lambda: len({chat for _, chat, status in api.send_log if status == 200})  # noqa: E731
    started: list[asyncio.subprocess.Process] = []
    async with bot_api_over_http(api) as base:
        try:
            first = await start_delivery_process(database_url, base, project_root)
            started.append(first)
            await api.wait_until(lambda: api.delivered() >= RECIPIENTS // 3)
            first.kill()  # SIGKILL: no clean-up of any kind
            await first.wait()
            at_kill = api.delivered()
            assert at_kill < RECIPIENTS, "the broadcast was still running when the process died"

            second = await start_delivery_process(database_url, base, project_root)
            started.append(second)
            await api.wait_until(lambda: reached() >= RECIPIENTS)
            second.terminate()
            assert await second.wait() == 0
        finally:
            # A failed run must not leave a delivery process behind: it would stay leader
            # and hold locks on the test database for every test after this one.
            for process in started:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    duplicates = api.delivered() - RECIPIENTS
    print(
        f"crash: {at_kill} sent before SIGKILL, {duplicates} repeated (bound {DeliverySettings(flush_every=FLUSH_EVERY, concurrency=CONCURRENCY).in_flight_bound})"
    )
    bound = DeliverySettings(flush_every=FLUSH_EVERY, concurrency=CONCURRENCY).in_flight_bound
    assert reached() == RECIPIENTS
    assert 0 <= duplicates <= bound
    async with demo.session() as s:
        sent = (
            await s.execute(select(func.count()).select_from(Outbox).where(Outbox.status == "sent"))
        ).scalar()
    assert sent == RECIPIENTS


async def test_one_leader_at_a_time_and_takeover_when_it_goes(
    demo: Database, database_url: str
) -> None:
    first, second = Leadership(demo), Leadership(Database(database_url))
    try:
        assert await first.try_acquire()
        assert not await second.try_acquire(), "a second process waits"
        await first.release()  # the leader is gone (on a crash the server or kernel does this)
        assert await second.try_acquire()
        assert not await first.try_acquire()
    finally:
        await first.release()
        await second.release()
        await second.db.dispose()
