"""Problem reports (随手拍): report → task → done with a photo → rating closes or reopens.

States are data (STATE_GROUPS says how a person sees them); every transition writes a
ReportEvent with who and when, and tells the followers through the outbox in the same
transaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.outbox import enqueue
from models.people import Scope
from models.tables import (
    Building,
    CategoryRoute,
    Community,
    EscalationStep,
    Household,
    Person,
    Rating,
    Report,
    ReportEvent,
    ReportFollower,
    ReportPhoto,
    ReportState,
    Task,
    TaskKind,
    TaskOffer,
    TaskState,
    Team,
)
from models.tasks import (
    assign_task,
    create_task,
    finish_task,
    leader_buttons,
    notify_leaders,
    oversees,
    release_task,
    role_holders,
    take_task,
    team_volunteers,
)
from models.teams import has_members, usable_members

CATEGORIES = ("clutter", "hygiene", "safety", "facility", "dispute", "other")
DISPUTE = "dispute"
MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 5 * 1024 * 1024
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


async def _new_task(
    session: AsyncSession, report: Report, now: datetime, *, assignee_id: int | None = None
) -> Task:
    assert report.id is not None
    team_id = await _route(session, report.grid_id, report.category)
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
) -> Report:
    """Create a report, its task (pushed to the right volunteers), and tell the reporter's grid."""
    if category not in CATEGORIES:
        raise DomainError("report.bad_category")
    text = check_description(description, voice_ref)
    if len(photos) > MAX_PHOTOS:
        raise DomainError("report.too_many_photos", limit=MAX_PHOTOS)
    if reporter.id is None:
        raise DomainError("error.forbidden")
    grid_id = await grid_of_place(session, reporter, place)
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
        await _new_task(session, report, now, assignee_id=reporter.id)
        report.taken_at = now
        event(session, report, "taken", now, reporter.id, ReportState.TAKEN)
    else:
        await _new_task(session, report, now)
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


async def accept_task(
    session: AsyncSession, task_id: int, person: Person, scope: Scope | None, now: datetime
) -> Task:
    """接单: the task is this person's (first press wins), and a report's followers hear who took it."""
    task = await take_task(session, task_id, person, scope, now)
    await on_task_taken(session, task, person, now)
    return task


async def assign_report_task(
    session: AsyncSession,
    task_id: int,
    leader: Person,
    scope: Scope | None,
    volunteer_id: int,
    now: datetime,
) -> tuple[Task, Person]:
    """👉 指派: the same transition as taking — a report's case moves to in progress, its history
    records who assigned whom, and the followers hear who is on it."""
    task, volunteer = await assign_task(session, task_id, leader, scope, volunteer_id, now)
    if task.report_id is None:
        return task, volunteer
    report = await session.get(Report, task.report_id)
    if report is None or report.task_id != task.id:
        return task, volunteer
    if report.taken_at is None or report.state != ReportState.TAKEN:
        report.taken_at = now
    note = f"{leader.name} → {volunteer.name} (#{volunteer.id})"
    event(session, report, "assigned", now, leader.id, ReportState.TAKEN, note=note)
    await tell_followers(
        session, report, "report.assigned_notice", now, skip=volunteer.id, name=volunteer.name
    )
    return task, volunteer


async def hand_back(session: AsyncSession, task_id: int, person: Person, now: datetime) -> Task:
    """退回: the task is open again and offered again; a report goes back to open."""
    task = await release_task(session, task_id, person, now)
    await on_task_released(session, task, person, now)
    return task


async def task_of(session: AsyncSession, report: Report) -> Task | None:
    return await session.get(Task, report.task_id) if report.task_id else None


async def on_task_taken(session: AsyncSession, task: Task, person: Person, now: datetime) -> None:
    """A report's task was taken: the report is in progress and the followers hear who took it."""
    if task.report_id is None:
        return
    report = await session.get(Report, task.report_id)
    if report is None or report.task_id != task.id:
        return
    report.taken_at = now
    event(session, report, "taken", now, person.id, ReportState.TAKEN)
    await tell_followers(session, report, "report.taken_notice", now, name=person.name)


async def on_task_released(
    session: AsyncSession, task: Task, person: Person, now: datetime
) -> None:
    """Handed back: the report is open again (its clock keeps running)."""
    if task.report_id is None:
        return
    report = await session.get(Report, task.report_id)
    if report is None or report.task_id != task.id:
        return
    rated = (
        await session.execute(select(func.count()).where(col(Rating.report_id) == report.id))
    ).scalar_one()
    event(
        session,
        report,
        "handed_back",
        now,
        person.id,
        ReportState.REOPENED if rated else ReportState.NEW,
    )


