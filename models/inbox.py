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
    # Core on the table, not the ORM entity, and a prebuilt statement: this runs for every message.
    conn = await session.connection()
    result = await conn.execute(
        _record_statement(session), {"channel": channel, "key": key, "at": now}
    )
    # The row count says whether the row went in (no RETURNING: one thread round trip fewer).
    return bool(result.rowcount)
