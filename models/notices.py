"""Notices to an audience: the audience is a query, enqueued in bulk with one INSERT … SELECT."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Index,
    String,
    Text,
    and_,
    cast,
    exists,
    func,
    literal,
    not_,
    select,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.db import timestamp, utcnow
from models.errors import DomainError
from models.outbox import best_account_id, enqueue, insert_ignoring_duplicates
from models.people import Scope
from models.tables import (
    Building,
    ChannelAccount,
    Household,
    Outbox,
    OutboxStatus,
    Person,
    Role,
    RoleGrant,
)


class NoticeStatus(StrEnum):
    """A notice's life: scheduled for later, being delivered, finished, or cancelled."""

    SCHEDULED = "scheduled"
    SENDING = "sending"
    DONE = "done"
    CANCELLED = "cancelled"


class Notice(SQLModel, table=True):
    """A manager's or grid leader's notice to an audience (a query, enqueued in bulk)."""

    # The clock: scheduled notices whose time has come, notices still being delivered.
    __table_args__ = (Index("ix_notice_due", "status", "scheduled_at"),)

    id: int | None = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="community.id", index=True)
    author_id: int = Field(foreign_key="person.id")
    audience: str = Field(max_length=16)
    audience_arg: int | None = None
    category: str = Field(default="general", max_length=16)
    text: str = Field(sa_type=Text)
    photo_ref: str | None = Field(default=None, max_length=256)
    # Buttons inside the message, [label key, payload] (an event's "报名" button).
    choices: list[list[str]] = Field(
        default_factory=list,
        sa_column=Column(JSON, nullable=False, server_default=sql_text("'[]'")),
    )
    status: str = Field(default=NoticeStatus.SCHEDULED, max_length=16)
    scheduled_at: datetime = timestamp(default_factory=utcnow)
    enqueued_at: datetime | None = timestamp(default=None)
    finished_at: datetime | None = timestamp(default=None)
    cancelled_at: datetime | None = timestamp(default=None)
    recipients: int = 0
    unreachable: int = 0
    progress_reported: int = 0
    created_at: datetime = timestamp(default_factory=utcnow)


class NoticeMute(SQLModel, table=True):
    """A person does not want notices of this category (urgent safety notices still reach them)."""

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    category: str = Field(max_length=16, primary_key=True)


class Audience(StrEnum):
    """Who a notice goes to; some take an argument (a grid id, a building id)."""

    COMMUNITY = "community"
    GRID = "grid"
    BUILDING = "building"
    VOLUNTEERS = "volunteers"
    REPRESENTATIVES = "reps"
    ELDERLY = "elderly80"
    COURIERS = "couriers"


class Category(StrEnum):
    """Notice categories; residents may mute all but the urgent one."""

    GENERAL = "general"
    ACTIVITY = "activity"
    URGENT = "urgent"


MUTABLE = (Category.GENERAL, Category.ACTIVITY)
ROLE_AUDIENCES = {
    Audience.VOLUNTEERS: Role.VOLUNTEER,
    Audience.REPRESENTATIVES: Role.REPRESENTATIVE,
    Audience.COURIERS: Role.COURIER,
}
ELDERLY_AGE = 80


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


async def audience_filter(
    session: AsyncSession, scope: Scope, audience: str, arg: int | None, today: date
) -> Any:
    """The WHERE clause over Person for an audience, limited to the author's scope."""
    clauses: list[Any] = [
        col(Person.community_id) == scope.community_id,
        col(Person.verified).is_(True),
    ]
    if scope.grids is not None:
        clauses.append(col(Person.grid_id).in_(scope.grids))
    if audience == Audience.COMMUNITY:
        pass
    elif audience == Audience.GRID:
        if arg is None or (scope.grids is not None and arg not in scope.grids):
            raise DomainError("error.forbidden")
        clauses.append(col(Person.grid_id) == arg)
    elif audience == Audience.BUILDING:
        building = await session.get(Building, arg) if arg is not None else None
        if building is None or building.community_id != scope.community_id:
            raise DomainError("error.forbidden")
        if scope.grids is not None and building.grid_id not in scope.grids:
            raise DomainError("error.forbidden")
        clauses.append(
            col(Person.household_id).in_(
                select(col(Household.id)).where(col(Household.building_id) == building.id)
            )
        )
    elif audience in ROLE_AUDIENCES:
        clauses.append(
            exists().where(
                col(RoleGrant.person_id) == Person.id,
                col(RoleGrant.role) == ROLE_AUDIENCES[Audience(audience)],
                col(RoleGrant.revoked_at).is_(None),
            )
        )
    elif audience == Audience.ELDERLY:
        clauses.append(col(Person.birth_date) <= _years_before(today, ELDERLY_AGE))
    else:
        raise DomainError("error.forbidden")
    return and_(*clauses)


