"""What people see of reports: 我的事项 lines, a grid's open cases, one case, the ratings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.people import Scope
from models.reports.filing import ACTIVE, STATE_GROUPS, group_of, place_label, task_of
from models.reports.tables import Rating, Report, ReportFollower, ReportPhoto
from models.tables import Person, Team
from models.tasks import Task, TaskOffer, oversees


@dataclass(frozen=True)
class Case:
    """One line of 我的事项 or of a grid's open cases."""

    report: Report
    group: str
    place: str
    holder: str | None


async def cases_of(session: AsyncSession, person_id: int, limit: int = 10) -> list[Case]:
    """The reports a person follows, newest first."""
    rows = (
        await session.execute(
            select(Report)
            .join(ReportFollower, col(ReportFollower.report_id) == col(Report.id))
            .where(col(ReportFollower.person_id) == person_id)
            .order_by(col(Report.created_at).desc())
            .limit(limit)
        )
    ).scalars()
    return [await _case(session, r) for r in list(rows)]


async def _case(session: AsyncSession, report: Report) -> Case:
    task = await task_of(session, report)
    holder = await session.get(Person, task.assignee_id) if task and task.assignee_id else None
    return Case(
        report,
        group_of(report.state),
        await place_label(session, report),
        holder.name if holder else None,
    )


async def open_cases(session: AsyncSession, scope: Scope, limit: int = 20) -> list[Case]:
    """Active reports of the grids a leader oversees, oldest first."""
    query = (
        select(Report)
        .where(
            col(Report.community_id) == scope.community_id,
            col(Report.state).in_(ACTIVE + STATE_GROUPS["done"]),
        )
        .order_by(col(Report.created_at))
        .limit(limit)
    )
    if scope.grids is not None:
        query = query.where(col(Report.grid_id).in_(scope.grids))
    return [await _case(session, r) for r in list((await session.execute(query)).scalars())]


@dataclass(frozen=True)
class CaseView:
    """What one person may see of a report."""

    report: Report
    place: str
    before: list[ReportPhoto]
    after: list[ReportPhoto]
    reporter_name: str | None
    reporter_phone: str | None


async def view_report(
    session: AsyncSession, report: Report, viewer: Person, scope: Scope | None
) -> CaseView:
    """The report as this viewer may see it: the reporter's contact only for staff, or when allowed."""
    assert report.id is not None
    staff = oversees(scope, report.community_id, report.grid_id)
    photos = list(
        (
            await session.execute(
                select(ReportPhoto)
                .where(col(ReportPhoto.report_id) == report.id)
                .order_by(col(ReportPhoto.id))
            )
        ).scalars()
    )
    reporter = await session.get(Person, report.reporter_id)
    show = staff or report.share_contact or viewer.id == report.reporter_id
    return CaseView(
        report=report,
        place=await place_label(session, report),
        before=[p for p in photos if p.stage == "before"],
        after=[p for p in photos if p.stage == "after"],
        reporter_name=reporter.name if show and reporter else None,
        reporter_phone=reporter.phone if show and reporter else None,
    )


async def may_view_report(
    session: AsyncSession, report: Report, person: Person, scope: Scope | None
) -> bool:
    """Followers, staff of its grid, and those its task reached (disputes: leaders and mediators)."""
    if report.community_id != person.community_id:
        return False
    if oversees(scope, report.community_id, report.grid_id):
        return True
    if await session.get(ReportFollower, (report.id, person.id)) is not None:
        return True
    offered = (
        await session.execute(
            select(func.count())
            .select_from(TaskOffer)
            .join(Task, col(Task.id) == col(TaskOffer.task_id))
            .where(col(Task.report_id) == report.id, col(TaskOffer.person_id) == person.id)
        )
    ).scalar_one()
    return bool(offered)


@dataclass(frozen=True)
class Score:
    """Ratings of a volunteer or a team: average, count, and the trend against the month before."""

    name: str
    average: float
    count: int
    recent: float | None
    earlier: float | None

    @property
    def trend(self) -> str:
        if self.recent is None or self.earlier is None:
            return "·"
        if self.recent > self.earlier + 0.05:
            return "↑"
        if self.recent < self.earlier - 0.05:
            return "↓"
        return "→"


async def scores(session: AsyncSession, community_id: int, now: datetime, by: str) -> list[Score]:
    """Per volunteer (by='volunteer') or per team (by='team'): all-time, last 30 days, the 30 before."""
    key = col(Rating.volunteer_id) if by == "volunteer" else col(Rating.team_id)
    names: dict[int, str]
    if by == "volunteer":
        names = {
            p.id: p.name
            for p in (
                await session.execute(
                    select(Person).where(col(Person.community_id) == community_id)
                )
            ).scalars()
            if p.id is not None
        }
    else:
        names = {
            t.id: t.name
            for t in (
                await session.execute(select(Team).where(col(Team.community_id) == community_id))
            ).scalars()
            if t.id is not None
        }
    recent_from, earlier_from = now - timedelta(days=30), now - timedelta(days=60)
    rows = (
        await session.execute(
            select(key, col(Rating.stars), col(Rating.created_at))
            .join(Report, col(Report.id) == col(Rating.report_id))
            .where(col(Report.community_id) == community_id, key.is_not(None))
        )
    ).all()
    if by == "team":  # the teams of the service points are judged by their sessions too
        from models.bookings import team_ratings

        rows = [*rows, *await team_ratings(session, community_id)]
    acc: dict[int, list[tuple[int, datetime]]] = {}
    for who, stars, at in rows:
        if who is not None:
            acc.setdefault(who, []).append((stars, at))
    out = []
    for who, items in acc.items():
        recent = [s for s, at in items if at >= recent_from]
        earlier = [s for s, at in items if earlier_from <= at < recent_from]
        out.append(
            Score(
                name=names.get(who, "?"),
                average=sum(s for s, _ in items) / len(items),
                count=len(items),
                recent=sum(recent) / len(recent) if recent else None,
                earlier=sum(earlier) / len(earlier) if earlier else None,
            )
        )
    return sorted(out, key=lambda s: (-s.average, -s.count, s.name))


async def report_in_scope(
    session: AsyncSession, report_id: int, person: Person, scope: Scope | None
) -> Report:
    """The report if this person may see it, else a polite 'not found' (no leak of existence)."""
    report = await session.get(Report, report_id)
    if report is None or not await may_view_report(session, report, person, scope):
        raise DomainError("report.not_found")
    return report


async def cases_to_rate(session: AsyncSession, person_id: int) -> list[Case]:
    """The person's finished cases (of their latest 20) they have not rated yet, newest first."""
    waiting = []
    for case in await cases_of(session, person_id, limit=20):
        r = case.report
        if r.state != "done" or r.task_id is None:
            continue
        rated = (
            await session.execute(
                select(col(Rating.id)).where(
                    col(Rating.task_id) == r.task_id, col(Rating.rater_id) == person_id
                )
            )
        ).first()
        if rated is None:
            waiting.append(case)
    return waiting
