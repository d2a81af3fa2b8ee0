"""The sign-up engine: a person takes places in something that has a limited number of them.

Length: one engine, one transaction discipline (every change of places locks the slot first); splitting
its use cases apart would scatter that rule. The split, when it grows: places / waitlist / door / clock.

One engine serves every feature with places: a session at a service point (a haircut at
09:00–09:30, three places) and an event (a DIY workshop, twenty places, companions allowed).
A feature registers a `SlotKind` (how to describe a slot, who manages it, its own booking rules,
when to remind) and makes `Slot` rows; the engine does the rest:

* **Capacity.** `Slot.held` counts the places booked, checked in or offered to someone on the
  waitlist. Taking places is one conditional `UPDATE slot SET held = held + n WHERE held + n <=
  capacity`; the row count decides, so two people racing for the last place give one booking.
* **One active sign-up per person and slot**: `Signup.active_key` (`"<slot>:<person>"`, NULL once
  cancelled / passed / a no-show) is unique, and it is inserted first, with ON CONFLICT DO NOTHING.
* **The waitlist promotes itself.** A freed place (a cancel, a declined or expired offer, added
  capacity) is offered to the first waiting person whose party fits, with a claim window; the
  offered places stay held, so a freed place is offered to exactly one person at a time. Every
  change of places on a slot first locks the slot's row (FOR UPDATE on PostgreSQL; SQLite has one
  writer), so promotions of one slot never interleave.
* **Reminders are rows** (`SignupReminder`), fired once by the clock, never for a sign-up that
  is no longer active.
* Check-in by a manager of the slot (tap a name) or by code; people still booked when the slot
  ends become no-shows; checked-in people are handed to the kind's `after_slot` hook (a rating).

Every use case runs in the caller's transaction and raises `DomainError` with a message key
(`signup.*`) when it refuses; a refusal changes nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, UniqueConstraint, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Field, SQLModel, col

from models.db import UTCDateTime, utcnow
from models.errors import DomainError
from models.outbox import enqueue, insert_ignoring_duplicates
from models.reminders import local_time
from models.tables import Community


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class SlotStatus(StrEnum):
    OPEN = "open"
    CANCELLED = "cancelled"


class SignupStatus(StrEnum):
    BOOKED = "booked"
    WAITING = "waiting"
    OFFERED = "offered"
    CANCELLED = "cancelled"
    PASSED = "passed"  # an offer declined or not claimed in time
    CHECKED_IN = "checked_in"
    NO_SHOW = "no_show"


# Sign-ups that hold places (and count towards `Slot.held`).
HOLDING = (SignupStatus.BOOKED, SignupStatus.OFFERED, SignupStatus.CHECKED_IN)
# Sign-ups that are still alive (one per person and slot).
ACTIVE = (*HOLDING, SignupStatus.WAITING)


class Slot(SQLModel, table=True):
    """Something with places at a time: a service-point session, an event."""

    __table_args__ = (Index("ix_slot_kind_owner", "kind", "owner_id", "starts_at"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    kind: str = Field(max_length=16)  # a registered SlotKind: "service", "event", …
    owner_id: int  # the id of the kind's own row (a service point, an event)
    starts_at: datetime = _ts(index=True)
    ends_at: datetime = _ts(index=True)
    capacity: int
    held: int = 0
    max_party: int = 1  # the person plus companions, at most
    claim_minutes: int = 10  # how long a waitlist offer stays open
    status: str = Field(default=SlotStatus.OPEN, max_length=16)
    code: str = Field(max_length=8)  # a check-in code shown at the door ("签到 3821")
    closed_at: datetime | None = _ts(default=None)  # no-shows recorded, after_slot called
    created_at: datetime = _ts(default_factory=utcnow)


class Signup(SQLModel, table=True):
    """One person's places (themselves and companions) in one slot, or their place in the queue."""

    __table_args__ = (
        UniqueConstraint("active_key"),
        Index("ix_signup_slot_status", "slot_id", "status", "created_at"),
        Index("ix_signup_person_status", "person_id", "status"),
        Index("ix_signup_offer", "status", "offer_expires_at"),  # the clock's lapsed offers
    )
    id: int | None = Field(default=None, primary_key=True)
    slot_id: int = Field(foreign_key="slot.id")
    person_id: int = Field(foreign_key="person.id")
    party: int = 1
    status: str = Field(max_length=16)
    active_key: str | None = Field(default=None, max_length=32)
    booked_by_id: int | None = Field(default=None, foreign_key="person.id")
    booked_as: str = Field(default="self", max_length=16)  # self / family / grid_leader / …
    code: str = Field(max_length=8)  # the person's own check-in code
    offer_expires_at: datetime | None = _ts(default=None)
    checked_in_at: datetime | None = _ts(default=None)
    checked_in_by_id: int | None = Field(default=None, foreign_key="person.id")
    cancelled_at: datetime | None = _ts(default=None)
    cancelled_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class SignupReminder(SQLModel, table=True):
    """A reminder of a sign-up at a time; fired once, skipped if the sign-up is no longer active."""

    __table_args__ = (UniqueConstraint("signup_id", "label"),)
    id: int | None = Field(default=None, primary_key=True)
    signup_id: int = Field(foreign_key="signup.id", index=True)
    label: str = Field(max_length=16)  # "day", "hour", "48h", …
    due_at: datetime = _ts(index=True)
    handled_at: datetime | None = _ts(default=None)
    status: str = Field(default="pending", max_length=16)  # pending / sent / skipped