def _not_muted(category: str) -> Any:
    if category == Category.URGENT:
        return literal(True)
    return not_(
        exists().where(col(NoticeMute.person_id) == Person.id, col(NoticeMute.category) == category)
    )


@dataclass(frozen=True)
class Reach:
    """How many people an audience has, and how many of them no chat app reaches."""

    people: int
    reachable: int

    @property
    def unreachable(self) -> int:
        return self.people - self.reachable


async def count_audience(
    session: AsyncSession, scope: Scope, audience: str, arg: int | None, category: str, today: date
) -> Reach:
    """The preview numbers: people in the audience (not muting this category), and reachable ones."""
    where = and_(await audience_filter(session, scope, audience, arg, today), _not_muted(category))
    people = (
        await session.execute(select(func.count()).select_from(Person).where(where))
    ).scalar_one()
    reachable = (
        await session.execute(
            select(func.count()).select_from(Person).where(where, best_account_id().is_not(None))
        )
    ).scalar_one()
    return Reach(int(people), int(reachable))


async def create_notice(
    session: AsyncSession,
    author: Person,
    roles: frozenset[tuple[str, int | None]],
    *,
    audience: str,
    arg: int | None,
    category: str,
    text: str,
    now: datetime,
    scheduled_at: datetime | None = None,
    photo_ref: str | None = None,
    choices: list[list[str]] | None = None,
) -> Notice:
    """A notice, enqueued now or scheduled; the author's scope is checked here, not in the chat."""
    scope = Scope.of(author.community_id, roles)
    await audience_filter(session, scope, audience, arg, now.date())  # validates the audience
    if category not in {c.value for c in Category}:
        raise DomainError("notice.bad_category")
    text = text.strip()
    if not text:
        raise DomainError("notice.empty")
    if len(text) > 3500:
        raise DomainError("notice.too_long")
    if scheduled_at is not None and scheduled_at <= now:
        raise DomainError("notice.past")
    notice = Notice(
        community_id=author.community_id,
        author_id=author.id,  # type: ignore[arg-type]
        audience=audience,
        audience_arg=arg,
        category=category,
        text=text,
        photo_ref=photo_ref,
        choices=choices or [],
        status=NoticeStatus.SCHEDULED,
        scheduled_at=scheduled_at or now,
        created_at=now,
    )
    session.add(notice)
    await session.flush()
    if scheduled_at is None:
        await enqueue_notice(session, notice, now)
    return notice


async def enqueue_notice(session: AsyncSession, notice: Notice, now: datetime) -> int:
    """Turn a notice into one outbox row per reachable person, in a single INSERT … SELECT."""
    scope = await _author_scope(session, notice)
    where = and_(
        await audience_filter(session, scope, notice.audience, notice.audience_arg, now.date()),
        _not_muted(notice.category),
    )
    account = best_account_id()
    priority = 0 if notice.category == Category.URGENT else 5
    rows = (
        select(
            literal(f"notice:{notice.id}:") + cast(col(Person.id), String),
            col(ChannelAccount.channel),
            col(ChannelAccount.chat_id),
            col(ChannelAccount.id),
            col(Person.id),
            literal(notice.id),
            literal("notice"),
            func.coalesce(col(Person.locale), "zh"),
            literal(notice.text),
            literal(notice.photo_ref, type_=String),
            literal(notice.choices or [], type_=Outbox.__table__.c.choices.type),  # type: ignore[attr-defined]
            literal(priority),
            literal(OutboxStatus.PENDING.value),
            literal(0),
            literal(now, type_=Outbox.__table__.c.not_before.type),  # type: ignore[attr-defined]
            literal(now, type_=Outbox.__table__.c.created_at.type),  # type: ignore[attr-defined]
        )
        .select_from(Person)
        .join(ChannelAccount, col(ChannelAccount.id) == account)
        .where(where)
    )
    columns = [
        "dedupe_key", "channel", "chat_id", "account_id", "person_id", "notice_id", "kind", "locale",
        "text", "photo_ref", "choices", "priority", "status", "attempts", "not_before",
        "created_at",
    ]  # fmt: skip
    stmt = (
        insert_ignoring_duplicates(session, Outbox)
        .from_select(columns, rows)
        .on_conflict_do_nothing()
    )
    result = await session.execute(stmt)
    people = (
        await session.execute(select(func.count()).select_from(Person).where(where))
    ).scalar_one()
    notice.status = NoticeStatus.SENDING
    notice.enqueued_at = now
    notice.recipients = int(result.rowcount)  # type: ignore[attr-defined]
    notice.unreachable = int(people) - notice.recipients
    return notice.recipients


