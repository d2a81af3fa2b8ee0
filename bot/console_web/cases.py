"""Cases: the list with filters, one case (photos, timeline), assign and close — the chat's use
cases (`assign_task`, and `close_case` for staff), re-checked against the viewer's grids."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console_web.desk import Desk, NotFound, int_or_none, see_other
from bot.media_store import STORE
from models.console_views import (
    CaseFilters,
    case_for,
    case_list,
    oversees_case,
    photo_for,
    timeline,
    visible_grids,
)
from models.errors import DomainError
from models.reports import CATEGORIES, STATE_GROUPS, case_no, task_of, view_report
from models.reports.closing import close_case
from models.tables import Person
from models.tasks import TaskState, assign_task, assignable_volunteers


def routes(desk: Desk) -> list[Route]:
    async def index(request: Request) -> Response:
        q = request.query_params
        group = q.get("group") if q.get("group") in STATE_GROUPS else None
        category = q.get("category") if q.get("category") in CATEGORIES else None
        filters = CaseFilters(
            group=group,
            grid_id=int_or_none(q.get("grid")),
            category=category,
            older_than_days=int_or_none(q.get("older")),
        )
        async with desk.signed(request) as s:
            rows = await case_list(s.session, s.viewer, filters, desk.now())
            return s.render(
                "cases.html",
                rows=rows,
                filters=filters,
                grids=await visible_grids(s.session, s.viewer),
                groups=list(STATE_GROUPS),
                categories=CATEGORIES,
                case_no=case_no,
            )

    async def detail(request: Request) -> Response:
        report_id = int_or_none(request.path_params["id"])
        async with desk.signed(request) as s:
            report = await case_for(s.session, s.viewer, report_id) if report_id else None
            if report is None:
                raise NotFound()
            view = await view_report(s.session, report, s.viewer.person, s.viewer.scope)
            task = await task_of(s.session, report)
            staff = oversees_case(s.viewer, report)
            volunteers = (
                await assignable_volunteers(s.session, task)
                if staff and task is not None and task.state in (TaskState.OPEN, TaskState.TAKEN)
                else []
            )
            holder = None
            if task is not None and task.assignee_id is not None:
                holder = next((v.name for v in volunteers if v.id == task.assignee_id), None)
                if holder is None:
                    person = await s.session.get(Person, task.assignee_id)
                    holder = person.name if person else None
            return s.render(
                "case.html",
                report=report,
                view=view,
                task=task,
                holder=holder,
                staff=staff,
                volunteers=volunteers,
                events=await timeline(s.session, report.id),  # type: ignore[arg-type]
                no=case_no(report.id),  # type: ignore[arg-type]
                done=request.query_params.get("done"),
                store=STORE,
            )

    async def assign(request: Request) -> Response:
        report_id = int_or_none(request.path_params["id"]) or 0
        back = f"/console/cases/{report_id}"
        try:
            async with desk.signed(request, post=True) as s:
                report = await case_for(s.session, s.viewer, report_id)
                if report is None or report.task_id is None:
                    raise NotFound()
                volunteer = int_or_none(s.field("volunteer"))
                if volunteer is None:
                    raise DomainError("task.not_a_volunteer")
                await assign_task(
                    s.session, report.task_id, s.viewer.person, s.viewer.scope, volunteer,
                    desk.now(),
                )  # fmt: skip
        except DomainError as err:
            return desk.refused(request, err, back)
        desk.committed()
        return see_other(back + "?done=assigned")

    async def close(request: Request) -> Response:
        report_id = int_or_none(request.path_params["id"]) or 0
        back = f"/console/cases/{report_id}"
        try:
            async with desk.signed(request, post=True) as s:
                if await case_for(s.session, s.viewer, report_id) is None:
                    raise NotFound()
                await close_case(
                    s.session, report_id, s.viewer.person, s.viewer.scope, s.field("reason"),
                    desk.now(),
                )  # fmt: skip
        except DomainError as err:
            return desk.refused(request, err, back)
        desk.committed()
        return see_other(back + "?done=closed")

    async def photo(request: Request) -> Response:
        photo_id = int_or_none(request.path_params["id"])
        async with desk.signed(request) as s:
            found = await photo_for(s.session, s.viewer, photo_id) if photo_id else None
        # Read after the transaction: the media store opens its own (one writer on SQLite).
        if found is None or found.channel != STORE:
            raise NotFound()
        try:
            data, content_type = await desk.linli.media.read(found.ref)
        except KeyError as err:
            raise NotFound() from err
        return Response(data, media_type=content_type, headers={"cache-control": "private"})

    return [
        Route("/cases", index, methods=["GET"]),
        Route("/cases/{id}", detail, methods=["GET"]),
        Route("/cases/{id}/assign", assign, methods=["POST"]),
        Route("/cases/{id}/close", close, methods=["POST"]),
        Route("/media/photo/{id}", photo, methods=["GET"]),
    ]