# --- kinds -------------------------------------------------------------------------------------

Describe = Callable[[AsyncSession, Slot], Awaitable[dict[str, Any]]]
MayManage = Callable[[AsyncSession, Slot, int], Awaitable[bool]]
Check = Callable[[AsyncSession, Slot, int, datetime], Awaitable[None]]
Reminders = Callable[[AsyncSession, Slot], Awaitable[list[tuple[str, datetime]]]]
AfterSlot = Callable[[AsyncSession, Slot, list[Signup], datetime], Awaitable[None]]


async def _nobody_manages(_s: AsyncSession, _slot: Slot, _person: int) -> bool:
    return False


async def _no_reminders(_s: AsyncSession, _slot: Slot) -> list[tuple[str, datetime]]:
    return []


@dataclass(frozen=True)
class SlotKind:
    """What a feature tells the engine about its slots.

    `describe` gives the values every sign-up message shows (`title`, `when`, `place`, and any
    extra the feature's texts use); `texts` maps an engine message (offer, reminder, reminder_late,
    offer_expired, cancelled_notice) to the feature's catalog key, defaulting to the
    engine's generic `signup.<name>` texts.
    """

    name: str
    describe: Describe
    may_manage: MayManage = _nobody_manages
    check: Check | None = None
    reminders: Reminders = _no_reminders
    after_slot: AfterSlot | None = None
    texts: dict[str, str] = field(default_factory=dict)

    def key(self, message: str) -> str:
        return self.texts.get(message, f"signup.{message}")


KINDS: dict[str, SlotKind] = {}


def register_kind(kind: SlotKind) -> SlotKind:
    """Make a kind of slot known to the engine (a feature's models module does this at import)."""
    KINDS[kind.name] = kind
    return kind


def kind_of(slot: Slot) -> SlotKind:
    kind = KINDS.get(slot.kind)
    if kind is None:
        raise LookupError(f"no SlotKind registered for {slot.kind!r}")
    return kind


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


# --- freeing places and the waitlist --------------------------------------------------------------


async def cancel(
    session: AsyncSession, signup_id: int, actor_id: int, now: datetime, *, manager: bool = False
) -> Signup:
    """Cancel a sign-up (the person, whoever booked it for them, or a manager of the slot).

    Places it held are freed and offered to the waitlist. Cancelling twice is a no-op.
    """
    signup = await get_signup(session, signup_id)
    slot = await _locked_slot(session, signup.slot_id)
    signup = await get_signup(session, signup_id)  # re-read under the slot's lock
    if not (_may_act_for(signup, actor_id) or manager):
        if not await kind_of(slot).may_manage(session, slot, actor_id):
            raise DomainError("signup.not_found")
    if signup.status in (SignupStatus.CANCELLED, SignupStatus.PASSED):
        return signup
    if signup.status not in ACTIVE or now >= slot.starts_at:
        raise DomainError("signup.too_late")
    held = signup.status in HOLDING
    _end(signup, SignupStatus.CANCELLED, now)
    signup.cancelled_by_id = actor_id
    if held:
        await _release(session, slot, signup.party)
        await promote(session, slot, now)
    return signup


def _end(signup: Signup, status: SignupStatus, now: datetime) -> None:
    signup.status = status
    signup.active_key = None
    signup.offer_expires_at = None
    signup.updated_at = now
    if status == SignupStatus.CANCELLED:
        signup.cancelled_at = now


