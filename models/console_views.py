"""What the staff desk shows: the dashboard's numbers, the case list and one case, the audit log.

Every query is confined to what the viewer may see: a manager their community, a grid leader
their grids, a team leader the cases whose task is their team's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.benefits import ApplicationStatus, BenefitApplication, BenefitEvent
from models.console import Viewer, sign_ins
from models.events import Event
from models.notices import Notice, notice_report, recent_notices
from models.people import community_zone
from models.register import RegisterImport
from models.reports import (
    ACTIVE,
    STATE_GROUPS,
    Report,
    ReportEvent,
    ReportPhoto,
    place_label,
)
from models.signups import Slot
from models.tables import Grid, Person, RoleGrant
from models.tasks import Task, VolunteerHours, oversees

AGE_BUCKETS = (("lt1", 1), ("d1_3", 3), ("d3_7", 7), ("ge7", None))
MAX_CASES = 200


def _report_scope(viewer: Viewer) -> ColumnElement[bool]:
    """The SQL condition of the reports this viewer may see."""
    conditions = []
    if viewer.scope is not None:
        grids = viewer.scope.grids
        conditions.append(
            col(Report.community_id) == viewer.community_id
            if grids is None
            else col(Report.grid_id).in_(grids)
        )
    if viewer.teams:
        conditions.append(
            col(Report.task_id).in_(select(col(Task.id)).where(col(Task.team_id).in_(viewer.teams)))
        )
    return and_(
        col(Report.community_id) == viewer.community_id, or_(*conditions) if conditions else false()
    )


async def visible_grids(session: AsyncSession, viewer: Viewer) -> list[Grid]:
    """The grids the viewer oversees (none for a team leader only)."""
    if viewer.scope is None:
        return []
    query = select(Grid).where(col(Grid.community_id) == viewer.community_id)
    if viewer.scope.grids is not None:
        query = query.where(col(Grid.id).in_(viewer.scope.grids))
    return list((await session.execute(query.order_by(col(Grid.id)))).scalars())


@dataclass
class Dashboard:
    """The numbers on the first page."""

    grids: dict[int, str]
    open_by_grid: dict[int, dict[str, int]]  # grid → age bucket → count
    breaches: dict[int, int]  # ladder rung → count of active cases past it
    applications_waiting: int | None  # None: the viewer reviews nothing
    applications_more_info: int | None
    events: list[tuple[Event, Slot]]
    bookings: tuple[int, int]  # service sessions this week, places booked
    notices: list[tuple[Notice, int, int, int]]  # notice, sent, not reached, pending
    hours_by_grid: dict[int, int] = field(default_factory=dict)  # minutes this month


def week_bounds(now: datetime, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Monday 00:00 to the next Monday, in the community's time, as UTC."""
    local = now.astimezone(zone)
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return monday, monday + timedelta(days=7)


def month_start(now: datetime, zone: ZoneInfo) -> datetime:
    """The first of this month, 00:00, community time."""
    return now.astimezone(zone).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def age_bucket(created: datetime, now: datetime) -> str:
    """Which age column a case counts in."""
    days = (now - created).total_seconds() / 86400
    for name, limit in AGE_BUCKETS:
        if limit is None or days < limit:
            return name
    raise AssertionError("unreachable")


