"""A platform's access token (WeChat, WeCom), fetched once and shared by every worker.

The row is the single flight: whoever refreshes holds the row's lock (FOR UPDATE on
PostgreSQL, the write lock on SQLite) while fetching, and a worker that waited for the lock
finds the new token there instead of fetching its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.db import UTCDateTime
from models.outbox import insert_ignoring_duplicates

# A token is used until this long before the expiry the platform gave (clocks differ, calls take time).
EARLY = timedelta(minutes=5)

Fetch = Callable[[], Awaitable[tuple[str, int]]]


class ChannelToken(SQLModel, table=True):
    """The current access token of one platform app ('wechat', 'wecom')."""

    name: str = Field(max_length=32, primary_key=True)
    token: str | None = Field(default=None, max_length=1024)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    fetched_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    fetches: int = 0


async def valid_token(session: AsyncSession, name: str, now: datetime) -> ChannelToken | None:
    """The stored token when it is still good for a while, else None."""
    row = await session.get(ChannelToken, name)
    if row is None or row.token is None or row.expires_at is None or row.expires_at <= now:
        return None
    return row


async def _lock(session: AsyncSession, name: str) -> ChannelToken:
    await session.execute(
        insert_ignoring_duplicates(session, ChannelToken)
        .values(name=name, fetches=0)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    stmt = select(ChannelToken).where(col(ChannelToken.name) == name)
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    else:
        # SQLite: a write takes the database's write lock until this transaction ends.
        await session.execute(
            update(ChannelToken)
            .where(col(ChannelToken.name) == name)
            .values(fetches=col(ChannelToken.fetches))
        )
    row = (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one()
    return row


async def refresh_token(
    session: AsyncSession, name: str, now: datetime, stale: str | None, fetch: Fetch
) -> str:
    """A token other than `stale`: the one another worker just stored, or a freshly fetched one.

    `fetch` returns (token, expires_in seconds); it runs while the row is locked, so of many
    workers holding the same stale token exactly one fetches.
    """
    row = await _lock(session, name)
    if (
        row.token is not None
        and row.token != stale
        and row.expires_at is not None
        and row.expires_at > now
    ):
        return row.token
    token, expires_in = await fetch()
    row.token = token
    row.fetched_at = now
    row.expires_at = now + max(timedelta(seconds=expires_in) - EARLY, timedelta(seconds=30))
    row.fetches += 1
    return token
