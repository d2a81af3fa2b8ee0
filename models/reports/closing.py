"""Staff close a case by hand (the resident never rated it; it was no problem; it is elsewhere)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models.errors import DomainError
from models.outbox import enqueue
from models.people import Scope
from models.reports.filing import case_no, event, group_of, task_of, tell_followers
from models.reports.tables import Report, ReportState
from models.tables import Person
from models.tasks import TaskState, oversees

MAX_NOTE = 300


async def close_case(
    session: AsyncSession,
    report_id: int,
    actor: Person,
    scope: Scope | None,
    note: str,
    now: datetime,
) -> Report:
    """A grid leader (of its grid) or a manager closes a case, saying why; an open task is
    withdrawn (its holder is told) and the followers hear the reason."""
    report = await session.get(Report, report_id)
    if report is None or not oversees(scope, report.community_id, report.grid_id):
        raise DomainError("report.not_found")
    if group_of(report.state) == "closed":
        raise DomainError("report.already_closed", no=case_no(report_id))
    note = note.strip()[:MAX_NOTE]
    if not note:
        raise DomainError("web.close_reason_needed")
    task = await task_of(session, report)
    if task is not None and task.state in (TaskState.OPEN, TaskState.TAKEN):
        task.state = TaskState.CANCELLED
        if task.assignee_id is not None and task.assignee_id != actor.id:
            await enqueue(
                session,
                person_id=task.assignee_id,
                kind="task",
                dedupe_key=f"task:{task.id}:withdrawn",
                now=now,
                text_key="web.task_withdrawn",
                values={"no": case_no(report_id), "reason": note},
                priority=2,
            )
    event(session, report, "closed_by_staff", now, actor.id, ReportState.CLOSED, note=note)
    report.closed_at = now
    await tell_followers(session, report, "web.case_closed_notice", now, reason=note)
    await session.flush()
    return report