async def dashboard(session: AsyncSession, viewer: Viewer, now: datetime) -> Dashboard:
    """The dashboard's numbers, within what the viewer may see."""
    zone = await community_zone(session, viewer.community_id)
    grids = {g.id: g.name for g in await visible_grids(session, viewer) if g.id is not None}
    rows = await session.execute(
        select(col(Report.grid_id), col(Report.created_at), col(Report.escalation_level)).where(
            _report_scope(viewer), col(Report.state).in_(ACTIVE)
        )
    )
    open_by_grid: dict[int, dict[str, int]] = {}
    breaches: dict[int, int] = {}
    for grid_id, created, level in rows.all():
        counts = open_by_grid.setdefault(grid_id, {name: 0 for name, _ in AGE_BUCKETS})
        counts[age_bucket(created, now)] += 1
        if level:
            breaches[level] = breaches.get(level, 0) + 1
    for gid, name in (await _grid_names(session, list(open_by_grid))).items():
        grids.setdefault(gid, name)
    waiting = more = None
    if viewer.is_manager:
        counts = dict(
            (
                await session.execute(
                    select(col(BenefitApplication.status), func.count())
                    .where(col(BenefitApplication.community_id) == viewer.community_id)
                    .group_by(col(BenefitApplication.status))
                )
            ).all()
        )
        waiting = counts.get(ApplicationStatus.SUBMITTED, 0) + counts.get(
            ApplicationStatus.UNDER_REVIEW, 0
        )
        more = counts.get(ApplicationStatus.MORE_INFO, 0)
    start, end = week_bounds(now, zone)
    events = await week_events(session, viewer, start, end)
    booked = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(col(Slot.held)), 0)).where(
                col(Slot.community_id) == viewer.community_id,
                col(Slot.kind) == "service",
                col(Slot.starts_at) >= start,
                col(Slot.starts_at) < end,
            )
        )
    ).one()
    notices = []
    if viewer.scope is not None:
        for notice in await recent_notices(session, viewer.person, viewer.roles, limit=5):
            assert notice.id is not None
            report = await notice_report(session, notice.id)
            notices.append(
                (
                    notice,
                    report.sent,
                    report.failed + report.blocked + notice.unreachable,
                    report.pending,
                )
            )
    hours = (
        await session.execute(
            select(col(Task.grid_id), func.sum(col(VolunteerHours.minutes)))
            .join(Task, col(Task.id) == col(VolunteerHours.task_id))
            .where(
                col(Task.community_id) == viewer.community_id,
                col(VolunteerHours.credited_at) >= month_start(now, zone),
                *(
                    [col(Task.grid_id).in_(viewer.scope.grids)]
                    if viewer.scope is not None and viewer.scope.grids is not None
                    else [col(Task.team_id).in_(viewer.teams)]
                    if viewer.scope is None
                    else []
                ),
            )
            .group_by(col(Task.grid_id))
        )
    ).all()
    hours_by_grid = {int(g): int(m or 0) for g, m in hours}
    for gid, name in (await _grid_names(session, list(hours_by_grid))).items():
        grids.setdefault(gid, name)
    return Dashboard(
        grids=grids,
        open_by_grid=open_by_grid,
        breaches=breaches,
        applications_waiting=waiting,
        applications_more_info=more,
        events=events,
        bookings=(int(booked[0]), int(booked[1])),
        notices=notices,
        hours_by_grid=hours_by_grid,
    )


async def _grid_names(session: AsyncSession, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(col(Grid.id), col(Grid.name)).where(col(Grid.id).in_(ids)))
    return {int(i): n for i, n in rows.all()}


async def week_events(
    session: AsyncSession, viewer: Viewer, start: datetime, end: datetime | None
) -> list[tuple[Event, Slot]]:
    """Events (not cancelled) starting in [start, end), for the viewer's grids or everyone."""
    query = (
        select(Event, Slot)
        .join(Slot, col(Slot.id) == col(Event.slot_id))
        .where(
            col(Event.community_id) == viewer.community_id,
            col(Event.cancelled_at).is_(None),
            col(Slot.starts_at) >= start,
        )
        .order_by(col(Slot.starts_at))
        .limit(100)
    )
    if end is not None:
        query = query.where(col(Slot.starts_at) < end)
    if viewer.scope is not None and viewer.scope.grids is not None:
        query = query.where(
            or_(col(Event.grid_id).is_(None), col(Event.grid_id).in_(viewer.scope.grids))
        )
    return [(e, s) for e, s in (await session.execute(query)).all()]


@dataclass(frozen=True)
class CaseFilters:
    """The case list's filters (all optional)."""

    group: str | None = None  # open / in_progress / done / closed
    grid_id: int | None = None
    category: str | None = None
    older_than_days: int | None = None


@dataclass(frozen=True)
class CaseRow:
    """One line of the case list."""

    report: Report
    place: str
    holder: str | None
    grid: str


async def case_list(
    session: AsyncSession, viewer: Viewer, filters: CaseFilters, now: datetime
) -> list[CaseRow]:
    """The cases the viewer may see, oldest first, by the filters."""
    query = select(Report).where(_report_scope(viewer))
    if filters.group in STATE_GROUPS:
        query = query.where(col(Report.state).in_(STATE_GROUPS[filters.group]))
    if filters.grid_id is not None:
        query = query.where(col(Report.grid_id) == filters.grid_id)
    if filters.category:
        query = query.where(col(Report.category) == filters.category)
    if filters.older_than_days:
        query = query.where(col(Report.created_at) <= now - timedelta(days=filters.older_than_days))
    reports = list(
        (await session.execute(query.order_by(col(Report.created_at)).limit(MAX_CASES))).scalars()
    )
    names = await _grid_names(session, sorted({r.grid_id for r in reports}))
    out = []
    for r in reports:
        task = await session.get(Task, r.task_id) if r.task_id else None
        holder = await session.get(Person, task.assignee_id) if task and task.assignee_id else None
        out.append(
            CaseRow(
                r,
                await place_label(session, r),
                holder.name if holder else None,
                names.get(r.grid_id, ""),
            )
        )
    return out


async def case_for(session: AsyncSession, viewer: Viewer, report_id: int) -> Report | None:
    """The case if the viewer may open it (else None: the same as one that does not exist)."""
    report = (
        await session.execute(
            select(Report).where(col(Report.id) == report_id, _report_scope(viewer))
        )
    ).scalar_one_or_none()
    return report


