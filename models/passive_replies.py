"""The answer given to one platform message, kept for the platform's retries (WeChat, WeCom).

WeChat retries a push it got no answer to within 5 seconds — byte-identical (same timestamp,
nonce and signature) — exactly when the first answer may have been lost. A retry must get the
same passive reply again, while a new message carrying a nonce already used must be refused.
So each message key (MsgId, or the event key) remembers the (timestamp, nonce) pairs it came
with, whether it was answered in time and with which text. Kept for the retry window only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import JSON, Column, Text, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.db import UTCDateTime, utcnow
from models.inbox import first_delivery
from models.outbox import insert_ignoring_duplicates

# WeChat retries three times within about 15 seconds; a request older than the allowed
# clock skew (5 minutes) is refused anyway. An hour covers both with room to spare.
KEEP_FOR = timedelta(hours=1)
MAX_NONCES = 8  # pairs remembered per message (the first delivery and re-signed retries)


class PassiveReplyState:
    """Where the answer to a message is."""

    WORKING = "working"  # the handler is still running
    ANSWERED = "answered"  # answered in time: `text` is the passive reply
    LATE = "late"  # answered after the budget, as customer-service messages (once)


class PassiveReply(SQLModel, table=True):
    """One platform message: the nonces it came with and the passive reply it got."""

    channel: str = Field(max_length=16, primary_key=True)
    key: str = Field(max_length=128, primary_key=True)
    nonces: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    state: str = Field(default=PassiveReplyState.WORKING, max_length=16)
    text: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


@dataclass(frozen=True)
class Delivery:
    """What one delivery of a message is: the first (handle it), a retry (answer as before), refused."""

    first: bool = False
    refused: bool = False
    state: str | None = None
    text: str | None = None


async def claim_delivery(
    session: AsyncSession, channel: str, key: str, pair: str, now: datetime
) -> Delivery:
    """Record a delivery of message `key` with nonce `pair` ("timestamp:nonce"); part of the caller's transaction.

    A pair never seen: the first delivery, or a re-signed retry of a known message. A pair seen
    before: a byte-identical retry when it came with this very message, else refused.
    """
    fresh = await first_delivery(session, f"{channel}.nonce", pair, now)
    table = PassiveReply.__table__  # type: ignore[attr-defined]
    for _ in range(2):
        row = await _get(session, channel, key)
        if row is None:
            if not fresh:
                return Delivery(refused=True)  # a new message reusing a recent nonce
            stmt = (
                insert_ignoring_duplicates(session, table)
                .values(
                    channel=channel,
                    key=key,
                    nonces=[pair],
                    state=PassiveReplyState.WORKING,
                    created_at=now,
                )
                .on_conflict_do_nothing()
            )
            if (await session.execute(stmt)).rowcount:  # type: ignore[attr-defined]
                return Delivery(first=True)
            continue  # the same message arrived twice at once: the other one is the first
        if not fresh and pair not in row.nonces:
            return Delivery(refused=True)
        if fresh:
            await session.execute(
                update(PassiveReply)
                .where(col(PassiveReply.channel) == channel, col(PassiveReply.key) == key)
                .values(nonces=[*row.nonces, pair][-MAX_NONCES:])
            )
        return Delivery(state=row.state, text=row.text)
    return Delivery(state=PassiveReplyState.WORKING)


async def _get(session: AsyncSession, channel: str, key: str) -> PassiveReply | None:
    result = await session.execute(
        select(PassiveReply).where(
            col(PassiveReply.channel) == channel, col(PassiveReply.key) == key
        )
    )
    return result.scalar_one_or_none()


async def record_answer(session: AsyncSession, channel: str, key: str, text: str) -> bool:
    """The message was answered in time with `text` (empty: the empty answer)."""
    result = await session.execute(
        update(PassiveReply)
        .where(
            col(PassiveReply.channel) == channel,
            col(PassiveReply.key) == key,
            col(PassiveReply.state) == PassiveReplyState.WORKING,
        )
        .values(state=PassiveReplyState.ANSWERED, text=text)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def record_late(session: AsyncSession, channel: str, key: str) -> None:
    """The answer went out after the budget as messages: a retry now gets the empty answer."""
    await session.execute(
        update(PassiveReply)
        .where(col(PassiveReply.channel) == channel, col(PassiveReply.key) == key)
        .values(state=PassiveReplyState.LATE, text=None)
    )


async def prune_passive_replies(session: AsyncSession, now: datetime) -> int:
    """Forget answers older than the retry window (they hold what a person was told)."""
    result = await session.execute(
        delete(PassiveReply).where(col(PassiveReply.created_at) < now - KEEP_FOR)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
