"""The events' tables: an event (its slot of places), invitees with RSVP, duties, ratings."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlmodel import Field, SQLModel

from models.db import UTCDateTime, utcnow

KIND = "event"
CHILD_AGE = 14


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class Audience(StrEnum):
    ALL = "all"
    FAMILIES = "families"
    VOLUNTEERS = "volunteers"
    COURIERS = "couriers"
    GRID = "grid"
    INVITEES = "invitees"


class EventKind(StrEnum):
    ACTIVITY = "activity"
    MEETING = "meeting"


class Event(SQLModel, table=True):
    """An activity or a meeting, with its slot of places in the sign-up engine."""

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    kind: str = Field(default=EventKind.ACTIVITY, max_length=16)
    title: str = Field(max_length=80)
    description: str | None = Field(default=None, max_length=500)
    place: str = Field(max_length=128)
    audience: str = Field(default=Audience.ALL, max_length=16)
    grid_id: int | None = Field(default=None, foreign_key="grid.id")
    organiser_id: int = Field(foreign_key="person.id")
    slot_id: int | None = Field(default=None, foreign_key="slot.id", index=True)
    # Minutes before the start at which everyone signed up is reminded (default 48 h and 2 h).
    reminders: list[int] = Field(
        default_factory=lambda: [2880, 120],
        sa_column=Column(JSON, nullable=False, server_default=sql_text("'[2880, 120]'")),
    )
    agenda: str | None = Field(default=None, max_length=1000)
    minutes: str | None = Field(default=None, max_length=4000)  # 会议纪要 / the decision
    minutes_at: datetime | None = _ts(default=None)
    cancelled_at: datetime | None = _ts(default=None)
    # The QR door poster's token (/start ci_<token>), made when the organiser first asks for it.
    checkin_token: str | None = Field(default=None, max_length=16, unique=True, index=True)
    created_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)


class Rsvp(StrEnum):
    YES = "yes"
    NO = "no"
    MAYBE = "maybe"


class EventInvitee(SQLModel, table=True):
    """An invited person (a residents' representative, a partner unit's contact) and their answer."""

    __table_args__ = (UniqueConstraint("event_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)  # "my meetings"
    rsvp: str | None = Field(default=None, max_length=8)
    answered_at: datetime | None = _ts(default=None)
    reminded_at: datetime | None = _ts(default=None)
    invited_at: datetime = _ts(default_factory=utcnow)


DUTY_KIND = "event_duty"


class EventDuty(SQLModel, table=True):
    """One helper's duty at an event (e.g. one of 4 stall helpers): a task offered to volunteers.

    Taking the task signs the volunteer up as a helper (a place added for them); after the event,
    if they checked in, the task is finished with the event's length and its hours are credited
    once by the task machinery (`credit_hours`)."""

    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    task_id: int = Field(foreign_key="task.id", unique=True)
    title: str = Field(max_length=60)
    created_at: datetime = _ts(default_factory=utcnow)


class EventRating(SQLModel, table=True):
    """A participant's one-tap rating after the event (1–5), once per person."""

    __table_args__ = (UniqueConstraint("event_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    event_id: int = Field(foreign_key="event.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    stars: int
    rated_at: datetime = _ts(default_factory=utcnow)
