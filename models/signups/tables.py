"""The sign-up engine's tables: a slot with places, a person's sign-up, its reminders."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.db import UTCDateTime, utcnow


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
