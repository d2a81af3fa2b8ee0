"""The foundation tables: places, people, accounts, roles, invitations, flow state, inbox."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlmodel import Field, SQLModel

from models.db import UTCDateTime, utcnow


def _ts(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


class Role(StrEnum):
    """Roles a person can be granted; 'resident' is implied by a verified household."""

    RESIDENT = "resident"
    REPRESENTATIVE = "representative"
    VOLUNTEER = "volunteer"
    GRID_LEADER = "grid_leader"
    MANAGER = "manager"
    COURIER = "courier"


class Street(SQLModel, table=True):
    """街道: a street office."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)


class Community(SQLModel, table=True):
    """社区: the unit the bot serves."""

    id: int | None = Field(default=None, primary_key=True)
    street_id: int = Field(foreign_key="street.id", index=True)
    name: str = Field(max_length=64)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    # Where the community is: reports located farther than radius_m from here are refused.
    latitude: float | None = None
    longitude: float | None = None
    radius_m: int = Field(default=2000, sa_column_kwargs={"server_default": "2000"})


class Grid(SQLModel, table=True):
    """网格: owns residents, reports and volunteers."""

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    name: str = Field(max_length=64)


class Building(SQLModel, table=True):
    """A building (幢) of an estate (小区); each belongs to one grid."""

    __table_args__ = (UniqueConstraint("community_id", "estate", "number"),)
    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    grid_id: int = Field(foreign_key="grid.id", index=True)
    estate: str = Field(max_length=64)
    number: str = Field(max_length=16)
    latitude: float | None = None
    longitude: float | None = None


class Household(SQLModel, table=True):
    """户: an address in a building."""

    __table_args__ = (UniqueConstraint("building_id", "unit", "room"),)
    id: int | None = Field(default=None, primary_key=True)
    grid_id: int = Field(foreign_key="grid.id", index=True)
    building_id: int = Field(foreign_key="building.id", index=True)
    unit: str = Field(max_length=16)
    room: str = Field(max_length=16)


class Person(SQLModel, table=True):
    """A person in the register (居民底册), whether or not they use a chat app."""

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    grid_id: int | None = Field(default=None, foreign_key="grid.id", index=True)
    household_id: int | None = Field(default=None, foreign_key="household.id", index=True)
    name: str = Field(max_length=64)
    phone: str | None = Field(default=None, max_length=20)
    birth_date: date | None = None
    locale: str = Field(default="zh", max_length=8)
    verified: bool = Field(default=False)
    verified_by_id: int | None = Field(default=None, foreign_key="person.id")
    verified_at: datetime | None = _ts(default=None)
    created_at: datetime = _ts(default_factory=utcnow)


