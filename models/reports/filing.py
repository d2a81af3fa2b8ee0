"""Filing a report (随手拍): where it is, whether it is a duplicate, its task and who hears of it.

States are data (STATE_GROUPS says how a person sees them); every transition writes a
ReportEvent with who and when (`event`), and tells the followers through the outbox in the same
transaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.outbox import enqueue
from models.reports.tables import (
    CategoryRoute,
    EscalationStep,
    Report,
    ReportEvent,
    ReportFollower,
    ReportPhoto,
    ReportState,
)
from models.tables import Building, Community, Household, Person
from models.tasks import (
    Task,
    TaskKind,
    create_task,
    notify_leaders,
    role_holders,
    team_volunteers,
)
from models.teams import has_members, usable_members

CATEGORIES = ("clutter", "hygiene", "safety", "facility", "dispute", "other")
DISPUTE = "dispute"
MAX_PHOTOS = 3
MAX_DESCRIPTION = 500
NEARBY_METRES = 50.0
SIMILAR_WINDOW = timedelta(days=7)
CHASE_EVERY = timedelta(hours=24)

STATE_GROUPS: dict[str, tuple[str, ...]] = {
    "open": (ReportState.NEW, ReportState.REOPENED),
    "in_progress": (ReportState.TAKEN,),
    "done": (ReportState.DONE,),
    "closed": (ReportState.CLOSED, ReportState.MERGED),
}
ACTIVE = STATE_GROUPS["open"] + STATE_GROUPS["in_progress"]

# The ladder a community gets when it has none of its own (data: EscalationStep rows).
DEFAULT_LADDER = (
    (1, "untaken", 4 * 60, "grid_leader"),
    (2, "undone", 3 * 24 * 60, "manager"),
)


def group_of(state: str) -> str:
    """open / in_progress / done / closed."""
    return next(g for g, states in STATE_GROUPS.items() if state in states)


def case_no(report_id: int) -> str:
    """The number a resident quotes: R0042."""
    return f"R{report_id:04d}"


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


@dataclass(frozen=True)
class Place:
    """Where a problem is: a building of the community, typed words, and/or a point."""

    building_id: int | None = None
    text: str | None = None
    latitude: float | None = None
    longitude: float | None = None


async def ladder(session: AsyncSession, community_id: int) -> list[EscalationStep]:
    """The community's escalation ladder, lowest rung first (the default when it has none)."""
    rows = list(
        (
            await session.execute(
                select(EscalationStep)
                .where(col(EscalationStep.community_id) == community_id)
                .order_by(col(EscalationStep.level))
            )
        ).scalars()
    )
    if rows:
        return rows
    return [
        EscalationStep(community_id=community_id, level=lv, condition=c, after_minutes=m, role=r)
        for lv, c, m, r in DEFAULT_LADDER
    ]


async def first_response_minutes(session: AsyncSession, community_id: int) -> int:
    """Minutes within which someone should take a new report: the first 'untaken' rung."""
    steps = [s for s in await ladder(session, community_id) if s.condition == "untaken"]
    return steps[0].after_minutes if steps else DEFAULT_LADDER[0][2]


async def locate(
    session: AsyncSession, community_id: int, latitude: float, longitude: float
) -> Place:
    """A shared point inside the community, with its nearest building; DomainError when far outside."""
    community = await session.get(Community, community_id)
    if community is None:
        raise DomainError("report.no_grid")
    if community.latitude is not None and community.longitude is not None:
        off = distance_m(community.latitude, community.longitude, latitude, longitude)
        if off > community.radius_m:
            raise DomainError("report.outside", km=f"{off / 1000:.1f}")
    buildings = (
        await session.execute(
            select(Building).where(
                col(Building.community_id) == community_id, col(Building.latitude).is_not(None)
            )
        )
    ).scalars()
    nearest: tuple[float, Building] | None = None
    for b in buildings:
        assert b.latitude is not None and b.longitude is not None
        d = distance_m(b.latitude, b.longitude, latitude, longitude)
        if nearest is None or d < nearest[0]:
            nearest = (d, b)
    building_id = nearest[1].id if nearest is not None and nearest[0] <= 100 else None
    return Place(building_id=building_id, latitude=latitude, longitude=longitude)