def oversees_case(viewer: Viewer, report: Report) -> bool:
    """Staff of the case's grid may assign and close it (a team leader only looks)."""
    return oversees(viewer.scope, report.community_id, report.grid_id)


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    action: str
    who: str | None
    from_state: str | None
    to_state: str | None
    note: str | None


async def timeline(session: AsyncSession, report_id: int) -> list[TimelineEntry]:
    """A case's history, oldest first, with who did each step."""
    rows = await session.execute(
        select(ReportEvent, col(Person.name))
        .outerjoin(Person, col(Person.id) == col(ReportEvent.actor_id))
        .where(col(ReportEvent.report_id) == report_id)
        .order_by(col(ReportEvent.at), col(ReportEvent.id))
    )
    return [
        TimelineEntry(e.at, e.action, name, e.from_state, e.to_state, e.note)
        for e, name in rows.all()
    ]


async def photo_for(session: AsyncSession, viewer: Viewer, photo_id: int) -> ReportPhoto | None:
    """A case photo, if the viewer may open its case."""
    photo = await session.get(ReportPhoto, photo_id)
    if photo is None or await case_for(session, viewer, photo.report_id) is None:
        return None
    return photo


@dataclass(frozen=True)
class AuditEntry:
    """One line of the audit log: when, who, what, about what."""

    at: datetime
    who: str | None
    what: str  # a text key
    subject: str
    note: str | None = None


async def audit_log(session: AsyncSession, viewer: Viewer, limit: int = 100) -> list[AuditEntry]:
    """Case steps, application decisions, role grants, register imports and console sign-ins,
    newest first; a grid leader sees the first two for their grids."""
    cid = viewer.community_id
    # (when, actor id, text key, subject id, subject text, note); names are read once at the end.
    rows: list[tuple[datetime, int | None, str, int | None, str, str | None]] = []
    events = await session.execute(
        select(ReportEvent)
        .join(Report, col(Report.id) == col(ReportEvent.report_id))
        .where(_report_scope(viewer))
        .order_by(col(ReportEvent.id).desc())
        .limit(limit)
    )
    for e in events.scalars():
        rows.append((e.at, e.actor_id, f"web.audit_case_{e.action}", None,
                     f"R{e.report_id:04d}", e.note))  # fmt: skip
    apps = (
        select(BenefitEvent, col(BenefitApplication.person_id))
        .join(BenefitApplication, col(BenefitApplication.id) == col(BenefitEvent.application_id))
        .where(col(BenefitApplication.community_id) == cid)
    )
    if not viewer.is_manager:
        grids = viewer.scope.grids if viewer.scope is not None else ()
        apps = apps.where(col(BenefitApplication.grid_id).in_(grids or ()))
    for e, pid in (
        await session.execute(apps.order_by(col(BenefitEvent.id).desc()).limit(limit))
    ).all():
        rows.append((e.at, e.actor_id, f"web.audit_app_{e.to_status}", pid,
                     f"#{e.application_id}", e.reason))  # fmt: skip
    if viewer.is_manager:
        grants = await session.execute(
            select(RoleGrant)
            .where(col(RoleGrant.community_id) == cid)
            .order_by(col(RoleGrant.id).desc())
            .limit(limit)
        )
        for g in grants.scalars():
            rows.append((g.granted_at, g.granted_by_id, "web.audit_role_granted", g.person_id,
                         g.role, g.reason))  # fmt: skip
            if g.revoked_at is not None:
                rows.append((g.revoked_at, g.revoked_by_id, "web.audit_role_revoked",
                             g.person_id, g.role, None))  # fmt: skip
        imports = await session.execute(
            select(RegisterImport)
            .where(col(RegisterImport.community_id) == cid)
            .order_by(col(RegisterImport.id).desc())
            .limit(limit)
        )
        for i in imports.scalars():
            rows.append((i.at, i.by_id, "web.audit_import", None, i.filename,
                         f"+{i.added} ~{i.updated} ={i.unchanged} ✗{i.rejected}"))  # fmt: skip
        for s, _name in await sign_ins(session, cid, limit):
            rows.append((s.created_at, s.person_id, "web.audit_sign_in", None, "", None))
    rows.sort(key=lambda r: r[0], reverse=True)
    rows = rows[:limit]
    ids = {i for r in rows for i in (r[1], r[3]) if i is not None}
    names: dict[int, str] = {}
    if ids:
        found = await session.execute(
            select(col(Person.id), col(Person.name)).where(col(Person.id).in_(ids))
        )
        names = {int(i): n for i, n in found.all()}
    return [
        AuditEntry(
            at,
            names.get(actor) if actor else None,
            key,
            " ".join(x for x in (text, names.get(subject) if subject else None) if x),
            note,
        )
        for at, actor, key, subject, text, note in rows
    ]
