"""The outbox: everything said unasked is a row, written in the transaction of the change it reports.

Which account reaches a person (the rule the docs state): their most recently active
channel account that has not blocked the bot. The console is a local tool: its seat is a
person's address only when the person has no account on a real channel at all (the demo's
people) — not even a blocked one, so a blocked Telegram user shows as unreachable instead of
"delivered" to a terminal nobody watches. One person gets one copy, however many apps they have.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select
from sqlmodel import col

from models.tables import ChannelAccount, Outbox, OutboxStatus, Person

# The console's channel name (bot/channels/console_channel.py): last in line as an address.
CONSOLE = "console"
RETRY_BACKOFF = (5, 30, 120, 600, 1800)  # seconds after the 1st, 2nd, … failed attempt
MAX_ATTEMPTS = len(RETRY_BACKOFF) + 1


def insert_ignoring_duplicates(session: AsyncSession, table: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING for the session's dialect."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


def best_account_id() -> Any:
    """Correlated subquery: the id of the person's most recently active, unblocked account
    (a console seat only when there is no other)."""
    ca = ChannelAccount.__table__.alias("best")  # type: ignore[attr-defined]
    real = ChannelAccount.__table__.alias("real")  # type: ignore[attr-defined]
    has_real = exists().where(real.c.person_id == Person.id, real.c.channel != CONSOLE)
    return (
        select(ca.c.id)
        .where(
            ca.c.person_id == Person.id,
            ca.c.blocked_at.is_(None),
            or_(ca.c.channel != CONSOLE, ~has_real),
        )
        .order_by(ca.c.last_seen_at.desc(), ca.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


async def account_for(session: AsyncSession, person_id: int) -> ChannelAccount | None:
    """The account that reaches this person now (a console seat only when they have no other)."""
    rows = (
        await session.execute(
            select(ChannelAccount)
            .where(col(ChannelAccount.person_id) == person_id)
            .order_by(col(ChannelAccount.last_seen_at).desc(), col(ChannelAccount.id).desc())
        )
    ).scalars()
    accounts = list(rows)
    if any(a.channel != CONSOLE for a in accounts):
        accounts = [a for a in accounts if a.channel != CONSOLE]
    return next((a for a in accounts if a.blocked_at is None), None)


async def enqueue(
    session: AsyncSession,
    *,
    person_id: int,
    kind: str,
    dedupe_key: str,
    now: datetime,
    text: str | None = None,
    text_key: str | None = None,
    values: dict[str, Any] | None = None,
    choices: list[list[str]] | None = None,
    not_before: datetime | None = None,
    notice_id: int | None = None,
    photo_ref: str | None = None,
    priority: int = 1,
) -> bool:
    """Queue one message for a person; False when they have no reachable account or it is queued already."""
    if (text is None) == (text_key is None):
        raise ValueError("give either text or text_key")
    account = await account_for(session, person_id)
    if account is None:
        return False
    person = await session.get(Person, person_id)
    stmt = (
        insert_ignoring_duplicates(session, Outbox)
        .values(
            dedupe_key=dedupe_key,
            channel=account.channel,
            chat_id=account.chat_id,
            account_id=account.id,
            person_id=person_id,
            notice_id=notice_id,
            kind=kind,
            locale=(person.locale if person else None) or account.locale or "zh",
            text=text,
            text_key=text_key,
            values=values or {},
            choices=choices or [],
            photo_ref=photo_ref,
            priority=priority,
            status=OutboxStatus.PENDING,
            attempts=0,
            not_before=not_before or now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(col(Outbox.id))
    )
    return (await session.execute(stmt)).first() is not None


@dataclass(frozen=True)
class Address:
    """Where a person is reached: the fields of their best account an outbox row copies."""

    account_id: int
    channel: str
    chat_id: str
    locale: str | None


async def best_accounts(session: AsyncSession, person_ids: list[int]) -> dict[int, Address]:
    """`account_for` for many people in one query: person id → address (reachable ones only)."""
    if not person_ids:
        return {}
    ca = ChannelAccount
    rows = await session.execute(
        select(
            col(ca.person_id),
            col(ca.id),
            col(ca.channel),
            col(ca.chat_id),
            col(ca.locale),
            col(ca.blocked_at),
        )
        .where(col(ca.person_id).in_(person_ids))
        .order_by(col(ca.person_id), col(ca.last_seen_at).desc(), col(ca.id).desc())
    )
    by_person: dict[int, list[Any]] = {}
    for row in rows:
        by_person.setdefault(row[0], []).append(row)
    out: dict[int, Address] = {}
    for person_id, accounts in by_person.items():
        if any(a.channel != CONSOLE for a in accounts):
            accounts = [a for a in accounts if a.channel != CONSOLE]
        best = next((a for a in accounts if a.blocked_at is None), None)
        if best is not None:
            out[person_id] = Address(best.id, best.channel, best.chat_id, best.locale)
    return out


_ENQUEUE_DEFAULTS: dict[str, Any] = {
    "notice_id": None, "text": None, "photo_ref": None, "priority": 1,
    "status": OutboxStatus.PENDING, "attempts": 0,
}  # fmt: skip


async def enqueue_many(
    session: AsyncSession, rows: list[dict[str, Any]], now: datetime
) -> set[str]:
    """Queue many messages at once (`enqueue`'s row, addresses resolved by the caller with
    `best_accounts`); returns the dedupe keys that went in (a key queued before is skipped).

    One statement with many parameter sets: SQLAlchemy sends them as a few multi-row INSERTs
    ("insertmanyvalues") from one compiled statement, where `.values([...])` would compile a
    new statement for every number of rows."""
    if not rows:
        return set()
    stmt = (
        insert_ignoring_duplicates(session, Outbox)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(col(Outbox.dedupe_key))
    )
    params = [{**_ENQUEUE_DEFAULTS, "not_before": now, "created_at": now, **row} for row in rows]
    return set((await session.execute(stmt, params)).scalars())


@dataclass(frozen=True)
class Claimed:
    """A row a worker has leased, with what is needed to send it."""

    id: int
    channel: str
    chat_id: str
    account_id: int | None
    locale: str
    text: str | None
    text_key: str | None
    values: dict[str, Any]
    choices: list[list[str]]
    photo_ref: str | None
    attempts: int


def _due(now: datetime) -> Any:
    return or_(
        and_(col(Outbox.status) == OutboxStatus.PENDING, col(Outbox.not_before) <= now),
        and_(col(Outbox.status) == OutboxStatus.SENDING, col(Outbox.lease_until) < now),
    )


async def claim(
    session: AsyncSession,
    now: datetime,
    limit: int,
    lease: timedelta,
    *,
    channels: tuple[str, ...] | None = None,
) -> list[Claimed]:
    """Lease up to `limit` due rows, oldest first (SKIP LOCKED on PostgreSQL), in one statement."""
    pick: Select[Any] = (
        select(col(Outbox.id))
        .where(_due(now))
        .order_by(col(Outbox.priority), col(Outbox.id))
        .limit(limit)
    )
    if channels is not None:
        pick = pick.where(col(Outbox.channel).in_(channels))
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        update(Outbox)
        .where(col(Outbox.id).in_(pick.scalar_subquery()))
        .values(
            status=OutboxStatus.SENDING,
            lease_until=now + lease,
            attempts=col(Outbox.attempts) + 1,
        )
        .returning(
            col(Outbox.id),
            col(Outbox.channel),
            col(Outbox.chat_id),
            col(Outbox.account_id),
            col(Outbox.locale),
            col(Outbox.text),
            col(Outbox.text_key),
            col(Outbox.values),
            col(Outbox.choices),
            col(Outbox.photo_ref),
            col(Outbox.attempts),
        )
    )
    rows = (await session.execute(stmt)).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


async def mark_sent(session: AsyncSession, ids: list[int], now: datetime) -> None:
    """Record rows as sent (one statement for many)."""
    if ids:
        await session.execute(
            update(Outbox)
            .where(col(Outbox.id).in_(ids))
            .values(status=OutboxStatus.SENT, sent_at=now, lease_until=None, last_error=None)
        )


async def mark_failed(session: AsyncSession, row: Claimed, now: datetime, error: str) -> str:
    """A failed attempt: retry later with backoff, or dead after the last attempt. Returns the status."""
    if row.attempts >= MAX_ATTEMPTS:
        status, when = OutboxStatus.DEAD, now
    else:
        status, when = (
            OutboxStatus.PENDING,
            now + timedelta(seconds=RETRY_BACKOFF[row.attempts - 1]),
        )
    await session.execute(
        update(Outbox)
        .where(col(Outbox.id) == row.id)
        .values(status=status, not_before=when, lease_until=None, last_error=error[:256])
    )
    return status


async def mark_retry_now(session: AsyncSession, ids: list[int], not_before: datetime) -> None:
    """Give leased rows back without counting an attempt (a platform asked us to slow down)."""
    if ids:
        await session.execute(
            update(Outbox)
            .where(col(Outbox.id).in_(ids))
            .values(
                status=OutboxStatus.PENDING,
                not_before=not_before,
                lease_until=None,
                attempts=col(Outbox.attempts) - 1,
            )
        )


async def mark_held(session: AsyncSession, row: Claimed, error: str) -> None:
    """The person cannot be reached now (WeChat's 48-hour window): given when they next write."""
    await session.execute(
        update(Outbox)
        .where(col(Outbox.id) == row.id)
        .values(status=OutboxStatus.HELD, lease_until=None, last_error=error[:256])
    )


async def mark_blocked(session: AsyncSession, row: Claimed, now: datetime, error: str) -> None:
    """The person blocked the bot: the row is finished as blocked, the account stops receiving."""
    await session.execute(
        update(Outbox)
        .where(col(Outbox.id) == row.id)
        .values(status=OutboxStatus.BLOCKED, lease_until=None, last_error=error[:256])
    )
    if row.account_id is not None:
        await session.execute(
            update(ChannelAccount)
            .where(col(ChannelAccount.id) == row.account_id)
            .values(blocked_at=now)
        )
        # Other queued rows for that account will not get through either.
        await session.execute(
            update(Outbox)
            .where(
                col(Outbox.account_id) == row.account_id,
                col(Outbox.status) == OutboxStatus.PENDING,
            )
            .values(status=OutboxStatus.BLOCKED, last_error="account blocked the bot")
        )


async def release_all_leases(session: AsyncSession) -> int:
    """A new leader owns every lease: rows a dead worker held are due again at once."""
    result = await session.execute(
        update(Outbox)
        .where(col(Outbox.status) == OutboxStatus.SENDING)
        .values(status=OutboxStatus.PENDING, lease_until=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
