"""An event's lists: the sign-up and attendance roster, its .xlsx export, the .ics for 加入日历."""

from __future__ import annotations

import io

from icalendar import Calendar
from icalendar import Event as IcsEvent
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.events.organising import get_event
from models.events.rules import may_organise, when_text, zone_of
from models.events.tables import Event
from models.signups import Signup, Slot
from models.tables import Person


async def roster(
    session: AsyncSession, event_id: int, actor_id: int
) -> list[tuple[Signup, Person]]:
    """The sign-up and attendance list, for the organiser and managers."""
    event, slot = await get_event(session, event_id)
    if not await may_organise(session, event, actor_id):
        raise DomainError("error.forbidden")
    rows = await session.execute(
        select(Signup, Person)
        .join(Person, col(Person.id) == Signup.person_id)
        .where(col(Signup.slot_id) == slot.id)
        .order_by(col(Signup.created_at), col(Signup.id))
    )
    return [(s, p) for s, p in rows.all()]


async def roster_xlsx(session: AsyncSession, event_id: int, actor_id: int) -> bytes:
    """The sign-up and attendance list as an .xlsx workbook (openpyxl), for the organiser."""
    from openpyxl import Workbook

    event, slot = await get_event(session, event_id)
    rows = await roster(session, event_id, actor_id)
    zone = await zone_of(session, event.community_id)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "报名名单"
    sheet.append([event.title, when_text(slot.starts_at, slot.ends_at, zone), event.place])
    sheet.append(["姓名", "电话", "人数", "状态", "身份", "报名时间", "签到时间"])
    for signup, person in rows:
        sheet.append(
            [
                person.name,
                person.phone or "",
                signup.party,
                signup.status,
                signup.booked_as,
                f"{signup.created_at.astimezone(zone):%Y-%m-%d %H:%M}",
                f"{signup.checked_in_at.astimezone(zone):%Y-%m-%d %H:%M}"
                if signup.checked_in_at
                else "",
            ]
        )
    for cells in sheet.iter_rows():
        for cell in cells:
            cell.number_format = "@"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def ics(event: Event, slot: Slot, uid_domain: str = "linli.local") -> bytes:
    """The event as an iCalendar file (RFC 5545, by the icalendar library) for "加入日历"."""
    cal = Calendar()
    cal.add("prodid", "-//Linli//events//ZH")
    cal.add("version", "2.0")
    item = IcsEvent()
    item.add("uid", f"event-{event.id}@{uid_domain}")
    item.add("dtstamp", event.updated_at)
    item.add("dtstart", slot.starts_at)
    item.add("dtend", slot.ends_at)
    item.add("summary", event.title)
    item.add("location", event.place)
    if event.description:
        item.add("description", event.description)
    if event.cancelled_at is not None:
        item.add("status", "CANCELLED")
    cal.add_component(item)
    return cal.to_ical()
