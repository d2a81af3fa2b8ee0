"""Tasks: work pushed to volunteers (or a grid leader) through the outbox, taken by exactly one.

A task is generic: a problem report, a home visit of the benefits outreach, duty at an event.
Every transition is one function, one transaction, and idempotent: taking a task one already
holds, or finishing a finished one, changes nothing and says so (a DomainError key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.db import utcnow
from models.errors import DomainError
from models.outbox import enqueue
from models.people import Scope
from models.tables import (
    Person,
    Rating,
    RoleGrant,
    Task,
    TaskKind,
    TaskOffer,
    TaskState,
    VolunteerHours,
)
from models.teams import push_times, reachable, usable_members

MIN_MINUTES = 5
MAX_MINUTES = 8 * 60
HOURS_WAIT_FOR_RATING = timedelta(hours=72)


def task_buttons(task_id: int) -> list[list[str]]:
    """The buttons of a pushed task: take, look, decline (label keys, payloads)."""
    return [
        ["task.btn_take", f"task:take:{task_id}"],
        ["task.btn_view", f"task:view:{task_id}"],
        ["task.btn_decline", f"task:decline:{task_id}"],
    ]


async def role_holders(
    session: AsyncSession, role: str, community_id: int, grid_id: int | None = None
) -> list[int]:
    """People holding `role` (for `grid_id`, or community-wide grants), in id order."""
    query = select(col(RoleGrant.person_id)).where(
        col(RoleGrant.role) == role,
        col(RoleGrant.community_id) == community_id,
        col(RoleGrant.revoked_at).is_(None),
    )
    if grid_id is not None:
        query = query.where(
            or_(col(RoleGrant.grid_id) == grid_id, col(RoleGrant.grid_id).is_(None))
        )
    rows = (await session.execute(query.distinct().order_by(col(RoleGrant.person_id)))).scalars()
    return list(rows)


async def team_volunteers(
    session: AsyncSession,
    team_id: int,
    category: str | None,
    grid_id: int,
    now: datetime | None = None,
) -> list[int]:
    """Members of a team a push may reach (approved, active, not paused at `now`) who hold the
    volunteer (or grid leader) role and whose skills match."""
    rows = await usable_members(session, team_id, now or utcnow())
    members = [
        m.person_id for m in rows if not m.skills or category is None or category in m.skills
    ]
    if not members:
        return []
    allowed = (
        await session.execute(
            select(col(RoleGrant.person_id))
            .where(
                col(RoleGrant.person_id).in_(members),
                col(RoleGrant.role).in_(("volunteer", "grid_leader")),
                col(RoleGrant.revoked_at).is_(None),
                or_(col(RoleGrant.grid_id) == grid_id, col(RoleGrant.grid_id).is_(None)),
            )
            .distinct()
        )
    ).scalars()
    ok = set(allowed)
    return [m for m in members if m in ok]


async def create_task(
    session: AsyncSession,
    *,
    now: datetime,
    community_id: int,
    grid_id: int,
    kind: str,
    title: str,
    detail: str = "",
    report_id: int | None = None,
    subject_person_id: int | None = None,
    assignee_id: int | None = None,
    team_id: int | None = None,
    offer_to: list[int] | None = None,
    dedupe_key: str | None = None,
    action_label_key: str | None = None,
    action_payload: str | None = None,
    created_by_id: int | None = None,
    due_at: datetime | None = None,
    exclude: frozenset[int] = frozenset(),
) -> Task:
    """A new task, pushed to its assignee, or offered to `offer_to` (default: the grid's volunteers).

    With a `dedupe_key` already used, the existing task is returned and nothing is pushed.
    """
    if dedupe_key is not None:
        existing = (
            await session.execute(select(Task).where(col(Task.dedupe_key) == dedupe_key))
        ).scalar_one_or_none()
        if existing is not None:
            return existing
    task = Task(
        community_id=community_id,
        grid_id=grid_id,
        kind=kind,
        report_id=report_id,
        subject_person_id=subject_person_id,
        team_id=team_id,
        title=title[:128],
        detail=detail,
        dedupe_key=dedupe_key,
        action_label_key=action_label_key,
        action_payload=action_payload,
        created_by_id=created_by_id,
        created_at=now,
        due_at=due_at,
    )
    session.add(task)
    await session.flush()
    assert task.id is not None
    if assignee_id is not None:
        task.state = TaskState.TAKEN
        task.assignee_id = assignee_id
        task.assigned_by_id = created_by_id
        task.taken_at = now
        session.add(TaskOffer(task_id=task.id, person_id=assignee_id, offered_at=now))
        if assignee_id != created_by_id:
            await _push_assigned(session, task, assignee_id, now)
        return task
    people = offer_to
    if people is None:
        people = await role_holders(session, "volunteer", community_id, grid_id)
    # Volunteers who paused, or were made inactive, in every team they are in get nothing.
    people = await reachable(session, [p for p in people if p not in exclude], now)
    if not people:
        people = await role_holders(session, "grid_leader", community_id, grid_id)
    await offer(session, task, people, now)
    return task


async def offer(session: AsyncSession, task: Task, people: list[int], now: datetime) -> int:
    """Push an open task to these people (once each); returns how many were newly offered."""
    assert task.id is not None
    known = set(
        (
            await session.execute(
                select(col(TaskOffer.person_id)).where(col(TaskOffer.task_id) == task.id)
            )
        ).scalars()
    )
    count = 0
    # Quiet hours: the task is offered now (it shows in 我的任务); its push waits till they end.
    later = await push_times(session, task.community_id, list(people), now)
    for person_id in dict.fromkeys(people):
        if person_id in known:
            continue
        session.add(TaskOffer(task_id=task.id, person_id=person_id, offered_at=now))
        await tell(
            session,
            person_id,
            task,
            "task.push",
            now,
            choices=_with_action(task, task_buttons(task.id)),
            once=f"offer:{person_id}",
            not_before=later.get(person_id),
        )
        count += 1
    await session.flush()
    return count


def leader_buttons(task_id: int | None) -> list[list[str]]:
    """What a grid leader is offered with news of a task: look at it, or assign it."""
    return [
        ["task.btn_view", f"task:view:{task_id}"],
        ["task.btn_assign", f"task:assign:{task_id}"],
    ]


async def tell(
    session: AsyncSession,
    person_id: int,
    task: Task,
    key: str,
    now: datetime,
    *,
    choices: list[list[str]] | None = None,
    priority: int = 2,
    once: str | None = None,
    not_before: datetime | None = None,
    **values: object,
) -> None:
    """One outbox message about a task (its id and title filled in), deduplicated per person
    and moment, or once ever with `once`."""
    assert task.id is not None
    tag = once or f"{key}:{person_id}:{int(now.timestamp())}"
    await enqueue(
        session,
        person_id=person_id,
        kind="task",
        dedupe_key=f"task:{task.id}:{tag}",
        now=now,
        text_key=key,
        values={"id": task.id, "title": task.title, **values},
        choices=choices,
        priority=priority,
        not_before=not_before,
    )


def _with_action(task: Task, buttons: list[list[str]]) -> list[list[str]]:
    if task.action_label_key and task.action_payload:
        return [*buttons, [task.action_label_key, task.action_payload]]
    return buttons


async def _push_assigned(session: AsyncSession, task: Task, person_id: int, now: datetime) -> None:
    assert task.id is not None
    buttons = [
        ["task.btn_view", f"task:view:{task.id}"],
        ["task.btn_finish", f"task:finish:{task.id}"],
    ]
    await tell(
        session, person_id, task, "task.assigned_push", now, choices=_with_action(task, buttons)
    )


async def get_task(session: AsyncSession, task_id: int) -> Task:
    """The task, or a polite 'no such task'."""
    task = await session.get(Task, task_id)
    if task is None:
        raise DomainError("task.not_found")
    return task


def staff_scope(community_id: int, roles: frozenset[tuple[str, int | None]]) -> Scope | None:
    """The grids a person oversees (a manager: all; a grid leader: theirs), or None."""
    try:
        return Scope.of(community_id, roles)
    except DomainError:
        return None


def oversees(scope: Scope | None, community_id: int, grid_id: int) -> bool:
    """True when the scope covers that grid of that community."""
    return (
        scope is not None
        and scope.community_id == community_id
        and (scope.grids is None or grid_id in scope.grids)
    )


async def may_see(session: AsyncSession, task: Task, person: Person, scope: Scope | None) -> bool:
    """Offered to them, held by them, or they lead its grid / manage the community."""
    if task.assignee_id == person.id:
        return True
    if oversees(scope, task.community_id, task.grid_id):
        return True
    offered = await session.get(TaskOffer, (task.id, person.id))
    return offered is not None


async def take_task(
    session: AsyncSession, task_id: int, person: Person, scope: Scope | None, now: datetime
) -> Task:
    """First press of 接单 wins, atomically; a second press by the winner is a no-op."""
    task = await get_task(session, task_id)
    if not await may_see(session, task, person, scope):
        raise DomainError("error.forbidden")
    won = await session.execute(
        update(Task)
        .where(col(Task.id) == task_id, col(Task.state) == TaskState.OPEN)
        .values(state=TaskState.TAKEN, assignee_id=person.id, taken_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(task)
    if won.rowcount != 1:  # type: ignore[attr-defined]
        if task.assignee_id == person.id and task.state == TaskState.TAKEN:
            raise DomainError("task.already_yours", id=task.id)
        if task.state == TaskState.DONE:
            raise DomainError("task.already_done", id=task.id)
        if task.state == TaskState.CANCELLED:
            raise DomainError("task.cancelled", id=task.id)
        holder = await session.get(Person, task.assignee_id) if task.assignee_id else None
        raise DomainError("task.taken_by_other", id=task.id, name=holder.name if holder else "")
    await _tell_gone(session, task, person, now)
    return task


async def _tell_gone(session: AsyncSession, task: Task, holder: Person, now: datetime) -> None:
    """The others offered the task (who did not decline) hear who has it now."""
    others = (
        await session.execute(
            select(col(TaskOffer.person_id)).where(
                col(TaskOffer.task_id) == task.id,
                col(TaskOffer.person_id) != holder.id,
                col(TaskOffer.declined_at).is_(None),
            )
        )
    ).scalars()
    for other in list(others):
        await tell(session, other, task, "task.gone", now, priority=3, name=holder.name)


async def decline_task(session: AsyncSession, task_id: int, person: Person, now: datetime) -> Task:
    """不接: recorded; when everyone offered has declined, the grid leaders hear of it."""
    task = await get_task(session, task_id)
    offer_row = await session.get(TaskOffer, (task_id, person.id))
    if offer_row is None:
        raise DomainError("error.forbidden")
    if task.state != TaskState.OPEN:
        raise DomainError("task.not_open", id=task_id)
    if offer_row.declined_at is not None:
        raise DomainError("task.already_declined", id=task_id)
    offer_row.declined_at = now
    await session.flush()
    left = (
        await session.execute(
            select(func.count())
            .select_from(TaskOffer)
            .where(col(TaskOffer.task_id) == task_id, col(TaskOffer.declined_at).is_(None))
        )
    ).scalar_one()
    if left == 0:
        await notify_leaders(session, task, "task.nobody_left", now)
    return task


async def notify_leaders(session: AsyncSession, task: Task, key: str, now: datetime) -> None:
    """Tell the task's grid leaders (with the assign button)."""
    assert task.id is not None
    for leader in await role_holders(session, "grid_leader", task.community_id, task.grid_id):
        await tell(session, leader, task, key, now, choices=leader_buttons(task.id))


async def release_task(session: AsyncSession, task_id: int, person: Person, now: datetime) -> Task:
    """Hand a task back: open again, offered again to everyone who has not declined."""
    task = await get_task(session, task_id)
    if task.assignee_id != person.id:
        raise DomainError("error.forbidden")
    if task.state != TaskState.TAKEN:
        raise DomainError("task.not_taken", id=task_id)
    task.state = TaskState.OPEN
    task.assignee_id = None
    task.taken_at = None
    offer_row = await session.get(TaskOffer, (task_id, person.id))
    if offer_row is not None:
        offer_row.declined_at = now
    await session.flush()
    again = (
        await session.execute(
            select(col(TaskOffer.person_id)).where(
                col(TaskOffer.task_id) == task_id, col(TaskOffer.declined_at).is_(None)
            )
        )
    ).scalars()
    for other in await reachable(session, list(again), now):
        await tell(
            session,
            other,
            task,
            "task.back_open",
            now,
            choices=_with_action(task, task_buttons(task_id)),
        )
    await notify_leaders(session, task, "task.handed_back", now)
    return task


async def assignable_volunteers(session: AsyncSession, task: Task) -> list[Person]:
    """Volunteers and grid leaders of the task's grid, by name."""
    ids = set(await role_holders(session, "volunteer", task.community_id, task.grid_id))
    ids |= set(await role_holders(session, "grid_leader", task.community_id, task.grid_id))
    if not ids:
        return []
    rows = (
        await session.execute(
            select(Person).where(col(Person.id).in_(ids)).order_by(col(Person.id))
        )
    ).scalars()
    return list(rows)


async def assign_task(
    session: AsyncSession,
    task_id: int,
    leader: Person,
    scope: Scope | None,
    volunteer_id: int,
    now: datetime,
) -> tuple[Task, Person]:
    """A grid leader (of that grid) or a manager gives the task to a named volunteer."""
    task = await get_task(session, task_id)
    if not oversees(scope, task.community_id, task.grid_id):
        raise DomainError("error.forbidden")
    if task.state not in (TaskState.OPEN, TaskState.TAKEN):
        raise DomainError("task.not_open", id=task_id)
    candidates = {p.id: p for p in await assignable_volunteers(session, task)}
    volunteer = candidates.get(volunteer_id)
    if volunteer is None:
        raise DomainError("task.not_a_volunteer")
    if task.assignee_id == volunteer_id:
        raise DomainError("task.already_assigned", id=task_id, name=volunteer.name)
    previous = task.assignee_id
    was_open = task.state == TaskState.OPEN
    task.state = TaskState.TAKEN
    task.assignee_id = volunteer_id
    task.assigned_by_id = leader.id
    task.taken_at = now
    if await session.get(TaskOffer, (task_id, volunteer_id)) is None:
        session.add(TaskOffer(task_id=task_id, person_id=volunteer_id, offered_at=now))
    await session.flush()
    await _push_assigned(session, task, volunteer_id, now)
    if previous is not None and previous != volunteer_id:
        await tell(session, previous, task, "task.reassigned_away", now, priority=3)
    if was_open:  # as when someone takes it: the others hear it is gone
        await _tell_gone(session, task, volunteer, now)
    return task, volunteer


async def add_note(session: AsyncSession, task_id: int, person: Person, text: str) -> Task:
    """The holder adds a note to the task (kept with it, shown on its card)."""
    task = await get_task(session, task_id)
    if task.assignee_id != person.id:
        raise DomainError("error.forbidden")
    text = text.strip()
    if not text:
        raise DomainError("task.note_empty")
    task.note = ((task.note + "\n") if task.note else "") + text[:200]
    task.note = task.note[-500:]
    return task


def check_minutes(minutes: int) -> int:
    """Stated time within bounds, or a clear refusal."""
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise DomainError("task.minutes_bounds", low=MIN_MINUTES, high=MAX_MINUTES // 60)
    return minutes


async def finish_task(
    session: AsyncSession, task_id: int, person: Person, minutes: int, now: datetime
) -> Task:
    """The holder finishes the task, stating the time it took (credited later, once)."""
    task = await get_task(session, task_id)
    if task.state == TaskState.DONE:
        raise DomainError("task.already_done", id=task_id)
    if task.assignee_id != person.id or task.state != TaskState.TAKEN:
        raise DomainError("task.not_yours", id=task_id)
    task.minutes_claimed = check_minutes(minutes)
    task.state = TaskState.DONE
    task.done_at = now
    await session.flush()
    return task


async def credit_hours(session: AsyncSession, now: datetime) -> int:
    """Finished tasks whose rating came (or 72 hours passed without one) → hours, once each."""
    rated = exists().where(col(Rating.task_id) == Task.id)
    due = (
        await session.execute(
            select(Task)
            .where(
                col(Task.state) == TaskState.DONE,
                col(Task.hours_credited_at).is_(None),
                col(Task.minutes_claimed).is_not(None),
                col(Task.assignee_id).is_not(None),
                or_(
                    col(Task.kind) != TaskKind.REPORT,
                    rated,
                    and_(col(Task.done_at) <= now - HOURS_WAIT_FOR_RATING),
                ),
            )
            .order_by(col(Task.id))
            .limit(500)
        )
    ).scalars()
    count = 0
    for task in list(due):
        assert task.id is not None and task.assignee_id is not None
        claimed = await session.execute(
            update(Task)
            .where(col(Task.id) == task.id, col(Task.hours_credited_at).is_(None))
            .values(hours_credited_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        minutes = task.minutes_claimed or 0
        session.add(
            VolunteerHours(
                task_id=task.id, person_id=task.assignee_id, minutes=minutes, credited_at=now
            )
        )
        await enqueue(
            session,
            person_id=task.assignee_id,
            kind="hours",
            dedupe_key=f"hours:{task.id}",
            now=now,
            text_key="hours.credited",
            values={"id": task.id, "hours": f"{minutes / 60:.1f}"},
            priority=4,
        )
        count += 1
    await session.flush()
    return count


@dataclass(frozen=True)
class Hours:
    """A volunteer's recorded time, in minutes."""

    total: int
    this_month: int
    tasks: int


async def hours_of(session: AsyncSession, person_id: int, now: datetime, zone: ZoneInfo) -> Hours:
    """All recorded time, and this calendar month's (in the community's time zone)."""
    local = now.astimezone(zone)
    month_start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0).astimezone(
        now.tzinfo
    )
    total, count = (
        await session.execute(
            select(func.coalesce(func.sum(VolunteerHours.minutes), 0), func.count()).where(
                col(VolunteerHours.person_id) == person_id
            )
        )
    ).one()
    month = (
        await session.execute(
            select(func.coalesce(func.sum(VolunteerHours.minutes), 0)).where(
                col(VolunteerHours.person_id) == person_id,
                col(VolunteerHours.credited_at) >= month_start,
            )
        )
    ).scalar_one()
    return Hours(int(total), int(month), int(count))


async def my_tasks(session: AsyncSession, person_id: int) -> tuple[list[Task], list[Task]]:
    """(held by me, open and offered to me) — oldest first."""
    held = (
        await session.execute(
            select(Task)
            .where(col(Task.assignee_id) == person_id, col(Task.state) == TaskState.TAKEN)
            .order_by(col(Task.created_at))
        )
    ).scalars()
    offered = (
        await session.execute(
            select(Task)
            .join(TaskOffer, col(TaskOffer.task_id) == col(Task.id))
            .where(
                col(TaskOffer.person_id) == person_id,
                col(TaskOffer.declined_at).is_(None),
                col(Task.state) == TaskState.OPEN,
            )
            .order_by(col(Task.created_at))
        )
    ).scalars()
    return list(held), list(offered)


async def open_task_with_action(
    session: AsyncSession, assignee_id: int, action_payload: str
) -> Task | None:
    """The unfinished task this person holds whose extra button is `action_payload` (a home visit)."""
    return (
        await session.execute(
            select(Task)
            .where(
                col(Task.assignee_id) == assignee_id,
                col(Task.action_payload) == action_payload,
                col(Task.state) == TaskState.TAKEN,
            )
            .order_by(col(Task.id))
            .limit(1)
        )
    ).scalar_one_or_none()
