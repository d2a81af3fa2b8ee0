"""Inbox dedupe: an update id seen once is never handled again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from models.outbox import insert_ignoring_duplicates
from models.tables import ProcessedUpdate

PROCESSED: Table = ProcessedUpdate.__table__  # type: ignore[attr-defined]


async def first_delivery(session: AsyncSession, channel: str, key: str, now: datetime) -> bool:
    """Record the update; False when it was recorded before (a redelivery). Part of the caller's transaction."""
    # Core on the table, not the ORM entity: this runs for every message.
    stmt = (
        insert_ignoring_duplicates(session, PROCESSED)
        .values(channel=channel, key=key, processed_at=now)
        .on_conflict_do_nothing()
        .returning(PROCESSED.c.key)
    )
    conn = await session.connection()
    return (await conn.execute(stmt)).first() is not None
