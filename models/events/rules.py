"""Who may join an event (its audience rule) or organise one; its time as text; its reminder times."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.events.tables import CHILD_AGE, Audience, Event, EventInvitee
from models.signups import Slot
from models.tables import Community, Person, Role, RoleGrant


async def zone_of(session: AsyncSession, community_id: int) -> ZoneInfo:
    community = await session.get(Community, community_id)
    return ZoneInfo(community.timezone if community else "Asia/Shanghai")


async def event_of_slot(session: AsyncSession, slot: Slot) -> Event:
    event = await session.get(Event, slot.owner_id)
    if event is None:
        raise DomainError("signup.not_found")
    return event


def when_text(starts_at: datetime, ends_at: datetime, zone: ZoneInfo) -> str:
    start, end = starts_at.astimezone(zone), ends_at.astimezone(zone)
    if start.date() == end.date():
        return f"{start:%m-%d %H:%M}–{end:%H:%M}"
    return f"{start:%m-%d %H:%M}–{end:%m-%d %H:%M}"


async def may_organise(session: AsyncSession, event: Event, person_id: int) -> bool:
    """The organiser and the community's managers manage an event."""
    if person_id == event.organiser_id:
        return True
    return await _has_role(session, person_id, event.community_id, Role.MANAGER)


async def _has_role(
    session: AsyncSession, person_id: int, community_id: int, role: str, grid_id: int | None = None
) -> bool:
    query = select(RoleGrant.id).where(
        col(RoleGrant.person_id) == person_id,
        col(RoleGrant.role) == role,
        col(RoleGrant.community_id) == community_id,
        col(RoleGrant.revoked_at).is_(None),
    )
    if grid_id is not None:
        query = query.where(col(RoleGrant.grid_id) == grid_id)
    return (await session.execute(query)).first() is not None


async def audience_refusal(
    session: AsyncSession, event: Event, person: Person, today: date
) -> str | None:
    """None when the person may join the event; else the message key saying why not."""
    if await may_organise(session, event, person.id or 0):
        return None
    if person.community_id != event.community_id:
        return "events.not_in_audience"
    rule = event.audience
    if rule == Audience.INVITEES:
        invited = await session.execute(
            select(EventInvitee.id).where(
                col(EventInvitee.event_id) == event.id, col(EventInvitee.person_id) == person.id
            )
        )
        return None if invited.first() else "events.invitees_only"
    if rule == Audience.VOLUNTEERS:
        ok = await _has_role(session, person.id or 0, event.community_id, Role.VOLUNTEER)
        return None if ok else "events.volunteers_only"
    if rule == Audience.COURIERS:
        ok = await _has_role(session, person.id or 0, event.community_id, Role.COURIER)
        return None if ok else "events.couriers_only"
    if not person.verified:
        return "events.verify_first"
    if rule == Audience.GRID:
        return None if person.grid_id == event.grid_id else "events.other_grid"
    if rule == Audience.FAMILIES:
        return None if await _has_child(session, person, today) else "events.families_only"
    return None


async def _has_child(session: AsyncSession, person: Person, today: date) -> bool:
    if person.household_id is None:
        return False
    born_after = date(today.year - CHILD_AGE, today.month, min(today.day, 28))
    child = await session.execute(
        select(Person.id).where(
            col(Person.household_id) == person.household_id,
            col(Person.birth_date).is_not(None),
            col(Person.birth_date) > born_after,
        )
    )
    return child.first() is not None


async def _reminders(session: AsyncSession, slot: Slot) -> list[tuple[str, datetime]]:
    event = await event_of_slot(session, slot)
    return [(f"m{m}", slot.starts_at - timedelta(minutes=m)) for m in sorted(set(event.reminders))]


async def may_create_events(session: AsyncSession, person: Person) -> bool:
    """Managers and grid leaders organise events."""
    return await _has_role(
        session, person.id or 0, person.community_id, Role.MANAGER
    ) or await _has_role(session, person.id or 0, person.community_id, Role.GRID_LEADER)
