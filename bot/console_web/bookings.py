"""预约: the service points a viewer runs, their sessions this week and next (places held,
waitlist, the no-show rate), one session's list of who booked, and cancelling a session — the
chat's use cases (`session_board`, `cancel_session`: everyone booked or waiting is told).
A grid leader's page is read-only: their grids' residents' bookings (models/desk_grid_bookings)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console_web.desk import Desk, Forbidden, NotFound, int_or_none, see_other
from models.booking_desk import cancel_session
from models.bookings import add_series, parse_series
from models.desk_bookings import desk_points, may_see_bookings, session_people, two_weeks
from models.desk_grid_bookings import grid_bookings, may_see_grid_bookings
from models.errors import DomainError


def routes(desk: Desk) -> list[Route]:
    async def index(request: Request) -> Response:
        async with desk.signed(request) as s:
            runs_points = may_see_bookings(s.viewer)
            if not runs_points and not may_see_grid_bookings(s.viewer):
                raise Forbidden()
            boards = await two_weeks(s.session, s.viewer, desk.now()) if runs_points else []
            # A grid leader's residents; a manager already sees every point's lists.
            grid = (
                await grid_bookings(s.session, s.viewer, desk.now())
                if s.viewer.is_grid_leader and not s.viewer.is_manager
                else None
            )
            made = int_or_none(request.query_params.get("made"))
            return s.render(
                "bookings.html", boards=boards, grid=grid, runs_points=runs_points,
                now=desk.now(), made=made,
            )  # fmt: skip

    async def detail(request: Request) -> Response:
        slot_id = int_or_none(request.path_params["id"]) or 0
        async with desk.signed(request) as s:
            if not may_see_bookings(s.viewer):
                raise Forbidden()
            try:
                slot, point, people = await session_people(s.session, s.viewer, slot_id)
            except DomainError as err:
                raise NotFound() from err
            return s.render(
                "booking_session.html",
                slot=slot,
                point=point,
                people=people,
                now=desk.now(),
                done=request.query_params.get("done"),
            )

    async def cancel(request: Request) -> Response:
        slot_id = int_or_none(request.path_params["id"]) or 0
        back = f"/console/bookings/{slot_id}"
        try:
            async with desk.signed(request, post=True) as s:
                if not may_see_bookings(s.viewer):
                    raise Forbidden()
                try:
                    await session_people(s.session, s.viewer, slot_id)
                except DomainError as err:
                    raise NotFound() from err
                await cancel_session(s.session, slot_id, s.viewer.id, desk.now())
        except DomainError as err:
            return desk.refused(request, err, back)
        desk.committed()
        return see_other(back + "?done=session_cancelled")

    async def series(request: Request) -> Response:
        """New sessions for a point, in the chat's one sentence (`parse_series`, `add_series`)."""
        point_id = int_or_none(request.path_params["id"]) or 0
        try:
            async with desk.signed(request, post=True) as s:
                if not may_see_bookings(s.viewer):
                    raise Forbidden()
                if point_id not in {p.id for p in await desk_points(s.session, s.viewer)}:
                    raise NotFound()
                spec = parse_series(s.field("series", 200))
                _series, made = await add_series(
                    s.session, point_id, spec, desk.now(), person_id=s.viewer.id
                )
        except DomainError as err:
            return desk.refused(request, err, "/console/bookings")
        desk.committed()
        return see_other(f"/console/bookings?made={made}#point-{point_id}")

    return [
        Route("/bookings", index, methods=["GET"]),
        Route("/bookings/points/{id}/series", series, methods=["POST"]),
        Route("/bookings/{id}", detail, methods=["GET"]),
        Route("/bookings/{id}/cancel", cancel, methods=["POST"]),
    ]
