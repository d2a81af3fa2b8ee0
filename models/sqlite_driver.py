"""aiosqlite with one thread round trip per statement instead of four.

aiosqlite runs sqlite3 in a thread of its own; every call is a hop to that thread and back (a
queue put, a wake-up, the GIL handed over twice, a future resolved through the event loop).
SQLAlchemy's adapter makes four hops per statement: create the cursor, execute, fetch all,
close. On the message path that was 4 of a message's 7–8 hops for one SELECT, and each costs
more CPU than the indexed query itself (bench/README.md, "Session 5: message path").

The cursor here does the four in one hop: in aiosqlite's thread it creates a sqlite3 cursor,
executes, fetches every row (what SQLAlchemy's buffered cursor does next anyway), notes the
description, row count and last row id, and closes it. Same thread, same connection, same
transactions, same errors (raised from the same sqlite3 calls). Server-side (streaming)
cursors keep SQLAlchemy's own class, which fetches in chunks.

Wired in `models.db.create_engine` through `create_async_engine(module=...)`: the URL stays
`sqlite+aiosqlite`, nothing else changes.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

_Outcome = tuple[Any, int, int | None, list[Any]]


def _run(conn: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> _Outcome:
    """In aiosqlite's thread: the whole statement, its rows fetched, the cursor closed."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        # Read after the fetch: with RETURNING, sqlite3 counts the rows as they are stepped.
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class OneTripCursor:
    """Enough of aiosqlite's Cursor for SQLAlchemy's buffered adapter; one hop per execute."""

    __slots__ = ("_connection", "_rows", "arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection
        self._rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    async def _go(self, sql: str, parameters: Any, many: bool) -> OneTripCursor:
        outcome = await self._connection._execute(
            _run,
            self._connection._conn,
            sql,
            () if parameters is None else parameters,
            many,
        )
        self.description, self.rowcount, self.lastrowid, self._rows = outcome
        return self

    async def execute(self, sql: str, parameters: Any = None) -> OneTripCursor:
        return await self._go(sql, parameters, many=False)

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> OneTripCursor:
        return await self._go(sql, parameters, many=True)

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        n = size or self.arraysize
        rows, self._rows = self._rows[:n], self._rows[n:]
        return rows

    async def nextset(self) -> None:
        return None

    async def close(self) -> None:
        self._rows = []


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def _make_new_cursor(self, connection: Any) -> Any:
        return OneTripCursor(connection)


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = _Cursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI shim, its connections handing out one-trip cursors."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        return _Connection(self, adapted._connection)


def one_trip_dbapi() -> OneTripDBAPI:
    """The module to give `create_async_engine(module=...)` for a SQLite URL."""
    return OneTripDBAPI(aiosqlite, sqlite3)
