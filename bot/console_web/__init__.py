"""The staff desk (web console) under /console: server-rendered pages for grid leaders,
managers and team leaders, signed in by a one-time link from the chat ("/web").

One module per page (`dashboard`, `cases`, `applications`, `register`, `notices`, `events`,
`bookings`, `polls`, `audit`, `signin`); `desk.py` has what they share. Pages call the same
use cases of `models/` as the chat, so a decision on the desk is the decision the chat would make.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from bot.app import Linli
from bot.console_web import (
    applications,
    audit,
    bookings,
    cases,
    dashboard,
    event_form,
    events,
    notices,
    poll_form,
    polls,
    register,
    signin,
)
from bot.console_web.desk import HERE, Desk, Forbidden, NotFound, NotSignedIn, SecurityHeaders


def console_app(linli: Linli) -> Starlette:
    """The desk as an ASGI app, to be mounted at /console."""
    desk = Desk(linli)
    routes: list[BaseRoute] = [
        *signin.routes(desk),
        *dashboard.routes(desk),
        *cases.routes(desk),
        *applications.routes(desk),
        *register.routes(desk),
        *notices.routes(desk),
        *event_form.routes(desk),  # /events/new before /events/{id}
        *events.routes(desk),
        *bookings.routes(desk),
        *poll_form.routes(desk),  # /polls/new before /polls/{id}
        *polls.routes(desk),
        *audit.routes(desk),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    async def not_signed_in(request: Request, _exc: Exception) -> Response:
        # A form posted without a session is refused like one without its CSRF token.
        status = 401 if request.method == "GET" else 403
        locale = desk.locale_of(request)
        return desk.render(request, "signin_needed.html", status=status, locale=locale)

    async def forbidden(request: Request, _exc: Exception) -> Response:
        return desk.render(request, "forbidden.html", status=403, locale=desk.locale_of(request))

    async def not_found(request: Request, _exc: Exception) -> Response:
        return desk.render(request, "not_found.html", status=404, locale=desk.locale_of(request))

    return Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={
            NotSignedIn: not_signed_in,
            Forbidden: forbidden,
            NotFound: not_found,
            404: not_found,
        },
    )


def console_routes(linli: Linli) -> list[BaseRoute]:
    """What bot/web.py adds to the service: /console (→ /console/) and the desk itself."""

    async def to_desk(_request: Request) -> Response:
        return RedirectResponse("/console/", status_code=307)

    return [Route("/console", to_desk), Mount("/console", app=console_app(linli))]
