"""The tables of problem reports: the report, its photos, followers and history, routing, the
escalation ladder, and the ratings of the help."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.db import timestamp, utcnow


class ReportState(StrEnum):
    """A report's state; STATE_GROUPS in models/reports.py groups them for people."""

    NEW = "new"
    REOPENED = "reopened"
    TAKEN = "taken"
    DONE = "done"
    CLOSED = "closed"
    MERGED = "merged"


class Report(SQLModel, table=True):
    """A problem a resident (or a volunteer on patrol) reported: 随手拍."""

    __table_args__ = (
        Index("ix_report_open", "community_id", "state", "created_at"),
        # The escalation ladder: which communities have active reports.
        Index("ix_report_active", "state", "community_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    grid_id: int = Field(foreign_key="grid.id", index=True)
    category: str = Field(max_length=16)
    description: str = Field(sa_type=Text)
    voice_ref: str | None = Field(default=None, max_length=256)
    building_id: int | None = Field(default=None, foreign_key="building.id")
    place: str | None = Field(default=None, max_length=128)
    latitude: float | None = None
    longitude: float | None = None
    reporter_id: int = Field(foreign_key="person.id", index=True)
    share_contact: bool = False
    state: str = Field(default=ReportState.NEW, max_length=16)
    task_id: int | None = None
    # The team the place names (a rest station's managing team): its tasks go there, a
    # reopened report too; None: routed by category.
    team_id: int | None = Field(default=None, foreign_key="team.id")
    # Which rung of the escalation ladder the report has reached (0: none yet).
    escalation_level: int = 0
    created_at: datetime = timestamp(default_factory=utcnow)
    respond_by: datetime | None = timestamp(default=None)
    taken_at: datetime | None = timestamp(default=None)
    done_at: datetime | None = timestamp(default=None)
    closed_at: datetime | None = timestamp(default=None)
    updated_at: datetime = timestamp(default_factory=utcnow)


class ReportPhoto(SQLModel, table=True):
    """A photo of a report, by reference on the channel it came from (before: the report; after: the fix)."""

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    stage: str = Field(default="before", max_length=8)
    channel: str = Field(max_length=16)
    ref: str = Field(max_length=256)
    added_by_id: int = Field(foreign_key="person.id")
    added_at: datetime = timestamp(default_factory=utcnow)


class ReportFollower(SQLModel, table=True):
    """Someone told about a report's progress: the reporter and those who said 'that's mine too'."""

    report_id: int = Field(foreign_key="report.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True, index=True)
    joined_at: datetime = timestamp(default_factory=utcnow)
    last_chased_at: datetime | None = timestamp(default=None)


class ReportEvent(SQLModel, table=True):
    """The history of a report: every transition, who made it and when."""

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    at: datetime = timestamp(default_factory=utcnow)
    actor_id: int | None = Field(default=None, foreign_key="person.id")
    action: str = Field(max_length=24)
    from_state: str | None = Field(default=None, max_length=16)
    to_state: str | None = Field(default=None, max_length=16)
    note: str | None = Field(default=None, max_length=500)


class CategoryRoute(SQLModel, table=True):
    """Which team takes which report category in a grid (data a manager can change)."""

    __table_args__ = (UniqueConstraint("grid_id", "category"),)
    id: int | None = Field(default=None, primary_key=True)
    grid_id: int = Field(foreign_key="grid.id")
    category: str = Field(max_length=16)
    team_id: int = Field(foreign_key="team.id")


class EscalationStep(SQLModel, table=True):
    """One rung of a community's escalation ladder: if `condition` holds `after_minutes` after the report, tell `role`."""

    __table_args__ = (UniqueConstraint("community_id", "level"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    level: int
    condition: str = Field(max_length=16)  # "untaken" or "undone"
    after_minutes: int
    role: str = Field(max_length=32)  # grid_leader or manager


class Rating(SQLModel, table=True):
    """A resident's judgement of finished help: the 居民评议 of the article."""

    __table_args__ = (UniqueConstraint("task_id", "rater_id"),)
    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    task_id: int = Field(foreign_key="task.id")
    rater_id: int = Field(foreign_key="person.id")
    volunteer_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    team_id: int | None = Field(default=None, foreign_key="team.id", index=True)
    stars: int
    fixed: bool = True
    comment: str | None = Field(default=None, max_length=500)
    voice_ref: str | None = Field(default=None, max_length=256)
    created_at: datetime = timestamp(default_factory=utcnow)
