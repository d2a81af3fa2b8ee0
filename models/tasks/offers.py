"""New tasks and who hears of them: offering to the right people, messages about a task."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.db import utcnow
from models.outbox import enqueue
from models.tables import RoleGrant
from models.tasks.tables import Task, TaskOffer, TaskState
from models.teams import push_times, reachable, usable_members


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