class ChannelAccount(SQLModel, table=True):
    """One person's address on one channel (a Telegram user, a WeChat openid, a console seat)."""

    __table_args__ = (UniqueConstraint("channel", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    external_id: str = Field(max_length=128)
    chat_id: str = Field(max_length=128)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    display_name: str | None = Field(default=None, max_length=128)
    locale: str | None = Field(default=None, max_length=8)
    created_at: datetime = _ts(default_factory=utcnow)
    last_seen_at: datetime = _ts(default_factory=utcnow)
    blocked_at: datetime | None = _ts(default=None)


class RoleGrant(SQLModel, table=True):
    """An audited grant of a role, scoped to a community and optionally a grid."""

    __table_args__ = (Index("ix_rolegrant_person_active", "person_id", "revoked_at"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    role: str = Field(max_length=32)
    community_id: int = Field(foreign_key="community.id")
    grid_id: int | None = Field(default=None, foreign_key="grid.id")
    granted_by_id: int | None = Field(default=None, foreign_key="person.id")
    granted_at: datetime = _ts(default_factory=utcnow)
    reason: str | None = Field(default=None, max_length=128)
    revoked_at: datetime | None = _ts(default=None)
    revoked_by_id: int | None = Field(default=None, foreign_key="person.id")


class Team(SQLModel, table=True):
    """A volunteer team (红管家 steward team, a partner unit's team)."""

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    grid_id: int | None = Field(default=None, foreign_key="grid.id")
    name: str = Field(max_length=64)


class TeamMember(SQLModel, table=True):
    """Membership of a person in a team."""

    team_id: int = Field(foreign_key="team.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    # Report categories this member takes; empty means all of the team's.
    skills: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=sql_text("'[]'")),
    )


class Invitation(SQLModel, table=True):
    """An invitation code for a grid or a role; may name a person already in the register."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=16, unique=True)
    community_id: int = Field(foreign_key="community.id")
    grid_id: int | None = Field(default=None, foreign_key="grid.id")
    role: str = Field(default=Role.RESIDENT, max_length=32)
    person_id: int | None = Field(default=None, foreign_key="person.id")
    created_by_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = _ts(default_factory=utcnow)
    expires_at: datetime = _ts()
    max_uses: int = 1
    uses: int = 0


class Conversation(SQLModel, table=True):
    """Flow state of one chat: which flow, which step, what was said, which choices are open."""

    channel: str = Field(max_length=16, primary_key=True)
    chat_id: str = Field(max_length=128, primary_key=True)
    flow: str | None = Field(default=None, max_length=32)
    step: str | None = Field(default=None, max_length=32)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    choices: list[list[str]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    expires_at: datetime | None = _ts(default=None)
    updated_at: datetime = _ts(default_factory=utcnow)


class ProcessedUpdate(SQLModel, table=True):
    """Inbox dedupe: an update key seen once is never handled again."""

    channel: str = Field(max_length=16, primary_key=True)
    key: str = Field(max_length=128, primary_key=True)
    processed_at: datetime = _ts(default_factory=utcnow, index=True)


class OutboxStatus(StrEnum):
    """Where an outbound message is: waiting, claimed by a worker, or finished one way or another."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"
    BLOCKED = "blocked"
    CANCELLED = "cancelled"
    HELD = "held"  # outside WeChat's 48-hour window: given when the person next writes


class Outbox(SQLModel, table=True):
    """One message to send unasked, enqueued in the same transaction as the change it reports."""

    __table_args__ = (Index("ix_outbox_due", "status", "priority", "id"),)
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=160, unique=True)
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=128)
    account_id: int | None = Field(default=None, foreign_key="channelaccount.id")
    person_id: int | None = Field(default=None, foreign_key="person.id")
    notice_id: int | None = Field(default=None, foreign_key="notice.id", index=True)
    kind: str = Field(max_length=16)
    locale: str = Field(default="zh", max_length=8)
    # Either final text (a manager's notice) or a catalog key rendered at send time.
    text: str | None = Field(default=None, sa_type=Text)
    text_key: str | None = Field(default=None, max_length=64)
    values: dict[str, Any] = Field(
        default_factory=dict,
        sa_column=Column(JSON, nullable=False, server_default=sql_text("'{}'")),
    )
    # Buttons as [label key, payload] pairs.
    choices: list[list[str]] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=sql_text("'[]'")),
    )
    photo_ref: str | None = Field(default=None, max_length=256)
    # Lower goes first: a reply-like push (a reminder, a progress line) overtakes a broadcast.
    priority: int = 5
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    not_before: datetime = _ts(default_factory=utcnow)
    lease_until: datetime | None = _ts(default=None)
    sent_at: datetime | None = _ts(default=None)
    last_error: str | None = Field(default=None, max_length=256)
    created_at: datetime = _ts(default_factory=utcnow)


class NoticeStatus(StrEnum):
    """A notice's life: scheduled for later, being delivered, finished, or cancelled."""

    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class Notice(SQLModel, table=True):
    """A manager's or grid leader's notice to an audience (a query, enqueued in bulk)."""

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    author_id: int = Field(foreign_key="person.id")
    audience: str = Field(max_length=16)
    audience_arg: int | None = None
    category: str = Field(default="general", max_length=16)
    text: str = Field(sa_type=Text)
    photo_ref: str | None = Field(default=None, max_length=256)
    status: str = Field(default=NoticeStatus.SCHEDULED, max_length=16)
    scheduled_at: datetime = _ts(default_factory=utcnow)
    enqueued_at: datetime | None = _ts(default=None)
    finished_at: datetime | None = _ts(default=None)
    cancelled_at: datetime | None = _ts(default=None)
    recipients: int = 0
    unreachable: int = 0
    progress_reported: int = 0
    created_at: datetime = _ts(default_factory=utcnow)


