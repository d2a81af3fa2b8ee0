"""The tables of tasks: the task, whom it was offered to, and the hours credited for it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from models.db import timestamp, utcnow
from models.tables import TaskKind

__all__ = ["Task", "TaskKind", "TaskOffer", "TaskState", "VolunteerHours"]


class TaskState(StrEnum):
    """A task waits for someone, is held by someone, is finished, or was withdrawn."""

    OPEN = "open"
    TAKEN = "taken"
    DONE = "done"
    CANCELLED = "cancelled"


class Task(SQLModel, table=True):
    """Work for a volunteer or a grid leader, pushed through the outbox; taken by exactly one."""

    __table_args__ = (
        Index("ix_task_grid_state", "grid_id", "state", "created_at"),
        # The hours credit: finished tasks whose hours are not counted yet.
        Index("ix_task_uncredited", "state", "hours_credited_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id")
    grid_id: int = Field(foreign_key="grid.id")
    kind: str = Field(max_length=16)
    report_id: int | None = Field(default=None, foreign_key="report.id", index=True)
    subject_person_id: int | None = Field(default=None, foreign_key="person.id")
    team_id: int | None = Field(default=None, foreign_key="team.id")
    title: str = Field(max_length=128)
    detail: str = Field(default="", sa_type=Text)
    state: str = Field(default=TaskState.OPEN, max_length=16)
    assignee_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    assigned_by_id: int | None = Field(default=None, foreign_key="person.id")
    dedupe_key: str | None = Field(default=None, max_length=160, unique=True)
    action_label_key: str | None = Field(default=None, max_length=64)
    action_payload: str | None = Field(default=None, max_length=64)
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = timestamp(default_factory=utcnow)
    due_at: datetime | None = timestamp(default=None)
    taken_at: datetime | None = timestamp(default=None)
    done_at: datetime | None = timestamp(default=None)
    minutes_claimed: int | None = None
    hours_credited_at: datetime | None = timestamp(default=None)
    note: str | None = Field(default=None, max_length=500)


class TaskOffer(SQLModel, table=True):
    """A task pushed to a person; a decline is recorded here."""

    task_id: int = Field(foreign_key="task.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True, index=True)
    offered_at: datetime = timestamp(default_factory=utcnow)
    declined_at: datetime | None = timestamp(default=None)


class VolunteerHours(SQLModel, table=True):
    """Time credited to a volunteer for a finished task, once."""

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", unique=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    minutes: int
    credited_at: datetime = timestamp(default_factory=utcnow)
