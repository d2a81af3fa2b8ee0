"""A task's moves — take, decline, hand back, assign, note, finish — each one transaction.

Every move re-checks who may make it, whatever a button said, and is idempotent: taking a task
one already holds, or finishing a finished one, changes nothing and says so (a DomainError key).
The task's kind adds its own part through the hooks it registered (`models.tasks.kinds`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.people import Scope
from models.tables import Person
from models.tasks.kinds import task_kind
from models.tasks.offers import (
    _push_assigned,
    _with_action,
    leader_buttons,
    role_holders,
    task_buttons,
    tell,
)
from models.tasks.tables import Task, TaskOffer, TaskState
from models.teams import reachable

MIN_MINUTES = 5
MAX_PHOTO_BYTES = 5 * 1024 * 1024  # a photo (a report's, the after-photo of a finished task)
MAX_MINUTES = 8 * 60


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


async def accept_task(
    session: AsyncSession, task_id: int, person: Person, scope: Scope | None, now: datetime
) -> Task:
    """接单: the task is this person's (first press wins); its kind hears of it."""
    task = await take_task(session, task_id, person, scope, now)
    hooks = task_kind(task.kind)
    if hooks.on_taken is not None:
        await hooks.on_taken(session, task, person, now)
    return task


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


async def hand_back(session: AsyncSession, task_id: int, person: Person, now: datetime) -> Task:
    """退回: the task is open and offered again; its kind hears of it."""
    task = await release_task(session, task_id, person, now)
    hooks = task_kind(task.kind)
    if hooks.on_released is not None:
        await hooks.on_released(session, task, person, now)
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
    hooks = task_kind(task.kind)
    if hooks.on_assigned is not None:
        await hooks.on_assigned(session, task, volunteer, now)
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
    session: AsyncSession,
    task_id: int,
    person: Person,
    minutes: int,
    now: datetime,
    photo: tuple[str, str] | None = None,
) -> Task:
    """The holder finishes the task, stating the time it took (credited later, once); a kind
    that needs an after-photo (a report) refuses without one, and hears of the finish."""
    task = await get_task(session, task_id)
    hooks = task_kind(task.kind)
    if hooks.finish_needs_photo and photo is None and task.state != TaskState.DONE:
        raise DomainError("task.photo_needed")
    if task.state == TaskState.DONE:
        raise DomainError("task.already_done", id=task_id)
    if task.assignee_id != person.id or task.state != TaskState.TAKEN:
        raise DomainError("task.not_yours", id=task_id)
    task.minutes_claimed = check_minutes(minutes)
    task.state = TaskState.DONE
    task.done_at = now
    await session.flush()
    if hooks.on_finished is not None:
        await hooks.on_finished(session, task, person, now, photo)
    return task
