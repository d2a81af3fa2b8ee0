"""Inbox dedupe: an update id seen once is never handled again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.ext.asyncio import AsyncSession

from models.outbox import insert_ignoring_duplicates
from models.tables import ProcessedUpdate

PROCESSED: Table = ProcessedUpdate.__table__  # type: ignore[attr-defined]


_RECORD: dict[str, Any] = {}
_SQLITE_RECORD = (
    "INSERT INTO processedupdate (channel, key, processed_at) VALUES (?, ?, ?) "
    "ON CONFLICT DO NOTHING RETURNING key"
)


def _record_statement(session: AsyncSession) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, built once per dialect."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if dialect not in _RECORD:
        _RECORD[dialect] = (
            insert_ignoring_duplicates(session, PROCESSED)
            .values(
                channel=bindparam("channel"), key=bindparam("key"), processed_at=bindparam("at")
            )
            .on_conflict_do_nothing()
        )
    return _RECORD[dialect]


async def first_delivery(session: AsyncSession, channel: str, key: str, now: datetime) -> bool:
    """Record the update; False when it was recorded before (a redelivery). Part of the caller's transaction."""
    # This runs for every message: Core on the table, a prebuilt statement, and on SQLite
    # aiosqlite's own execute_fetchall, one trip to its thread where SQLAlchemy's adapter
    # takes three (cursor, execute, close). Same connection, same transaction.
    conn = await session.connection()
    if conn.dialect.name == "sqlite":
        to_column = PROCESSED.c.processed_at.type.bind_processor(conn.dialect)
        assert to_column is not None
        raw = await conn.get_raw_connection()
        rows = await raw.driver_connection.execute_fetchall(  # type: ignore[union-attr]
            _SQLITE_RECORD,
            (channel, key, to_column(now)),  # the text SQLAlchemy stores
        )
        return bool(rows)
    result = await conn.execute(
        _record_statement(session), {"channel": channel, "key": key, "at": now}
    )
    # The row count says whether the row went in (no RETURNING: no fetch).
    return bool(result.rowcount)
