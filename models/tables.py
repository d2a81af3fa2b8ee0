"""The foundation tables: places, people, accounts, roles, invitations, flow state, inbox."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlmodel import Field, SQLModel

from models.db import timestamp, utcnow

_ts = timestamp


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

    __table_args__ = (
        Index("ix_rolegrant_person_active", "person_id", "revoked_at"),
        # Who holds a role in a community (the escalation ladder, role audiences).
        Index("ix_rolegrant_role", "role", "community_id"),
    )
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
    # One line shown to a volunteer choosing a team ("清理楼道杂物、环境卫生").
    description: str = Field(default="", max_length=120, sa_column_kwargs={"server_default": ""})
    # New members wait for a team leader's (or a manager's) approval before tasks reach them.
    needs_approval: bool = Field(
        default=False, sa_column_kwargs={"server_default": sql_text("false")}
    )


class TeamMember(SQLModel, table=True):
    """Membership of a person in a team; only approved, active, unpaused members get pushes."""

    team_id: int = Field(foreign_key="team.id", primary_key=True)
    person_id: int = Field(foreign_key="person.id", primary_key=True, index=True)
    # Report categories this member takes; empty means all of the team's.
    skills: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=sql_text("'[]'")),
    )
    # 队长: may add, remove, approve and deactivate members of this team.
    is_leader: bool = Field(default=False, sa_column_kwargs={"server_default": sql_text("false")})
    approved: bool = Field(default=True, sa_column_kwargs={"server_default": sql_text("true")})
    # A team leader or manager marked the member inactive (moved away, ill): no pushes.
    active: bool = Field(default=True, sa_column_kwargs={"server_default": sql_text("true")})
    # 暂停接单: no pushes before this moment (the start of a day, community time).
    paused_until: datetime | None = _ts(default=None)
    # Quiet hours, community time, as hours 0-23 (from 22 to 7 wraps midnight); pushes wait.
    quiet_from: int | None = None
    quiet_to: int | None = None


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
    # A volunteer invitation may name a team (joining makes the person a member) and skills.
    team_id: int | None = Field(default=None, foreign_key="team.id")
    skills: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=sql_text("'[]'")),
    )


class Conversation(SQLModel, table=True):
    """Flow state of one chat: which flow, which step, what was said, which choices are open."""

    # Housekeeping ends the flows whose time ran out.
    __table_args__ = (Index("ix_conversation_expires_at", "expires_at"),)

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

    __table_args__ = (
        Index("ix_outbox_due", "status", "priority", "id"),
        # Housekeeping deletes finished rows past the retention, oldest first.
        Index("ix_outbox_created_at", "created_at"),
        # Messages held for an account (WeChat's window), looked up on every message: only
        # held rows are in it, so it costs nothing to the millions of others.
        Index(
            "ix_outbox_held_account",
            "account_id",
            sqlite_where=sql_text("status = 'held'"),
            postgresql_where=sql_text("status = 'held'"),
        ),
    )
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


# The task kinds known today (a kind is a string column; each registers its hooks with
# models.tasks.register_task_kind). Kept here, not in models/tasks/, while models/benefits.py
# (being split on another branch) imports it from here.
class TaskKind(StrEnum):
    """What a task is for: a report, a home visit (benefits outreach), duty at an event."""

    REPORT = "report"
    HOME_VISIT = "home_visit"
    EVENT_DUTY = "event_duty"