async def finish_report_task(
    session: AsyncSession,
    task_id: int,
    person: Person,
    minutes: int,
    photo: tuple[str, str] | None,
    now: datetime,
) -> Task:
    """Finish a task; for a report, an after-photo is required and the followers are asked to rate."""
    task = await session.get(Task, task_id)
    if task is None:
        raise DomainError("task.not_found")
    if task.kind == TaskKind.REPORT and photo is None and task.state != TaskState.DONE:
        raise DomainError("task.photo_needed")
    task = await finish_task(session, task_id, person, minutes, now)
    if task.report_id is None:
        return task
    report = await session.get(Report, task.report_id)
    if report is None:
        return task
    assert report.id is not None and photo is not None
    session.add(
        ReportPhoto(
            report_id=report.id,
            stage="after",
            channel=photo[0],
            ref=photo[1],
            added_by_id=person.id,  # type: ignore[arg-type]
            added_at=now,
        )
    )
    report.done_at = now
    event(session, report, "done", now, person.id, ReportState.DONE)
    await tell_followers(
        session,
        report,
        "report.done_notice",
        now,
        choices=rating_buttons(report.id),
        photo_ref=f"{photo[0]}:{photo[1]}",
        name=person.name,
    )
    return task


def rating_buttons(report_id: int) -> list[list[str]]:
    """One tap: five stars … one star, or 'not fixed'."""
    return [
        ["rate.btn_5", f"rate:{report_id}:5"],
        ["rate.btn_4", f"rate:{report_id}:4"],
        ["rate.btn_3", f"rate:{report_id}:3"],
        ["rate.btn_2", f"rate:{report_id}:2"],
        ["rate.btn_1", f"rate:{report_id}:1"],
        ["rate.btn_not_fixed", f"rate:{report_id}:0"],
    ]


async def rate_report(
    session: AsyncSession, report_id: int, person: Person, stars: int, now: datetime
) -> Rating:
    """1–5 stars (0: not fixed). Four or five close the case; less reopens it and tells the grid leader."""
    report = await session.get(Report, report_id)
    if report is None or await session.get(ReportFollower, (report_id, person.id)) is None:
        raise DomainError("report.not_found")
    if not 0 <= stars <= 5:
        raise DomainError("rate.bad_value")
    task = await task_of(session, report)
    if (
        task is None
        or task.state != TaskState.DONE
        or report.state
        not in (
            ReportState.DONE,
            ReportState.CLOSED,
        )
    ):
        raise DomainError("rate.not_done", no=case_no(report_id))
    assert task.id is not None and person.id is not None
    if (
        await session.execute(
            select(Rating).where(col(Rating.task_id) == task.id, col(Rating.rater_id) == person.id)
        )
    ).scalar_one_or_none() is not None:
        raise DomainError("rate.already", no=case_no(report_id))
    rating = Rating(
        report_id=report_id,
        task_id=task.id,
        rater_id=person.id,
        volunteer_id=task.assignee_id,
        team_id=task.team_id,
        stars=max(stars, 1),
        fixed=stars > 0,
        created_at=now,
    )
    session.add(rating)
    await session.flush()
    if stars >= 4:
        if report.state != ReportState.CLOSED:
            report.closed_at = now
            event(session, report, "rated", now, person.id, ReportState.CLOSED, note=f"{stars}★")
    else:
        event(session, report, "rated", now, person.id, ReportState.REOPENED, note=f"{stars}★")
        report.closed_at = None
        report.done_at = None
        # The resident's clock starts again: the ladder counts from the reopening.
        report.escalation_level = 0
        report.respond_by = now + timedelta(
            minutes=await first_response_minutes(session, report.community_id)
        )
        await _new_task(session, report, now)
        new_task = await task_of(session, report)
        assert new_task is not None
        for leader in await role_holders(
            session, "grid_leader", report.community_id, report.grid_id
        ):
            await enqueue(
                session,
                person_id=leader,
                kind="report",
                dedupe_key=f"report:{report_id}:reopened:{leader}:{rating.id}",
                now=now,
                text_key="report.reopened_leader",
                values={"no": case_no(report_id), "stars": stars},
                choices=leader_buttons(new_task.id),
                priority=2,
            )
    return rating


