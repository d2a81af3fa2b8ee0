"""Periodic clean-up use cases."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.passive_replies import prune_passive_replies
from models.tables import Conversation, Outbox, OutboxStatus, ProcessedUpdate

FINISHED = (OutboxStatus.SENT, OutboxStatus.DEAD, OutboxStatus.BLOCKED, OutboxStatus.CANCELLED)


async def prune(session: AsyncSession, now: datetime, retention: timedelta) -> dict[str, int]:
    """Delete inbox keys older than `retention` and clear flows past their timeout."""
    old = await session.execute(
        delete(ProcessedUpdate).where(col(ProcessedUpdate.processed_at) < now - retention)
    )
    expired = await session.execute(
        update(Conversation)
        .where(col(Conversation.expires_at) < now)
        .values(flow=None, step=None, data={}, choices=[], expires_at=None, updated_at=now)
    )
    replies = await prune_passive_replies(session, now)
    return {
        "processed_updates": old.rowcount,  # type: ignore[attr-defined]
        "expired_flows": expired.rowcount,  # type: ignore[attr-defined]
        "passive_replies": replies,
    }


async def prune_outbox(
    session: AsyncSession, now: datetime, retention: timedelta, limit: int = 10_000
) -> int:
    """Delete up to `limit` finished outbox rows (sent, dead, blocked, cancelled) made before
    `now - retention`, oldest first; pending and leased rows stay whatever their age."""
    # A range scan of the age index from the oldest row, stopping at the cutoff or the limit:
    # nothing to delete costs one index probe. The status is compared as `status || ''` so
    # that no planner drives the query from the status index instead (SQLite did: every
    # `sent` row of the table read and sorted to find none old enough, 7 s of CPU and 50 s
    # wall at 8.5 million rows, bench/README.md "Session 6").
    old = (
        select(col(Outbox.id))
        .where(
            col(Outbox.created_at) < now - retention,
            (col(Outbox.status) + "").in_([str(s) for s in FINISHED]),
        )
        .order_by(col(Outbox.created_at))
        .limit(limit)
    )
    done = await session.execute(
        delete(Outbox)
        .where(col(Outbox.id).in_(old.scalar_subquery()))
        .execution_options(synchronize_session=False)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]
