"""Pictures and voice notes people sent, kept in the media store, and their copies per channel.

A file is downloaded once, when it arrives, into the media store (`bot/media_store.py`: a
folder or S3-compatible storage) under a content key (its SHA-256), so a WeChat media id that
expires after three days loses nothing. Reports and applications then refer to it as
`store:<key>`. Showing it on a channel needs a copy there: the reference it came with (valid
on its own channel until the platform forgets it), or one uploaded when first shown.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import LargeBinary, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.db import UTCDateTime, utcnow
from models.outbox import insert_ignoring_duplicates

STORE = "store"  # the channel name of a stored file's reference: Media("store", key)
DRAWN = "drawn"  # StoredMedia.source of a picture the bot drew itself (a chart, a demo design)


class StoredMedia(SQLModel, table=True):
    """One file in the media store (its bytes are there, not in the database)."""

    key: str = Field(max_length=96, primary_key=True)  # sha256 hex + extension
    kind: str = Field(max_length=16)  # photo | voice
    content_type: str = Field(max_length=64)
    size: int
    source: str = Field(max_length=256)  # "channel:ref" it arrived as
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MediaCopy(SQLModel, table=True):
    """Where a stored file already is on a channel: a Telegram file id, a WeChat media id."""

    key: str = Field(max_length=96, primary_key=True, foreign_key="storedmedia.key")
    channel: str = Field(max_length=16, primary_key=True)
    ref: str = Field(max_length=256)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


async def record_stored(
    session: AsyncSession,
    *,
    key: str,
    kind: str,
    content_type: str,
    size: int,
    channel: str,
    ref: str,
    now: datetime,
    copy_expires_at: datetime | None,
) -> None:
    """A file is in the store; the reference it arrived with is its copy on that channel."""
    await session.execute(
        insert_ignoring_duplicates(session, StoredMedia.__table__)  # type: ignore[attr-defined]
        .values(
            key=key,
            kind=kind,
            content_type=content_type,
            size=size,
            source=f"{channel}:{ref}"[:256],
            created_at=now,
        )
        .on_conflict_do_nothing()
    )
    await remember_copy(session, key, channel, ref, copy_expires_at)


async def stored(session: AsyncSession, key: str) -> StoredMedia | None:
    """The stored file's record."""
    return await session.get(StoredMedia, key)


async def copy_on(session: AsyncSession, key: str, channel: str, now: datetime) -> str | None:
    """The file's reference on `channel`, while the platform still has it."""
    result = await session.execute(
        select(MediaCopy.ref).where(
            col(MediaCopy.key) == key,
            col(MediaCopy.channel) == channel,
            or_(col(MediaCopy.expires_at).is_(None), col(MediaCopy.expires_at) > now),
        )
    )
    return result.scalar_one_or_none()


async def remember_copy(
    session: AsyncSession, key: str, channel: str, ref: str, expires_at: datetime | None
) -> None:
    """The file is (now) on `channel` as `ref`, until `expires_at` (None: for good).

    An upsert: the same picture sent to many people at once (a poll's result chart) may be
    uploaded by several sends at the same moment, and the last one to finish wins."""
    stmt = insert_ignoring_duplicates(
        session, MediaCopy.__table__
    ).values(  # type: ignore[attr-defined]
        key=key, channel=channel, ref=ref[:256], expires_at=expires_at
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=["key", "channel"],
            set_={"ref": stmt.excluded.ref, "expires_at": stmt.excluded.expires_at},
        )
    )


class DrawnPicture(SQLModel, table=True):
    """The bytes of a picture the bot drew (a poll's result chart, the demo's designs).

    The clock and the demo seed (models/, scheduler/) have no media store, so these few small
    PNGs live in the database; their `StoredMedia` row (source `drawn:…`) makes them a
    `store:<key>` reference like any other, which every channel's sender knows how to show."""

    key: str = Field(max_length=96, primary_key=True, foreign_key="storedmedia.key")
    data: bytes = Field(sa_type=LargeBinary)


async def keep_drawn(session: AsyncSession, data: bytes, what: str, now: datetime) -> str:
    """Keep a drawn PNG; its `store:<key>` reference (the same picture is kept once)."""
    key = f"{hashlib.sha256(data).hexdigest()}.png"
    if await session.get(StoredMedia, key) is None:
        session.add(
            StoredMedia(
                key=key,
                kind="photo",
                content_type="image/png",
                size=len(data),
                source=f"{DRAWN}:{what}"[:256],
                created_at=now,
            )
        )
        await session.flush()
        session.add(DrawnPicture(key=key, data=data))
        await session.flush()
    return f"{STORE}:{key}"


async def drawn_bytes(session: AsyncSession, key: str) -> bytes | None:
    """The bytes of a drawn picture, None when `key` is not one."""
    row = await session.get(DrawnPicture, key)
    return row.data if row is not None else None