async def comment_rating(
    session: AsyncSession, rating_id: int, person: Person, comment: str, voice_ref: str | None
) -> Rating:
    """An optional comment (or voice note) on one's own rating."""
    rating = await session.get(Rating, rating_id)
    if rating is None or rating.rater_id != person.id:
        raise DomainError("report.not_found")
    rating.comment = comment.strip()[:500] or None
    rating.voice_ref = voice_ref
    return rating


async def chase(session: AsyncSession, report_id: int, person: Person, now: datetime) -> int:
    """催办: once per 24 hours per person; goes to whoever holds the case, and up the ladder
    when it is overdue. Returns how many people were told."""
    report = await session.get(Report, report_id)
    follow = await session.get(ReportFollower, (report_id, person.id))
    if report is None or follow is None:
        raise DomainError("report.not_found")
    if group_of(report.state) not in ("open", "in_progress"):
        raise DomainError("chase.not_active", no=case_no(report_id))
    if follow.last_chased_at is not None and now - follow.last_chased_at < CHASE_EVERY:
        wait = CHASE_EVERY - (now - follow.last_chased_at)
        raise DomainError("chase.too_soon", hours=max(1, math.ceil(wait.total_seconds() / 3600)))
    follow.last_chased_at = now
    task = await task_of(session, report)
    targets: list[int] = []
    if task is not None and task.assignee_id is not None:
        targets.append(task.assignee_id)
    elif task is not None:
        targets += list(
            (
                await session.execute(
                    select(col(TaskOffer.person_id)).where(
                        col(TaskOffer.task_id) == task.id, col(TaskOffer.declined_at).is_(None)
                    )
                )
            ).scalars()
        )
    overdue = report.respond_by is not None and now >= report.respond_by
    if overdue or report.escalation_level >= 1:
        targets += await role_holders(session, "grid_leader", report.community_id, report.grid_id)
    if report.escalation_level >= 2:
        targets += await role_holders(session, "manager", report.community_id)
    targets = [t for t in dict.fromkeys(targets) if t != person.id]
    for target in targets:
        await enqueue(
            session,
            person_id=target,
            kind="report",
            dedupe_key=f"report:{report_id}:chase:{target}:{int(now.timestamp())}",
            now=now,
            text_key="chase.push",
            values={"no": case_no(report_id), "title": task.title if task else ""},
            choices=[["task.btn_view", f"task:view:{task.id}"]] if task else None,
            priority=2,
        )
    event(session, report, "chased", now, person.id, note=f"→{len(targets)}")
    return len(targets)


async def escalate(session: AsyncSession, now: datetime) -> int:
    """Climb the ladder: reports past a rung's time in its condition go to the rung's role."""
    communities = (
        await session.execute(
            select(col(Report.community_id)).where(col(Report.state).in_(ACTIVE)).distinct()
        )
    ).scalars()
    moved = 0
    for community_id in list(communities):
        # A report's clock starts at respond_by minus the first response time (its creation,
        # or its reopening).
        first = await first_response_minutes(session, community_id)
        for step in await ladder(session, community_id):
            states = STATE_GROUPS["open"] if step.condition == "untaken" else ACTIVE
            due = (
                await session.execute(
                    select(Report)
                    .where(
                        col(Report.community_id) == community_id,
                        col(Report.state).in_(states),
                        col(Report.escalation_level) < step.level,
                        col(Report.respond_by)
                        <= now - timedelta(minutes=step.after_minutes - first),
                    )
                    .order_by(col(Report.id))
                    .limit(200)
                )
            ).scalars()
            for report in list(due):
                await _climb(session, report, step, now)
                moved += 1
    return moved


async def _climb(
    session: AsyncSession, report: Report, step: EscalationStep, now: datetime
) -> None:
    assert report.id is not None
    report.escalation_level = step.level
    event(session, report, "escalated", now, None, note=f"{step.level}:{step.role}")
    grid = report.grid_id if step.role == "grid_leader" else None
    task = await task_of(session, report)
    for target in await role_holders(session, step.role, report.community_id, grid):
        await enqueue(
            session,
            person_id=target,
            kind="report",
            dedupe_key=f"report:{report.id}:escalated:{step.level}:{target}",
            now=now,
            text_key=f"escalate.{step.condition}",
            values={
                "no": case_no(report.id),
                "title": task.title if task else "",
                "hours": round(step.after_minutes / 60),
            },
            choices=leader_buttons(task.id) if task else None,
            priority=2,
        )
    await tell_followers(session, report, f"escalate.resident_{step.role}", now)


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
