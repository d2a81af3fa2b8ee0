"""The wiring: the engine's slot kind "event" (describe, who manages, the audience check,
reminders, after the event) and the duty task kind, registered when `models.events` is imported."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from models.errors import DomainError
from models.events.after import _after_event
from models.events.duties import _duty_taken, duty_of
from models.events.rules import (
    _reminders,
    audience_refusal,
    event_of_slot,
    may_organise,
    when_text,
    zone_of,
)
from models.events.tables import DUTY_KIND, KIND
from models.signups import Slot, SlotKind, register_kind
from models.tables import Person
from models.tasks import TaskKindHooks, register_task_kind


async def _describe(session: AsyncSession, slot: Slot) -> dict[str, Any]:
    event = await event_of_slot(session, slot)
    zone = await zone_of(session, slot.community_id)
    return {
        "title": event.title,
        "when": when_text(slot.starts_at, slot.ends_at, zone),
        "place": event.place,
    }


async def _may_manage(session: AsyncSession, slot: Slot, person_id: int) -> bool:
    return await may_organise(session, await event_of_slot(session, slot), person_id)


async def _check(session: AsyncSession, slot: Slot, person_id: int, now: datetime) -> None:
    event = await event_of_slot(session, slot)
    person = await session.get(Person, person_id)
    if person is None:
        raise DomainError("signup.not_found")
    if await duty_of(session, event.id or 0, person_id) is not None:
        return  # a volunteer who took one of the event's duties comes as a helper
    zone = await zone_of(session, slot.community_id)
    refusal = await audience_refusal(session, event, person, now.astimezone(zone).date())
    if refusal is not None:
        raise DomainError(refusal)


EVENT = register_kind(
    SlotKind(
        name=KIND,
        describe=_describe,
        may_manage=_may_manage,
        check=_check,
        reminders=_reminders,
        after_slot=_after_event,
        texts={"reminder": "events.reminder", "reminder_late": "events.reminder_late"},
    )
)
register_task_kind(TaskKindHooks(DUTY_KIND, on_taken=_duty_taken, on_assigned=_duty_taken))
