"""At the door: check-in by a tap, a code or the poster; ended slots closed (no-shows, `after_slot`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.signups.kinds import kind_of
from models.signups.places import _locked_slot, active_signup, get_signup, signups_of
from models.signups.tables import HOLDING, Signup, SignupStatus, Slot, SlotStatus
from models.signups.waitlist import _end


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