async def _author_scope(session: AsyncSession, notice: Notice) -> Scope:
    """Where the notice's author may send (their roles now)."""
    roles = frozenset(
        (r, g)
        for r, g in (
            await session.execute(
                select(col(RoleGrant.role), col(RoleGrant.grid_id)).where(
                    col(RoleGrant.person_id) == notice.author_id,
                    col(RoleGrant.revoked_at).is_(None),
                )
            )
        ).all()
    )
    return Scope.of(notice.community_id, roles)


@dataclass(frozen=True)
class Missed:
    """Someone a notice did not reach, and why (a text key, and the platform's words if any)."""

    person_id: int | None
    name: str
    reason: str
    detail: str | None


async def missed(
    session: AsyncSession,
    notice_id: int,
    actor: Person,
    roles: frozenset[tuple[str, int | None]],
    limit: int = 30,
) -> list[Missed]:
    """Who a notice could not reach: failed or blocked sends, and people of its audience with
    no chat account (as the register stands now), so staff can reach them another way."""
    notice = await session.get(Notice, notice_id)
    if notice is None or not _may_manage(notice, actor, roles):
        raise DomainError("error.forbidden")
    out: list[Missed] = []
    failed = (
        await session.execute(
            select(col(Person.id), col(Person.name), col(Outbox.status), col(Outbox.last_error))
            .join(Person, col(Person.id) == col(Outbox.person_id))
            .where(
                col(Outbox.notice_id) == notice_id,
                col(Outbox.status).in_((OutboxStatus.DEAD, OutboxStatus.BLOCKED)),
            )
            .order_by(col(Person.id))
            .limit(limit)
        )
    ).all()
    for pid, name, status, error in failed:
        reason = "notice.why_blocked" if status == OutboxStatus.BLOCKED else "notice.why_failed"
        out.append(Missed(pid, name, reason, error))
    if notice.enqueued_at is None:
        return out
    scope = await _author_scope(session, notice)
    where = and_(
        await audience_filter(
            session, scope, notice.audience, notice.audience_arg, notice.enqueued_at.date()
        ),
        _not_muted(notice.category),
        not_(
            exists().where(col(Outbox.notice_id) == notice_id, col(Outbox.person_id) == Person.id)
        ),
    )
    unreached = (
        await session.execute(
            select(col(Person.id), col(Person.name))
            .where(where)
            .order_by(col(Person.id))
            .limit(max(0, limit - len(out)))
        )
    ).all()
    out += [Missed(pid, name, "notice.why_no_account", None) for pid, name in unreached]
    return out


def _may_manage(notice: Notice, actor: Person, roles: frozenset[tuple[str, int | None]]) -> bool:
    manager = any(r == Role.MANAGER for r, _ in roles) and actor.community_id == notice.community_id
    return manager or notice.author_id == actor.id


