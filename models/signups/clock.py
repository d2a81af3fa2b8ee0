"""The clock's reminders of sign-ups (rows, fired once) and the engine's invariants."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.reminders import local_time
from models.signups.kinds import kind_of
from models.signups.places import _is_postgres, _notify
from models.signups.tables import (
    ACTIVE,
    HOLDING,
    Signup,
    SignupReminder,
    SignupStatus,
    Slot,
    SlotStatus,
)
from models.tables import Community

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