async def promote(session: AsyncSession, slot: Slot, now: datetime) -> list[Signup]:
    """Offer free places to the queue, first come first served (a party that fits).

    The caller holds the slot's lock (every use case here takes it first). Offered places are
    held, so each freed place is offered to exactly one person at a time.
    """
    if slot.status != SlotStatus.OPEN or now >= slot.starts_at:
        return []
    offered: list[Signup] = []
    kind = kind_of(slot)
    expires = min(now + timedelta(minutes=slot.claim_minutes), slot.starts_at)
    for waiting in await signups_of(session, slot.id or 0, (SignupStatus.WAITING,)):
        if free_places(slot) <= 0:
            break
        if waiting.party > free_places(slot) or not await _take(session, slot, waiting.party):
            continue
        waiting.status = SignupStatus.OFFERED
        waiting.offer_expires_at = expires
        waiting.updated_at = now
        offered.append(waiting)
        await _notify(
            session,
            kind,
            slot,
            waiting,
            "offer",
            now,
            choices=[
                ["btn.signup_claim", f"su:claim:{waiting.id}"],
                ["btn.signup_pass", f"su:pass:{waiting.id}"],
            ],
            extra={"minutes": slot.claim_minutes},
            dedupe=f"signup:offer:{waiting.id}:{int(now.timestamp())}",
        )
    return offered


async def claim_offer(
    session: AsyncSession, signup_id: int, actor_id: int, now: datetime
) -> Signup:
    """Take an offered place (within the claim window)."""
    signup = await get_signup(session, signup_id)
    slot = await _locked_slot(session, signup.slot_id)
    signup = await get_signup(session, signup_id)
    if not _may_act_for(signup, actor_id):
        raise DomainError("signup.not_found")
    if signup.status in (SignupStatus.BOOKED, SignupStatus.CHECKED_IN):
        return signup  # a second tap
    if signup.status != SignupStatus.OFFERED:
        raise DomainError("signup.offer_gone")
    if signup.offer_expires_at is not None and now >= signup.offer_expires_at:
        await _pass(session, slot, signup, now)
        raise DomainError("signup.offer_gone")
    signup.status = SignupStatus.BOOKED
    signup.offer_expires_at = None
    signup.updated_at = now
    await _schedule_reminders(session, kind_of(slot), slot, signup, now)
    return signup


async def decline_offer(
    session: AsyncSession, signup_id: int, actor_id: int, now: datetime
) -> Signup:
    """ "不要了": the offered place goes to the next in the queue."""
    signup = await get_signup(session, signup_id)
    slot = await _locked_slot(session, signup.slot_id)
    signup = await get_signup(session, signup_id)
    if not _may_act_for(signup, actor_id):
        raise DomainError("signup.not_found")
    if signup.status != SignupStatus.OFFERED:
        raise DomainError("signup.offer_gone")
    await _pass(session, slot, signup, now)
    return signup


async def _pass(session: AsyncSession, slot: Slot, signup: Signup, now: datetime) -> None:
    _end(signup, SignupStatus.PASSED, now)
    await _release(session, slot, signup.party)
    await promote(session, slot, now)


async def expire_offers(session: AsyncSession, now: datetime, limit: int = 200) -> int:
    """Clock job: offers not claimed in time pass to the next person (who is told)."""
    due = await session.execute(
        select(col(Signup.id), col(Signup.slot_id))
        .where(col(Signup.status) == SignupStatus.OFFERED, col(Signup.offer_expires_at) <= now)
        .order_by(col(Signup.offer_expires_at))
        .limit(limit)
    )
    count = 0
    for signup_id, slot_id in due.all():
        slot = await _locked_slot(session, slot_id)
        signup = await get_signup(session, signup_id)
        if signup.status != SignupStatus.OFFERED:
            continue
        await _pass(session, slot, signup, now)
        await _notify(
            session,
            kind_of(slot),
            slot,
            signup,
            "offer_expired",
            now,
            dedupe=f"signup:offer_expired:{signup.id}",
        )
        count += 1
    return count


async def add_capacity(
    session: AsyncSession, slot_id: int, places: int, actor_id: int, now: datetime
) -> Slot:
    """A manager adds places (or removes free ones); the waitlist is offered what is new."""
    slot = await _locked_slot(session, slot_id)
    if not await kind_of(slot).may_manage(session, slot, actor_id):
        raise DomainError("signup.not_allowed")
    if slot.capacity + places < max(1, slot.held):
        raise DomainError("signup.bad_capacity")
    slot.capacity += places
    await promote(session, slot, now)
    return slot