async def cancel_notice(
    session: AsyncSession,
    notice_id: int,
    actor: Person,
    roles: frozenset[tuple[str, int | None]],
    now: datetime,
) -> tuple[Notice, int]:
    """Stop a scheduled or running notice: rows not yet handed to a worker are cancelled."""
    notice = await session.get(Notice, notice_id)
    if notice is None or not _may_manage(notice, actor, roles):
        raise DomainError("error.forbidden")
    if notice.status in (NoticeStatus.DONE, NoticeStatus.CANCELLED):
        raise DomainError("notice.already_finished")
    result = await session.execute(
        update(Outbox)
        .where(col(Outbox.notice_id) == notice.id, col(Outbox.status) == OutboxStatus.PENDING)
        .values(status=OutboxStatus.CANCELLED)
    )
    notice.status = NoticeStatus.CANCELLED
    notice.cancelled_at = now
    return notice, int(result.rowcount)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Report:
    """A notice's delivery numbers."""

    notice: Notice
    sent: int
    failed: int
    blocked: int
    pending: int
    cancelled: int

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.blocked + self.cancelled

    @property
    def percent(self) -> int:
        total = self.notice.recipients
        return 100 if total == 0 else min(100, self.done * 100 // total)


async def notice_report(
    session: AsyncSession,
    notice_id: int,
    actor: Person | None = None,
    roles: frozenset[tuple[str, int | None]] = frozenset(),
) -> Report:
    """Counts by state for one notice (when `actor` is given, only the author or a manager may see)."""
    notice = await session.get(Notice, notice_id)
    if notice is None or (actor is not None and not _may_manage(notice, actor, roles)):
        raise DomainError("error.forbidden")
    counts: dict[str, int] = dict(
        (
            await session.execute(
                select(col(Outbox.status), func.count())
                .where(col(Outbox.notice_id) == notice_id)
                .group_by(col(Outbox.status))
            )
        ).all()
    )
    return Report(
        notice=notice,
        sent=counts.get(OutboxStatus.SENT, 0),
        failed=counts.get(OutboxStatus.DEAD, 0),
        blocked=counts.get(OutboxStatus.BLOCKED, 0),
        pending=counts.get(OutboxStatus.PENDING, 0) + counts.get(OutboxStatus.SENDING, 0),
        cancelled=counts.get(OutboxStatus.CANCELLED, 0),
    )


async def recent_notices(
    session: AsyncSession, actor: Person, roles: frozenset[tuple[str, int | None]], limit: int = 5
) -> list[Notice]:
    """The latest notices the actor may follow (their own; a manager: the community's)."""
    query = select(Notice).where(col(Notice.community_id) == actor.community_id)
    if not any(r == Role.MANAGER for r, _ in roles):
        query = query.where(col(Notice.author_id) == actor.id)
    return list(
        (await session.execute(query.order_by(col(Notice.id).desc()).limit(limit))).scalars()
    )


async def start_due_notices(session: AsyncSession, now: datetime, limit: int = 20) -> list[int]:
    """Clock job: enqueue scheduled notices whose time has come (each once)."""
    query = (
        select(Notice)
        .where(col(Notice.status) == NoticeStatus.SCHEDULED, col(Notice.scheduled_at) <= now)
        .order_by(col(Notice.scheduled_at))
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    started = []
    for notice in (await session.execute(query)).scalars():
        await enqueue_notice(session, notice, now)
        started.append(notice.id)
    return [i for i in started if i is not None]


PROGRESS_STEPS = (25, 50, 75)


async def report_progress(session: AsyncSession, now: datetime) -> int:
    """Clock job: tell authors how their running notices are doing (25/50/75 %), and when done."""
    told = 0
    running = (
        (await session.execute(select(Notice).where(col(Notice.status) == NoticeStatus.SENDING)))
        .scalars()
        .all()
    )
    for notice in running:
        report = await notice_report(session, notice.id)  # type: ignore[arg-type]
        values = {
            "id": notice.id, "sent": report.sent, "failed": report.failed, "blocked": report.blocked,
            "pending": report.pending, "total": notice.recipients, "unreachable": notice.unreachable,
            "percent": report.percent,
        }  # fmt: skip
        if report.pending == 0:
            notice.status = NoticeStatus.DONE
            notice.finished_at = now
            key, dedupe = "notice.report_done", f"notice:{notice.id}:done"
        else:
            step = max((s for s in PROGRESS_STEPS if report.percent >= s), default=0)
            if step <= notice.progress_reported:
                continue
            notice.progress_reported = step
            key, dedupe = "notice.report_progress", f"notice:{notice.id}:progress:{step}"
        told += await enqueue(
            session, person_id=notice.author_id, kind="report", dedupe_key=dedupe, now=now,
            text_key=key, values=values, priority=0,
        )  # fmt: skip
    return told


async def muted_categories(session: AsyncSession, person_id: int) -> set[str]:
    """The categories a person has muted."""
    rows = await session.execute(
        select(col(NoticeMute.category)).where(col(NoticeMute.person_id) == person_id)
    )
    return set(rows.scalars())


async def toggle_mute(session: AsyncSession, person_id: int, category: str) -> bool:
    """Mute or unmute a category; returns True when it is now muted. Urgent notices cannot be muted."""
    if category not in {c.value for c in MUTABLE}:
        raise DomainError("mute.not_allowed")
    existing = await session.get(NoticeMute, (person_id, category))
    if existing is not None:
        await session.delete(existing)
        return False
    session.add(NoticeMute(person_id=person_id, category=category))
    return True
