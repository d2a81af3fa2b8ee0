"""Round trips per message: a plain text message is one transaction of one statement.

On PostgreSQL every statement is a round trip to a server that shares the machine's cores,
so the count is the cost (bench/README.md, "PostgreSQL on the message path"). Counted with
SQLAlchemy's own events on the real engine; the pool's pre-ping (three more round trips per
checkout on asyncpg) is off, and a connection the server dropped costs one retry instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import aiosqlite
import pytest
from sqlalchemy import event, func, select, text

from bot.app import Linli
from handlers.core import Incoming
from models.db import Database
from models.tables import ChannelAccount, Conversation, ProcessedUpdate
from tests.telegram_chat import link

# Statements of a plain text message from a known person: on PostgreSQL one, the inbox
# insert and the query for account, person, flow, roles and held messages together
# (models/people.py: record_and_load_chat); on SQLite the same query, the inbox insert being
# sent past SQLAlchemy (models/inbox.py). Anything more is a regression on the hot path.
MAX_STATEMENTS = 1
# Hops to aiosqlite's thread for the same message on SQLite: the inbox insert, the query,
# COMMIT (one per statement: models/sqlite_driver.py; SQLAlchemy's own adapter took four).
MAX_SQLITE_HOPS = 3


@dataclass
class Trips:
    statements: list[str] = field(default_factory=list)
    transactions: int = 0


@contextmanager
def counting(db: Database) -> Iterator[Trips]:
    trips = Trips()
    engine = db.engine.sync_engine

    def on_statement(_conn: object, _cur: object, stmt: str, *_args: object) -> None:
        trips.statements.append(stmt.split("\n")[0][:100])

    def on_begin(_conn: object) -> None:
        trips.transactions += 1

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "begin", on_begin)
    try:
        yield trips
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "begin", on_begin)


def said(text_: str, n: int, user: str = "4242") -> Incoming:
    return Incoming(channel="telegram", chat_id=user, user_id=user, text=text_, message_id=str(n))


async def test_a_plain_message_is_one_transaction_of_one_statement(
    demo: Database, linli: Linli
) -> None:
    await link(demo, 4242, "刘芳")  # a manager: she holds roles, all read with her account
    assert await linli.handle(said("/start", 1))  # first contact writes the flow state
    for n, line in enumerate(["帮助", "help", "你好", "/start"], start=2):
        with counting(demo) as trips:
            replies = await linli.handle(said(line, n))
        assert replies, line
        assert trips.transactions == 1, (line, trips)
        assert len(trips.statements) <= MAX_STATEMENTS, (line, trips.statements)


async def test_roles_read_with_the_account_are_the_ones_granted(
    demo: Database, linli: Linli
) -> None:
    await link(demo, 4242, "刘芳")
    await link(demo, 4343, "陈秀英")
    manager = await linli.handle(said("帮助", 1))
    resident = await linli.handle(said("帮助", 2, user="4343"))
    # The manager's help offers the notice button; a resident's does not.
    assert "发通知" in str(manager) and "发通知" not in str(resident)


async def test_the_pool_does_not_ping_before_each_message_nor_reconnect_under_load(
    demo: Database,
) -> None:
    pool = demo.engine.sync_engine.pool
    assert pool._pre_ping is False
    # No overflow: connections opened beyond the pool were closed again on return, and
    # reopened for the next burst (a connect costs more than many messages).
    assert pool._max_overflow == 0  # type: ignore[attr-defined]


async def test_a_message_is_answered_after_the_server_dropped_the_connection(
    demo: Database, linli: Linli
) -> None:
    if demo.is_sqlite:
        pytest.skip("a SQLite file has no server to drop the connection")
    await link(demo, 4242, "刘芳")
    assert await linli.handle(said("帮助", 1))
    pool = demo.engine.sync_engine.pool
    assert pool.checkedin() == 1  # type: ignore[attr-defined]
    async with demo.session() as s:
        pid = (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    # Another connection ends that one, as a server restart or a cut connection would.
    killer = Database(demo.url)
    try:
        async with killer.session() as s:
            await s.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await killer.dispose()
    replies = await linli.handle(said("帮助", 2))
    assert replies and "系统出了点问题" not in replies[0].text


async def test_on_sqlite_a_plain_message_is_three_hops_to_the_database_thread(
    demo: Database, linli: Linli, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not demo.is_sqlite:
        pytest.skip("aiosqlite's thread is SQLite's")
    await link(demo, 4242, "刘芳")
    assert await linli.handle(said("/start", 1))
    hops: list[str] = []
    real = aiosqlite.Connection._execute

    async def hop(self: aiosqlite.Connection, fn: object, *args: object, **kw: object) -> object:
        hops.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", hop)
    for n, line in enumerate(["帮助", "help", "你好"], start=2):
        hops.clear()
        assert await linli.handle(said(line, n)), line
        assert len(hops) <= MAX_SQLITE_HOPS, (line, hops)


async def test_a_redelivered_first_message_creates_no_account_and_no_chat_state(
    demo: Database, linli: Linli
) -> None:
    # A stranger's first message, delivered twice: answered once; the second delivery finds
    # the inbox key (in the same statement as the chat on PostgreSQL) and changes nothing.
    assert await linli.handle(said("你好", 1, user="5151"))
    async with demo.session() as s:
        s.add(ProcessedUpdate(channel="telegram", key="2", processed_at=linli.clock()))
    assert await linli.handle(said("你好", 1, user="5151")) == []
    # An update already recorded (e.g. by a failed run) from someone never seen: nothing made.
    assert await linli.handle(said("你好", 2, user="5252")) == []
    async with demo.session() as s:
        accounts = (
            await s.execute(
                select(ChannelAccount.external_id).where(
                    ChannelAccount.external_id.in_(["5151", "5252"])  # type: ignore[attr-defined]
                )
            )
        ).scalars()
        chats = (
            await s.execute(
                select(func.count()).select_from(Conversation).where(Conversation.chat_id == "5252")  # type: ignore[arg-type]
            )
        ).scalar_one()
    assert list(accounts) == ["5151"]
    assert chats == 0
