"""Places: reading slots and sign-ups, making slots, signing up (one conditional UPDATE takes
the places), and the engine's messages.

Every change of places locks the slot's row first (`_locked_slot`: FOR UPDATE on PostgreSQL;
SQLite has one writer).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from models.errors import DomainError
from models.outbox import enqueue, insert_ignoring_duplicates
from models.signups.kinds import KINDS, SlotKind, kind_of
from models.signups.tables import (
    ACTIVE,
    HOLDING,
    Signup,
    SignupReminder,
    SignupStatus,
    Slot,
    SlotStatus,
)

# --- reading ------------------------------------------------------------------------------------


def free_places(slot: Slot) -> int:
    """Places nobody holds."""
    return max(0, slot.capacity - slot.held)


def _is_postgres(session: AsyncSession) -> bool:
    return session.bind is not None and session.bind.dialect.name == "postgresql"


async def _locked_slot(session: AsyncSession, slot_id: int) -> Slot:
    """The slot's row, locked for this transaction (PostgreSQL), fresh from the database."""
    query = select(Slot).where(col(Slot.id) == slot_id).execution_options(populate_existing=True)
    if _is_postgres(session):
        query = query.with_for_update()
    slot = (await session.execute(query)).scalar_one_or_none()
    if slot is None:
        raise DomainError("signup.not_found")
    return slot


async def get_signup(session: AsyncSession, signup_id: int) -> Signup:
    signup = await session.get(Signup, signup_id, populate_existing=True)
    if signup is None:
        raise DomainError("signup.not_found")
    return signup


async def active_signup(session: AsyncSession, slot_id: int, person_id: int) -> Signup | None:
    """This person's live sign-up for the slot, if any."""
    return (
        await session.execute(
            select(Signup).where(col(Signup.active_key) == f"{slot_id}:{person_id}")
        )
    ).scalar_one_or_none()


async def waiting_position(session: AsyncSession, signup: Signup) -> int:
    """1 for the first in the queue."""
    ahead = await session.execute(
        select(func.count())
        .select_from(Signup)
        .where(
            col(Signup.slot_id) == signup.slot_id,
            col(Signup.status) == SignupStatus.WAITING,
            (col(Signup.created_at) < signup.created_at)
            | ((col(Signup.created_at) == signup.created_at) & (col(Signup.id) < signup.id)),
        )
    )
    return int(ahead.scalar_one()) + 1


async def signups_of(
    session: AsyncSession, slot_id: int, statuses: tuple[str, ...] = ACTIVE
) -> list[Signup]:
    """A slot's sign-ups in queue order."""
    rows = await session.execute(
        select(Signup)
        .where(col(Signup.slot_id) == slot_id, col(Signup.status).in_(statuses))
        .order_by(col(Signup.created_at), col(Signup.id))
    )
    return list(rows.scalars())


async def person_signups(
    session: AsyncSession,
    person_id: int,
    now: datetime,
    *,
    kind: str | None = None,
    statuses: tuple[str, ...] = ACTIVE,
) -> list[tuple[Signup, Slot]]:
    """A person's live sign-ups for slots that have not ended, soonest first."""
    query = (
        select(Signup, Slot)
        .join(Slot, col(Slot.id) == Signup.slot_id)
        .where(
            col(Signup.person_id) == person_id,
            col(Signup.status).in_(statuses),
            col(Slot.ends_at) > now,
        )
        .order_by(col(Slot.starts_at), col(Signup.id))
    )
    if kind is not None:
        query = query.where(col(Slot.kind) == kind)
    return [(s, slot) for s, slot in (await session.execute(query)).all()]


# --- making slots -------------------------------------------------------------------------------


def new_code() -> str:
    """A four-digit code, read aloud or typed at the door."""
    return f"{secrets.randbelow(9000) + 1000}"


async def create_slot(
    session: AsyncSession,
    *,
    community_id: int,
    kind: str,
    owner_id: int,
    starts_at: datetime,
    ends_at: datetime,
    capacity: int,
    max_party: int = 1,
    claim_minutes: int = 10,
    now: datetime,
) -> Slot:
    """A new slot; its times and capacity are checked here, not by the caller."""
    if kind not in KINDS:
        raise LookupError(f"no SlotKind registered for {kind!r}")
    if ends_at <= starts_at:
        raise DomainError("signup.bad_times")
    if capacity < 1 or max_party < 1 or claim_minutes < 1:
        raise DomainError("signup.bad_capacity")
    slot = Slot(
        community_id=community_id,
        kind=kind,
        owner_id=owner_id,
        starts_at=starts_at,
        ends_at=ends_at,
        capacity=capacity,
        max_party=max_party,
        claim_minutes=claim_minutes,
        code=new_code(),
        created_at=now,
    )
    session.add(slot)
    await session.flush()
    return slot