class NoticeMute(SQLModel, table=True):
    """A person does not want notices of this category (urgent safety notices still reach them)."""

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    category: str = Field(max_length=16, primary_key=True)


class ReminderStatus(StrEnum):
    """A reminder waits, was turned into a message, or was skipped because it was too late."""

    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"


class Reminder(SQLModel, table=True):
    """A message due at a time; the clock turns it into an outbox row once."""

    __table_args__ = (Index("ix_reminder_due", "status", "due_at"),)
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=160, unique=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    due_at: datetime = _ts()
    text: str = Field(sa_type=Text)
    grace_seconds: int = 3600
    status: str = Field(default=ReminderStatus.PENDING, max_length=16)
    handled_at: datetime | None = _ts(default=None)
    late_seconds: int | None = None
    created_at: datetime = _ts(default_factory=utcnow)


# --- Problem reports, tasks, ratings, volunteer hours ---------------------------------------


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

    __table_args__ = (Index("ix_report_open", "community_id", "state", "created_at"),)
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
    # Which rung of the escalation ladder the report has reached (0: none yet).
    escalation_level: int = 0
    created_at: datetime = _ts(default_factory=utcnow)
    respond_by: datetime | None = _ts(default=None)
    taken_at: datetime | None = _ts(default=None)
    done_at: datetime | None = _ts(default=None)
    closed_at: datetime | None = _ts(default=None)
    updated_at: datetime = _ts(default_factory=utcnow)


class ReportPhoto(SQLModel, table=True):
    """A photo of a report, by reference on the channel it came from (before: the report; after: the fix)."""

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    stage: str = Field(default="before", max_length=8)
    channel: str = Field(max_length=16)
    ref: str = Field(max_length=256)
    added_by_id: int = Field(foreign_key="person.id")
    added_at: datetime = _ts(default_factory=utcnow)


class ReportFollower(SQLModel, table=True):
    """Someone told about a report's progress: the reporter and those who said 'that's mine too'."""

    report_id: int = Field(foreign_key="report.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True, index=True)
    joined_at: datetime = _ts(default_factory=utcnow)
    last_chased_at: datetime | None = _ts(default=None)


class ReportEvent(SQLModel, table=True):
    """The history of a report: every transition, who made it and when."""

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    at: datetime = _ts(default_factory=utcnow)
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


class TaskKind(StrEnum):
    """What a task is for: a report, a home visit (benefits outreach), duty at an event."""

    REPORT = "report"
    HOME_VISIT = "home_visit"
    EVENT_DUTY = "event_duty"


class TaskState(StrEnum):
    """A task waits for someone, is held by someone, is finished, or was withdrawn."""

    OPEN = "open"
    TAKEN = "taken"
    DONE = "done"
    CANCELLED = "cancelled"


class Task(SQLModel, table=True):
    """Work for a volunteer or a grid leader, pushed through the outbox; taken by exactly one."""

    __table_args__ = (Index("ix_task_grid_state", "grid_id", "state", "created_at"),)
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
    created_at: datetime = _ts(default_factory=utcnow)
    due_at: datetime | None = _ts(default=None)
    taken_at: datetime | None = _ts(default=None)
    done_at: datetime | None = _ts(default=None)
    minutes_claimed: int | None = None
    hours_credited_at: datetime | None = _ts(default=None)
    note: str | None = Field(default=None, max_length=500)


class TaskOffer(SQLModel, table=True):
    """A task pushed to a person; a decline is recorded here."""

    task_id: int = Field(foreign_key="task.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True, index=True)
    offered_at: datetime = _ts(default_factory=utcnow)
    declined_at: datetime | None = _ts(default=None)


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
    created_at: datetime = _ts(default_factory=utcnow)


class VolunteerHours(SQLModel, table=True):
    """Time credited to a volunteer for a finished task, once."""

    id: int | None = Field(default=None, primary_key=True)
    task_id: int = Field(foreign_key="task.id", unique=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    minutes: int
    credited_at: datetime = _ts(default_factory=utcnow)