async def grid_of_place(session: AsyncSession, reporter: Person, place: Place) -> int:
    """The grid that owns the place: the building's, else the reporter's, else the nearest."""
    if place.building_id is not None:
        building = await session.get(Building, place.building_id)
        if building is not None and building.community_id == reporter.community_id:
            return building.grid_id
    if reporter.grid_id is not None:
        return reporter.grid_id
    first = (
        await session.execute(
            select(col(Building.grid_id))
            .where(col(Building.community_id) == reporter.community_id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if first is None:
        raise DomainError("report.no_grid")
    return int(first)


async def home_building(session: AsyncSession, person: Person) -> Building | None:
    """The building of the person's household, if known."""
    if person.household_id is None:
        return None
    home = await session.get(Household, person.household_id)
    return await session.get(Building, home.building_id) if home else None


async def similar_reports(
    session: AsyncSession, community_id: int, category: str, place: Place, now: datetime
) -> list[Report]:
    """Active reports of the same category in the last 7 days, at the same building or within 50 m."""
    if category == DISPUTE:
        return []
    candidates = (
        await session.execute(
            select(Report)
            .where(
                col(Report.community_id) == community_id,
                col(Report.category) == category,
                col(Report.state).in_(ACTIVE + STATE_GROUPS["done"]),
                col(Report.created_at) >= now - SIMILAR_WINDOW,
            )
            .order_by(col(Report.created_at).desc())
            .limit(50)
        )
    ).scalars()
    found = []
    for r in candidates:
        same_building = place.building_id is not None and r.building_id == place.building_id
        near = (
            place.latitude is not None
            and place.longitude is not None
            and r.latitude is not None
            and r.longitude is not None
            and distance_m(place.latitude, place.longitude, r.latitude, r.longitude)
            <= NEARBY_METRES
        )
        if same_building or near:
            found.append(r)
    return found[:3]


def check_description(text: str, voice_ref: str | None) -> str:
    """A description is required (words or a voice note) and kept short."""
    text = text.strip()
    if not text and voice_ref is None:
        raise DomainError("report.empty_description")
    if len(text) > MAX_DESCRIPTION:
        raise DomainError("report.too_long", limit=MAX_DESCRIPTION)
    return text


async def place_label(session: AsyncSession, report: Report) -> str:
    """'虹桥南村3幢 · 后面车棚' or the typed place or coordinates."""
    parts = []
    if report.building_id is not None:
        b = await session.get(Building, report.building_id)
        if b is not None:
            parts.append(f"{b.estate}{b.number}幢")
    if report.place:
        parts.append(report.place)
    if not parts and report.latitude is not None and report.longitude is not None:
        parts.append(f"{report.latitude:.5f},{report.longitude:.5f}")
    return " · ".join(parts)


async def _route(session: AsyncSession, grid_id: int, category: str) -> int | None:
    return (
        await session.execute(
            select(col(CategoryRoute.team_id)).where(
                col(CategoryRoute.grid_id) == grid_id, col(CategoryRoute.category) == category
            )
        )
    ).scalar_one_or_none()


async def _offer_list(
    session: AsyncSession, report: Report, team_id: int | None, now: datetime
) -> list[int] | None:
    """Who a report's task goes to: the routed team's matching members; disputes only to
    the grid leaders and the mediation team. None: the grid's volunteers (the default)."""
    if report.category == DISPUTE:
        leaders = await role_holders(session, "grid_leader", report.community_id, report.grid_id)
        # Only approved, active, unpaused mediators: a volunteer who asked to join the
        # mediation team sees no dispute before a leader approves them.
        mediators = (
            [m.person_id for m in await usable_members(session, team_id, now)] if team_id else []
        )
        return leaders + [m for m in mediators if m not in leaders]
    members = (
        await team_volunteers(session, team_id, report.category, report.grid_id, now)
        if team_id
        else []
    )
    return members or None


def event(
    session: AsyncSession,
    report: Report,
    action: str,
    now: datetime,
    actor_id: int | None,
    to_state: str | None = None,
    note: str | None = None,
) -> None:
    """Record a transition (and make it)."""
    assert report.id is not None
    session.add(
        ReportEvent(
            report_id=report.id,
            at=now,
            actor_id=actor_id,
            action=action,
            from_state=report.state,
            to_state=to_state or report.state,
            note=note,
        )
    )
    if to_state is not None:
        report.state = to_state
    report.updated_at = now


async def followers(session: AsyncSession, report_id: int) -> list[int]:
    rows = (
        await session.execute(
            select(col(ReportFollower.person_id))
            .where(col(ReportFollower.report_id) == report_id)
            .order_by(col(ReportFollower.joined_at))
        )
    ).scalars()
    return list(rows)


async def tell_followers(
    session: AsyncSession,
    report: Report,
    key: str,
    now: datetime,
    *,
    choices: list[list[str]] | None = None,
    photo_ref: str | None = None,
    skip: int | None = None,
    **values: object,
) -> None:
    """One outbox row per follower (deduplicated per report, step and person)."""
    assert report.id is not None
    for person_id in await followers(session, report.id):
        if person_id == skip:
            continue
        await enqueue(
            session,
            person_id=person_id,
            kind="report",
            dedupe_key=f"report:{report.id}:{key}:{person_id}:{int(now.timestamp())}",
            now=now,
            text_key=key,
            values={"no": case_no(report.id), **values},
            choices=choices,
            photo_ref=photo_ref,
            priority=2,
        )


async def new_task(
    session: AsyncSession,
    report: Report,
    now: datetime,
    *,
    assignee_id: int | None = None,
    team_id: int | None = None,
) -> Task:
    """The report's task, routed to `team_id` (a rest station's managing team) or by category."""
    assert report.id is not None
    team_id = team_id or await _route(session, report.grid_id, report.category)
    where = await place_label(session, report)
    title = f"{case_no(report.id)} {CATEGORY_ZH[report.category]} · {where}".strip(" ·")
    offer_to = None if assignee_id else await _offer_list(session, report, team_id, now)
    task = await create_task(
        session,
        now=now,
        community_id=report.community_id,
        grid_id=report.grid_id,
        kind=TaskKind.REPORT,
        title=title,
        detail=report.description,
        report_id=report.id,
        team_id=team_id,
        assignee_id=assignee_id,
        offer_to=offer_to,
        created_by_id=assignee_id,
        # Nobody is asked to fix what they reported themselves (unless they take it on).
        exclude=frozenset({report.reporter_id}),
    )
    report.task_id = task.id
    if offer_to is None and team_id is not None and await has_members(session, team_id):
        # The routed team has members but none a push reaches (paused, inactive): the grid
        # leaders hear it now, not when the ladder's first rung comes.
        await notify_leaders(session, task, "task.team_unavailable", now)
    return task


# Task titles are stored once, in Chinese (the community's working language); people see
# them inside translated messages.
CATEGORY_ZH = {
    "clutter": "杂物堆放",
    "hygiene": "环境卫生",
    "safety": "安全隐患",
    "facility": "设施损坏",
    "dispute": "邻里纠纷",
    "other": "其他问题",
}


async def report_problem(
    session: AsyncSession,
    *,
    reporter: Person,
    category: str,
    description: str,
    place: Place,
    photos: list[tuple[str, str]],
    now: datetime,
    voice_ref: str | None = None,
    share_contact: bool = False,
    take_myself: bool = False,
    team_id: int | None = None,
    grid_id: int | None = None,
) -> Report:
    """Create a report, its task (pushed to the right volunteers), and tell the reporter's grid."""
    if category not in CATEGORIES:
        raise DomainError("report.bad_category")
    text = check_description(description, voice_ref)
    if len(photos) > MAX_PHOTOS:
        raise DomainError("report.too_many_photos", limit=MAX_PHOTOS)
    if reporter.id is None:
        raise DomainError("error.forbidden")
    # A place with its own keepers (a rest station) names their team and grid; else the place's.
    grid_id = grid_id or await grid_of_place(session, reporter, place)
    minutes = await first_response_minutes(session, reporter.community_id)
    report = Report(
        community_id=reporter.community_id,
        grid_id=grid_id,
        category=category,
        description=text or "🎤",
        voice_ref=voice_ref,
        building_id=place.building_id,
        place=(place.text or None) and place.text[:128],
        latitude=place.latitude,
        longitude=place.longitude,
        reporter_id=reporter.id,
        share_contact=share_contact,
        state=ReportState.NEW,
        created_at=now,
        respond_by=now + timedelta(minutes=minutes),
        updated_at=now,
        team_id=team_id,
    )
    session.add(report)
    await session.flush()
    assert report.id is not None
    session.add(ReportFollower(report_id=report.id, person_id=reporter.id, joined_at=now))
    for channel, ref in photos:
        session.add(
            ReportPhoto(
                report_id=report.id,
                stage="before",
                channel=channel,
                ref=ref,
                added_by_id=reporter.id,
                added_at=now,
            )
        )
    event(session, report, "created", now, reporter.id)
    if take_myself:
        await new_task(session, report, now, assignee_id=reporter.id)
        report.taken_at = now
        event(session, report, "taken", now, reporter.id, ReportState.TAKEN)
    else:
        await new_task(session, report, now, team_id=team_id)
    await session.flush()
    return report


async def join_report(
    session: AsyncSession, report_id: int, person: Person, now: datetime
) -> Report:
    """'That's mine too': follow an existing report instead of filing a duplicate."""
    report = await session.get(Report, report_id)
    if report is None or report.community_id != person.community_id or report.category == DISPUTE:
        raise DomainError("report.not_found")
    if group_of(report.state) == "closed":
        raise DomainError("report.already_closed", no=case_no(report_id))
    if await session.get(ReportFollower, (report_id, person.id)) is not None:
        raise DomainError("report.already_following", no=case_no(report_id))
    assert person.id is not None
    session.add(ReportFollower(report_id=report_id, person_id=person.id, joined_at=now))
    event(session, report, "joined", now, person.id)
    await session.flush()
    return report


async def task_of(session: AsyncSession, report: Report) -> Task | None:
    """The report's current task."""
    return await session.get(Task, report.task_id) if report.task_id else None
