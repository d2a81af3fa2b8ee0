"""Engine and session factory: SQLite (WAL, busy timeout, foreign keys, IMMEDIATE writes) or PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import DateTime, TypeDecorator
from sqlmodel import Field

from models.sqlite_driver import one_trip_dbapi


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; SQLite gives them back naive, so re-attach UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def timestamp(**kw: Any) -> Any:
    """A table column holding an aware UTC datetime (SQLModel `Field` keywords pass through)."""
    return Field(sa_type=UTCDateTime, **kw)


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def async_url(url: str) -> str:
    """Map a plain database URL onto the async driver this project uses."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+psycopg2", "postgresql+psycopg"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def create_engine(url: str, *, pool_size: int = 16) -> AsyncEngine:
    """An async engine; SQLite gets WAL, a busy timeout, foreign keys and BEGIN IMMEDIATE."""
    url = async_url(url)
    if url.startswith("sqlite"):
        # One writer at a time is all SQLite allows (and every transaction here begins
        # IMMEDIATE): a single pooled connection makes waiters queue in the pool instead of
        # sleeping and retrying on the file lock, which cut the latency tail from seconds
        # to milliseconds in bench/inbound.py.
        engine = create_async_engine(
            url,
            # One thread round trip per statement instead of four (models/sqlite_driver.py).
            module=one_trip_dbapi(),
            connect_args={"timeout": 30},
            pool_size=1,
            max_overflow=0,
            pool_timeout=60,
            # Every session ends in commit or rollback (Database.session): the pool's extra
            # rollback on return would be one more thread round trip per message.
            pool_reset_on_return=None,
        )
        _tune_sqlite(engine)
        return engine
    # PostgreSQL: every round trip counts (the server shares the machine's cores), so
    # - no `pool_pre_ping`: with asyncpg it is three round trips per checkout (BEGIN, ";",
    #   ROLLBACK), more than a plain message's own statements. A connection the server
    #   dropped fails its first statement instead; SQLAlchemy then invalidates it and
    #   `Linli.handle` runs the message again on a fresh one (`connection_lost`);
    # - `pool_recycle`: connections idle past half an hour are replaced before a firewall or
    #   `idle_session_timeout` cuts them;
    # - a larger prepared-statement cache: asyncpg prepares every statement once per
    #   connection; the bot's distinct statements exceed the default 100, and a miss is a
    #   PREPARE round trip;
    # - a fixed pool, no overflow: with 64 updates in flight (PTB's concurrent_updates) the
    #   overflow connections were opened and closed again all the time (536 connects in a
    #   3,000-message bench.inbound run: TCP, an SSL attempt, authentication, SQLAlchemy's
    #   type setup, each time); waiters now queue in the pool, as on SQLite;
    # (The pool's rollback on return stays: asyncpg's adapter skips it when no transaction
    # is open, so it costs nothing after a committed session.)
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=60,
        pool_recycle=1800,
        connect_args={"prepared_statement_cache_size": 1000},
    )


def connection_lost(error: BaseException) -> bool:
    """The database connection broke under this statement (a server restart, a cut
    connection): the transaction never committed, so running it again is safe."""
    return isinstance(error, DBAPIError) and error.connection_invalidated


def lost_insert_race(error: BaseException, table: str) -> bool:
    """Another transaction created the row this one inserted (a pushed message's numbered
    choices and a person's first message to the same chat): nothing here committed, and
    run again the transaction finds the row and updates it."""
    statement = getattr(error, "statement", None) or ""
    return isinstance(error, IntegrityError) and statement.lstrip().upper().startswith(
        f"INSERT INTO {table.upper()} "
    )


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
        # Writes begin IMMEDIATE: sqlite3 opens the transaction with "BEGIN IMMEDIATE" at the
        # first write, in the same call (an explicit BEGIN per transaction cost three more
        # thread round trips per message). Reads before it cannot interleave with another
        # transaction of this process: there is one pooled connection (create_engine).
        dbapi_conn.isolation_level = "IMMEDIATE"


class Database:
    """One engine and its session factory; `async with db.session() as s` is one transaction."""

    def __init__(self, url: str, *, pool_size: int = 16) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on success, rolled back on error."""
        async with self.sessionmaker() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