async def cancel_slot(session: AsyncSession, slot_id: int, actor_id: int, now: datetime) -> int:
    """Cancel the whole slot: everyone booked, offered or waiting is told. Returns how many."""
    slot = await _locked_slot(session, slot_id)
    kind = kind_of(slot)
    if not await kind.may_manage(session, slot, actor_id):
        raise DomainError("signup.not_allowed")
    if slot.status == SlotStatus.CANCELLED:
        return 0
    slot.status = SlotStatus.CANCELLED
    told = 0
    for signup in await signups_of(session, slot_id):
        _end(signup, SignupStatus.CANCELLED, now)
        signup.cancelled_by_id = actor_id
        told += await _notify(
            session, kind, slot, signup, "cancelled_notice", now, dedupe=f"signup:slotx:{signup.id}"
        )
    await session.execute(
        update(Slot)
        .where(col(Slot.id) == slot_id)
        .values(held=0)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(slot, "held", 0)
    return told


# --- at the door --------------------------------------------------------------------------------


async def check_in(session: AsyncSession, signup_id: int, actor_id: int, now: datetime) -> Signup:
    """A manager of the slot ticks the person off the list (from shortly before it starts)."""
    signup = await get_signup(session, signup_id)
    slot = await _locked_slot(session, signup.slot_id)
    if not await kind_of(slot).may_manage(session, slot, actor_id):
        raise DomainError("signup.not_allowed")
    return _check_in(slot, signup, actor_id, now)


async def check_in_by_code(
    session: AsyncSession, slot_id: int, code: str, actor_id: int, now: datetime
) -> Signup:
    """Check in by a code: a manager types the person's code, or the person types the slot's."""
    slot = await _locked_slot(session, slot_id)
    code = code.strip()
    if await kind_of(slot).may_manage(session, slot, actor_id):
        found = (
            await session.execute(
                select(Signup).where(
                    col(Signup.slot_id) == slot_id,
                    col(Signup.code) == code,
                    col(Signup.status).in_(HOLDING),
                )
            )
        ).scalar_one_or_none()
        if found is None:
            raise DomainError("signup.bad_code")
        return _check_in(slot, found, actor_id, now)
    mine = await active_signup(session, slot_id, actor_id)
    if mine is None or code != slot.code:
        raise DomainError("signup.bad_code")
    return _check_in(slot, mine, actor_id, now)


async def check_in_self(
    session: AsyncSession, slot_id: int, person_id: int, now: datetime
) -> Signup:
    """The person checks themselves in (an event's QR poster at the door): their own place."""
    slot = await _locked_slot(session, slot_id)
    mine = await active_signup(session, slot_id, person_id)
    if mine is None:
        raise DomainError("signup.not_booked")
    return _check_in(slot, mine, person_id, now)


def check_in_open(slot: Slot, now: datetime) -> bool:
    """Whether the door is open for check-in: from an hour before the start to an hour after."""
    return slot.starts_at - CHECK_IN_OPENS <= now <= slot.ends_at + CHECK_IN_OPENS


CHECK_IN_OPENS = timedelta(hours=1)


def _check_in(slot: Slot, signup: Signup, actor_id: int, now: datetime) -> Signup:
    if signup.status == SignupStatus.CHECKED_IN:
        return signup
    if signup.status != SignupStatus.BOOKED:
        raise DomainError("signup.not_booked")
    if not check_in_open(slot, now):
        raise DomainError("signup.not_now")
    signup.status = SignupStatus.CHECKED_IN
    signup.checked_in_at = now
    signup.checked_in_by_id = actor_id
    signup.updated_at = now
    return signup


async def close_ended_slots(session: AsyncSession, now: datetime, limit: int = 100) -> int:
    """Clock job: after a slot ends, people still booked are no-shows, open offers lapse and the
    kind's `after_slot` hook gets the people who came (to ask for a rating, credit hours …)."""
    slots = (
        await session.execute(
            select(Slot)
            .where(col(Slot.ends_at) <= now, col(Slot.closed_at).is_(None))
            .order_by(col(Slot.ends_at))
            .limit(limit)
        )
    ).scalars()
    count = 0
    for slot in list(slots):
        slot = await _locked_slot(session, slot.id or 0)
        if slot.closed_at is not None:
            continue
        slot.closed_at = now
        came: list[Signup] = []
        for signup in await signups_of(session, slot.id or 0):
            if signup.status == SignupStatus.BOOKED:
                signup.status = SignupStatus.NO_SHOW
                signup.active_key = None
                signup.updated_at = now
            elif signup.status == SignupStatus.CHECKED_IN:
                came.append(signup)
            else:  # still waiting or offered when it ended
                _end(signup, SignupStatus.PASSED, now)
        kind = kind_of(slot)
        if kind.after_slot is not None and slot.status == SlotStatus.OPEN:
            await kind.after_slot(session, slot, came, now)
        count += 1
    return count


async def no_shows_since(session: AsyncSession, person_id: int, kind: str, since: datetime) -> int:
    """How many times the person did not come to a slot of this kind since a time."""
    result = await session.execute(
        select(func.count())
        .select_from(Signup)
        .join(Slot, col(Slot.id) == Signup.slot_id)
        .where(
            col(Signup.person_id) == person_id,
            col(Signup.status) == SignupStatus.NO_SHOW,
            col(Slot.kind) == kind,
            col(Slot.starts_at) >= since,
        )
    )
    return int(result.scalar_one())


# --- reminders ----------------------------------------------------------------------------------


async def fire_signup_reminders(session: AsyncSession, now: datetime, limit: int = 500) -> int:
    """Clock job: due reminders of live sign-ups become outbox rows with "去 / 取消" buttons.

    A reminder whose sign-up was cancelled (or whose slot has ended) is skipped, never sent;
    each row is handled once, so a restart or a second run sends nothing twice. A reminder that
    comes late (the service was down) still goes out while the slot has not started, saying the
    time it was meant for.
    """
    query = (
        select(SignupReminder, Signup, Slot)
        .join(Signup, col(Signup.id) == SignupReminder.signup_id)
        .join(Slot, col(Slot.id) == Signup.slot_id)
        .where(col(SignupReminder.status) == "pending", col(SignupReminder.due_at) <= now)
        .order_by(col(SignupReminder.due_at))
        .limit(limit)
    )
    if _is_postgres(session):
        query = query.with_for_update(of=SignupReminder, skip_locked=True)
    sent = 0
    for reminder, signup, slot in (await session.execute(query)).all():
        reminder.handled_at = now
        if signup.status not in (SignupStatus.BOOKED,) or now >= slot.starts_at:
            reminder.status = "skipped"
            continue
        reminder.status = "sent"
        late = now - reminder.due_at > timedelta(minutes=1)
        sent += await _notify(
            session,
            kind_of(slot),
            slot,
            signup,
            "reminder_late" if late else "reminder",
            now,
            extra={"due": local_time(reminder.due_at, await _zone(session, slot))},
            choices=[
                ["btn.signup_go", f"su:go:{signup.id}"],
                ["btn.signup_cancel", f"su:cancel:{signup.id}"],
            ],
            dedupe=f"signup:reminder:{reminder.id}",
        )
    return sent


async def _zone(session: AsyncSession, slot: Slot) -> str:
    community = await session.get(Community, slot.community_id)
    return community.timezone if community else "Asia/Shanghai"


# --- invariants (tests and benchmarks) ----------------------------------------------------------


async def check_invariants(session: AsyncSession) -> dict[str, bool]:
    """The engine's promises, checked over the whole table."""
    held = (
        select(Signup.slot_id, func.sum(Signup.party).label("n"))
        .where(col(Signup.status).in_(HOLDING))
        .group_by(col(Signup.slot_id))
        .subquery()
    )
    mismatched = await session.execute(
        select(func.count())
        .select_from(Slot)
        .outerjoin(held, held.c.slot_id == Slot.id)
        .where(
            (col(Slot.status) == SlotStatus.OPEN) & (func.coalesce(held.c.n, 0) != col(Slot.held))
        )
    )
    over = await session.execute(
        select(func.count()).select_from(Slot).where(col(Slot.held) > col(Slot.capacity))
    )
    twice = await session.execute(
        select(func.count()).select_from(
            select(Signup.slot_id, Signup.person_id)
            .where(col(Signup.status).in_(ACTIVE))
            .group_by(col(Signup.slot_id), col(Signup.person_id))
            .having(func.count() > 1)
            .subquery()
        )
    )
    # An offer while the slot has free places and nobody else… is fine; an offer while a place
    # is free for the person ahead in the queue is not: the queue is served in order.
    return {
        "held_matches_signups": mismatched.scalar_one() == 0,
        "no_slot_over_capacity": over.scalar_one() == 0,
        "nobody_twice": twice.scalar_one() == 0,
    }
