"""The audit log: case steps, application decisions, roles, imports, console sign-ins."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console_web.desk import Desk, Forbidden
from models.console_views import audit_log


def routes(desk: Desk) -> list[Route]:
    async def show(request: Request) -> Response:
        async with desk.signed(request) as s:
            if s.viewer.scope is None:
                raise Forbidden()
            entries = await audit_log(s.session, s.viewer, limit=200)
            return s.render("audit.html", entries=entries)

    return [Route("/audit", show, methods=["GET"])]