# --- signing up ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignupResult:
    """What `sign_up` did: booked, or queued at `position`, or the person's existing sign-up."""

    signup: Signup
    slot: Slot
    already: bool = False
    position: int | None = None  # on the waitlist

    @property
    def booked(self) -> bool:
        return self.signup.status in HOLDING


async def sign_up(
    session: AsyncSession,
    slot_id: int,
    person_id: int,
    now: datetime,
    *,
    party: int = 1,
    waitlist: bool = True,
    booked_by_id: int | None = None,
    booked_as: str = "self",
) -> SignupResult:
    """Take `party` places in the slot for the person, or queue them when it is full.

    Refusals (DomainError): a cancelled slot, one that has started, a party over the slot's
    limit, the kind's own rules; `signup.full` when full and `waitlist` is False.
    A person already signed up gets their existing sign-up back (`already=True`).
    """
    slot = await _locked_slot(session, slot_id)
    if slot.status != SlotStatus.OPEN:
        raise DomainError("signup.slot_cancelled")
    if now >= slot.starts_at:
        raise DomainError("signup.past")
    if party < 1 or party > slot.max_party:
        raise DomainError("signup.party_limit", limit=slot.max_party)
    existing = await active_signup(session, slot_id, person_id)
    if existing is not None:
        position = None
        if existing.status == SignupStatus.WAITING:
            position = await waiting_position(session, existing)
        return SignupResult(existing, slot, already=True, position=position)
    kind = kind_of(slot)
    if kind.check is not None:
        await kind.check(session, slot, person_id, now)
    if not waitlist and free_places(slot) < party:
        raise DomainError("signup.full")
    key = f"{slot_id}:{person_id}"
    inserted = (
        await session.execute(
            insert_ignoring_duplicates(session, Signup)
            .values(
                slot_id=slot_id,
                person_id=person_id,
                party=party,
                status=SignupStatus.WAITING,
                active_key=key,
                booked_by_id=booked_by_id,
                booked_as=booked_as,
                code=new_code(),
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["active_key"])
            .returning(col(Signup.id))
        )
    ).first()
    if inserted is None:  # the same person, at the same moment, from another chat
        again = await active_signup(session, slot_id, person_id)
        if again is None:
            raise DomainError("signup.not_found")
        return SignupResult(again, slot, already=True)
    signup = await get_signup(session, inserted[0])
    if await _take(session, slot, party):
        signup.status = SignupStatus.BOOKED
        await _schedule_reminders(session, kind, slot, signup, now)
        return SignupResult(signup, slot)
    if not waitlist:  # not reached under the slot's lock; never leave a queued row behind
        await session.delete(signup)
        raise DomainError("signup.full")
    return SignupResult(signup, slot, position=await waiting_position(session, signup))


async def _take(session: AsyncSession, slot: Slot, n: int) -> bool:
    """Hold n places if they are free: one conditional UPDATE, the row count decides."""
    result = await session.execute(
        update(Slot)
        .where(
            col(Slot.id) == slot.id,
            col(Slot.status) == SlotStatus.OPEN,
            col(Slot.held) + n <= col(Slot.capacity),
        )
        .values(held=col(Slot.held) + n)
        .execution_options(synchronize_session=False)
    )
    taken = bool(result.rowcount)  # type: ignore[attr-defined]
    if taken:
        set_committed_value(slot, "held", slot.held + n)
    return taken


async def _release(session: AsyncSession, slot: Slot, n: int) -> None:
    await session.execute(
        update(Slot)
        .where(col(Slot.id) == slot.id)
        .values(held=col(Slot.held) - n)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(slot, "held", slot.held - n)


async def _schedule_reminders(
    session: AsyncSession, kind: SlotKind, slot: Slot, signup: Signup, now: datetime
) -> None:
    for label, at in await kind.reminders(session, slot):
        if at <= now:
            continue
        await session.execute(
            insert_ignoring_duplicates(session, SignupReminder)
            .values(signup_id=signup.id, label=label, due_at=at, status="pending")
            .on_conflict_do_nothing(index_elements=["signup_id", "label"])
        )


def _may_act_for(signup: Signup, actor_id: int) -> bool:
    return actor_id in (signup.person_id, signup.booked_by_id)


async def _notify(
    session: AsyncSession,
    kind: SlotKind,
    slot: Slot,
    signup: Signup,
    message: str,
    now: datetime,
    *,
    choices: list[list[str]] | None = None,
    extra: dict[str, Any] | None = None,
    dedupe: str | None = None,
) -> bool:
    values = await kind.describe(session, slot)
    values.update(extra or {})
    return await enqueue(
        session,
        person_id=signup.person_id,
        kind="signup",
        dedupe_key=dedupe or f"signup:{message}:{signup.id}:{int(now.timestamp())}",
        now=now,
        text_key=kind.key(message),
        values=values,
        choices=choices,
        priority=1,
    )
