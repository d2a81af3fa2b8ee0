"""A report after filing: its task's moves, the rating that closes or reopens it, 催办 and the
escalation ladder. Registers the report task kind's hooks with models.tasks."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.errors import DomainError
from models.outbox import enqueue
from models.reports.filing import (
    CHASE_EVERY,
    case_no,
    event,
    first_response_minutes,
    group_of,
    new_task,
    task_of,
    tell_followers,
)
from models.reports.tables import (
    Rating,
    Report,
    ReportFollower,
    ReportPhoto,
    ReportState,
)
from models.tables import Person
from models.tasks import (
    Task,
    TaskKind,
    TaskKindHooks,
    TaskOffer,
    TaskState,
    leader_buttons,
    register_task_kind,
    role_holders,
)

HOURS_WAIT_FOR_RATING = timedelta(hours=72)


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


async def on_task_assigned(
    session: AsyncSession, task: Task, volunteer: Person, now: datetime
) -> None:
    """👉 指派 is the same transition as taking: the case is in progress, its history records who
    assigned whom (the actor is the leader, the note names the volunteer), the followers hear who
    is on it."""
    if task.report_id is None:
        return
    report = await session.get(Report, task.report_id)
    if report is None or report.task_id != task.id:
        return
    leader = await session.get(Person, task.assigned_by_id) if task.assigned_by_id else None
    if report.state != ReportState.TAKEN or report.taken_at is None:
        report.taken_at = now
    note = f"{leader.name if leader else '?'} → {volunteer.name} (#{volunteer.id})"
    event(session, report, "assigned", now, task.assigned_by_id, ReportState.TAKEN, note=note)
    await tell_followers(
        session, report, "report.assigned_notice", now, skip=volunteer.id, name=volunteer.name
    )


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


async def on_task_finished(
    session: AsyncSession, task: Task, person: Person, now: datetime, photo: tuple[str, str] | None
) -> None:
    """Done with an after-photo: the report is done and its followers are asked to rate."""
    if task.report_id is None or photo is None:
        return
    report = await session.get(Report, task.report_id)
    if report is None:
        return
    assert report.id is not None
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


def hours_due(now: datetime) -> ColumnElement[bool]:
    """A report task's hours count once it is rated, or 72 hours after it was done."""
    rated = exists().where(col(Rating.task_id) == Task.id)
    return or_(rated, col(Task.done_at) <= now - HOURS_WAIT_FOR_RATING)


REPORT_TASKS = register_task_kind(
    TaskKindHooks(
        TaskKind.REPORT,
        on_taken=on_task_taken,
        on_released=on_task_released,
        on_assigned=on_task_assigned,
        on_finished=on_task_finished,
        finish_needs_photo=True,
        hours_due=hours_due,
    )
)


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
        # Back to the team the place names (a rest station's), else routed by category again.
        await new_task(session, report, now, team_id=report.team_id)
        reopened = await task_of(session, report)
        assert reopened is not None
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
                choices=leader_buttons(reopened.id),
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
