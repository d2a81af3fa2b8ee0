"""Freeing places and the waitlist: cancelling, offers that are claimed, passed or lapse, added
capacity, a cancelled slot. The caller's transaction; the slot is locked first."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from models.errors import DomainError
from models.signups.kinds import kind_of
from models.signups.places import (
    _locked_slot,
    _may_act_for,
    _notify,
    _release,
    _schedule_reminders,
    _take,
    free_places,
    get_signup,
    signups_of,
)
from models.signups.tables import ACTIVE, HOLDING, Signup, SignupStatus, Slot, SlotStatus


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
