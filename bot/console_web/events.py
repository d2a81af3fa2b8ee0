"""Events: the list, one event's sign-up and attendance list, and its export (models/events)."""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console_web.desk import Desk, NotFound, int_or_none
from models.console_views import week_events
from models.errors import DomainError
from models.events import get_event, may_create_events, may_organise, roster, roster_xlsx

PAST_DAYS = 30
# What ?done= may name after a form (anything else shows nothing).
DONE = {k: k for k in ("event_created", "event_changed", "event_cancelled")}


def routes(desk: Desk) -> list[Route]:
    async def index(request: Request) -> Response:
        async with desk.signed(request) as s:
            since = desk.now() - timedelta(days=PAST_DAYS)
            rows = await week_events(s.session, s.viewer, since, None)
            may_create = await may_create_events(s.session, s.viewer.person)
            return s.render("events.html", rows=rows, may_create=may_create)

    async def detail(request: Request) -> Response:
        event_id = int_or_none(request.path_params["id"])
        async with desk.signed(request) as s:
            try:
                event, slot = await get_event(s.session, event_id or 0)
            except DomainError as err:
                raise NotFound() from err
            if event.community_id != s.viewer.community_id:
                raise NotFound()
            organiser = await may_organise(s.session, event, s.viewer.id)
            people = await roster(s.session, event.id, s.viewer.id) if organiser else []  # type: ignore[arg-type]
            told = int_or_none(request.query_params.get("told")) or 0
            return s.render(
                "event.html", event=event, slot=slot, organiser=organiser, people=people,
                done=DONE.get(request.query_params.get("done", "")), told=told, now=desk.now(),
            )  # fmt: skip

    async def export(request: Request) -> Response:
        event_id = int_or_none(request.path_params["id"])
        try:
            async with desk.signed(request) as s:
                event, _slot = await get_event(s.session, event_id or 0)
                if event.community_id != s.viewer.community_id:
                    raise NotFound()
                body = await roster_xlsx(s.session, event.id, s.viewer.id)  # type: ignore[arg-type]
        except DomainError as err:
            return desk.refused(request, err, "/console/events")
        return Response(
            body,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"content-disposition": f'attachment; filename="event-{event_id}.xlsx"'},
        )

    return [
        Route("/events", index, methods=["GET"]),
        Route("/events/{id}", detail, methods=["GET"]),
        Route("/events/{id}/export", export, methods=["GET"]),
    ]
