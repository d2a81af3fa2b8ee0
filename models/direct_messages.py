"""Messages to one chat account (not to a person): late answers, and numbered pushed choices.

A person's proactive messages go through `outbox.enqueue`, which picks their best account.
An answer that could not be given in time (WeChat's 5-second window) must reach the very
chat that asked, even a guest's that belongs to no person yet: `enqueue_to_account`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.outbox import insert_ignoring_duplicates
from models.people import HELD_WAITING
from models.tables import ChannelAccount, Conversation, Outbox, OutboxStatus


async def account_of(
    session: AsyncSession, channel: str, external_id: str
) -> ChannelAccount | None:
    """The account of a platform user id, if it exists."""
    return (
        await session.execute(
            select(ChannelAccount).where(
                col(ChannelAccount.channel) == channel,
                col(ChannelAccount.external_id) == external_id,
            )
        )
    ).scalar_one_or_none()


async def enqueue_to_account(
    session: AsyncSession,
    *,
    channel: str,
    external_id: str,
    texts: list[str],
    dedupe_key: str,
    kind: str,
    now: datetime,
    photo_refs: list[str] | None = None,
) -> int:
    """Queue final texts (and pictures) for one account, in order; returns how many rows went in.

    Each piece gets `dedupe_key:<n>`, so queuing the same answer twice is a no-op.
    """
    account = await account_of(session, channel, external_id)
    if account is None:
        return 0
    pieces: list[tuple[str, str | None]] = [(t, None) for t in texts]
    pieces += [("", ref) for ref in photo_refs or []]
    added = 0
    for n, (text, photo_ref) in enumerate(pieces):
        stmt = (
            insert_ignoring_duplicates(session, Outbox)
            .values(
                dedupe_key=f"{dedupe_key}:{n}"[:160],
                channel=account.channel,
                chat_id=account.chat_id,
                account_id=account.id,
                person_id=account.person_id,
                kind=kind,
                locale=account.locale or "zh",
                text=text,
                values={},
                choices=[],
                photo_ref=photo_ref,
                priority=0,
                status=OutboxStatus.PENDING,
                attempts=0,
                not_before=now,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(col(Outbox.id))
        )
        if (await session.execute(stmt)).first() is not None:
            added += 1
    return added


async def offer_pushed_choices(
    session: AsyncSession, channel: str, chat_id: str, choices: list[list[str]], now: datetime
) -> int:
    """A pushed message's buttons become this chat's open choices; returns the first one's number.

    Channels without buttons number choices, and a typed number is looked up in the stored
    choices. With no flow open, the pushed choices replace what was offered before (1, 2, …);
    inside a flow they are added after the flow's own, so those keep their numbers.
    """
    conv = await _conversation_locked(session, channel, chat_id, now)
    if conv.flow is None:
        conv.choices = [list(c) for c in choices]
        first = 1
    else:
        first = len(conv.choices) + 1
        conv.choices = [*conv.choices, *[list(c) for c in choices]]
    conv.updated_at = now
    return first


async def _conversation_locked(
    session: AsyncSession, channel: str, chat_id: str, now: datetime
) -> Conversation:
    """This chat's state, created if missing and locked until commit (PostgreSQL: FOR UPDATE).

    A push runs beside the person's own messages: a plain read-then-insert lost the race
    to a first message's insert (conversation_pkey) and two pushes could both read the old
    choices. Insert-if-missing then read-for-update serialises them on the row.
    """
    await session.execute(
        insert_ignoring_duplicates(session, Conversation)
        .values(channel=channel, chat_id=chat_id, data={}, choices=[], updated_at=now)
        .on_conflict_do_nothing()
    )
    return (
        await session.execute(
            select(Conversation)
            .where(col(Conversation.channel) == channel, col(Conversation.chat_id) == chat_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()


async def mark_unsubscribed(
    session: AsyncSession, channel: str, external_id: str, now: datetime
) -> bool:
    """The person unfollowed: nothing more is sent there until they write again."""
    account = await account_of(session, channel, external_id)
    if account is None:
        return False
    account.blocked_at = now
    await session.execute(
        update(Outbox)
        .where(col(Outbox.account_id) == account.id, col(Outbox.status) == OutboxStatus.PENDING)
        .values(status=OutboxStatus.BLOCKED, last_error="unsubscribed")
    )
    return True


# A held message older than this no longer matters (an offer long taken, a rating long due).
HELD_FOR = timedelta(days=7)
_HELD = (
    select(Outbox)
    .where(
        col(Outbox.account_id)
        == select(col(ChannelAccount.id))
        .where(
            col(ChannelAccount.channel) == bindparam("channel"),
            col(ChannelAccount.external_id) == bindparam("external_id"),
        )
        .scalar_subquery(),
        col(Outbox.status) == literal_column(f"'{OutboxStatus.HELD.value}'"),  # the partial index
        col(Outbox.created_at) > bindparam("since"),
    )
    .order_by(col(Outbox.id))
)


async def take_held(
    session: AsyncSession, channel: str, external_id: str, now: datetime
) -> list[Outbox]:
    """Messages that could not reach this account and still matter, oldest first; now given."""
    waiting = session.info.get(HELD_WAITING, {}).get((channel, external_id))
    if waiting is False:  # load_chat looked in this transaction: nothing is held
        return []
    rows = list((await session.execute(_HELD, {
        "channel": channel, "external_id": external_id, "since": now - HELD_FOR,
    })).scalars().all())  # fmt: skip
    for row in rows:
        row.status = OutboxStatus.SENT
        row.sent_at = now
        row.last_error = "given with the answer to the person's next message"
    return rows


async def offer_choices_first(
    session: AsyncSession, channel: str, chat_id: str, choices: list[list[str]], now: datetime
) -> None:
    """Choices shown before the answer's own: numbered first, so the answer's move down."""
    if not choices:
        return
    conv = await session.get(Conversation, (channel, chat_id))
    if conv is None:
        conv = Conversation(channel=channel, chat_id=chat_id, data={}, choices=[], updated_at=now)
        session.add(conv)
    conv.choices = [*[list(c) for c in choices], *conv.choices]
    conv.updated_at = now
