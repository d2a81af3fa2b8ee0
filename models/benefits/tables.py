"""The benefits tables: applications, their documents, their audit trail, outreach approaches."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.db import UTCDateTime, utcnow

MAX_REASON = 500


class ApplicationStatus(StrEnum):
    """submitted → under review → approved / rejected (reason) / more information needed."""

    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    MORE_INFO = "more_info"
    APPROVED = "approved"
    REJECTED = "rejected"


OPEN = (ApplicationStatus.SUBMITTED, ApplicationStatus.UNDER_REVIEW, ApplicationStatus.MORE_INFO)


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class BenefitApplication(SQLModel, table=True):
    """One application for one person (the beneficiary), maybe filed by someone else (代办)."""

    __table_args__ = (
        Index("ix_benefitapplication_queue", "community_id", "status", "id"),
        # The daily scan: applications filed on someone's behalf that they were not told of.
        Index("ix_benefitapplication_untold", "on_behalf", "resident_told_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    grid_id: int | None = Field(default=None, foreign_key="grid.id")
    person_id: int = Field(foreign_key="person.id", index=True)
    programme: str = Field(max_length=16)
    status: str = Field(default=ApplicationStatus.SUBMITTED, max_length=16)
    # "<person>:<programme>" while the application is open, else NULL: one open one at a time.
    open_key: str | None = Field(default=None, max_length=40, unique=True)
    filed_by_id: int = Field(foreign_key="person.id", index=True)
    on_behalf: bool = False
    filer_role: str = Field(default="self", max_length=16)  # self / family / grid_leader / manager
    birth_date: date | None = None
    band_min_age: int | None = None
    monthly_yuan: int | None = None
    paid_from: date | None = None
    answers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    note: str | None = Field(default=None, sa_type=Text)
    reason: str | None = Field(default=None, sa_type=Text)
    reviewer_id: int | None = Field(default=None, foreign_key="person.id")
    recertifies_id: int | None = Field(default=None, foreign_key="benefitapplication.id")
    valid_until: date | None = None
    resident_told_at: datetime | None = _ts(default=None)
    submitted_at: datetime = _ts(default_factory=utcnow)
    updated_at: datetime = _ts(default_factory=utcnow)
    decided_at: datetime | None = _ts(default=None)


class BenefitDocument(SQLModel, table=True):
    """A photo of a document, stored by reference on the channel it came from."""

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="benefitapplication.id", index=True)
    kind: str = Field(max_length=32)
    media_ref: str = Field(max_length=256)
    sensitive: bool = False
    added_by_id: int = Field(foreign_key="person.id")
    added_at: datetime = _ts(default_factory=utcnow)


class BenefitEvent(SQLModel, table=True):
    """The audit trail: every status change, by whom, when, why."""

    id: int | None = Field(default=None, primary_key=True)
    application_id: int = Field(foreign_key="benefitapplication.id", index=True)
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    reason: str | None = Field(default=None, sa_type=Text)
    at: datetime = _ts(default_factory=utcnow)


class BenefitOutreach(SQLModel, table=True):
    """One approach of one person about one programme and period (the key that makes it once)."""

    __table_args__ = (UniqueConstraint("person_id", "programme", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    programme: str = Field(max_length=16)
    period: str = Field(max_length=32)  # 'age80' (reaching the first band) or 'recert:2027-03-21'
    kind: str = Field(max_length=16)  # approach / recert
    reached: bool = False  # a message went to the person's own chat account
    family_reached: int = 0
    task_id: int | None = Field(default=None, foreign_key="task.id")
    created_at: datetime = _ts(default_factory=utcnow)
