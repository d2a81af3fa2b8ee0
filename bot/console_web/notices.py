"""Notices: compose, preview the audience and its reach, send now or schedule (the chat's
`create_notice`), and the delivery report with who was not reached and why."""

from __future__ import annotations

from datetime import datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console_web.desk import Desk, Forbidden, NotFound, Signed, int_or_none, see_other
from models.errors import DomainError
from models.notices import (
    Audience,
    Category,
    count_audience,
    create_notice,
    missed,
    notice_report,
    recent_notices,
)
from models.people import buildings_in_scope, grids_in_scope

PLAIN_AUDIENCES = (
    Audience.COMMUNITY,
    Audience.VOLUNTEERS,
    Audience.REPRESENTATIVES,
    Audience.ELDERLY,
    Audience.COURIERS,
)
AUDIENCE_KEYS = {
    Audience.COMMUNITY: "notice.aud_community",
    Audience.VOLUNTEERS: "notice.aud_volunteers",
    Audience.REPRESENTATIVES: "notice.aud_reps",
    Audience.ELDERLY: "notice.aud_elderly",
    Audience.COURIERS: "notice.aud_couriers",
}


def parse_target(target: str) -> tuple[str, int | None]:
    """'community', 'grid:3', 'building:7' … → (audience, argument); DomainError otherwise."""
    kind, _, arg = target.partition(":")
    if kind in (Audience.GRID, Audience.BUILDING):
        number = int_or_none(arg)
        if number is None:
            raise DomainError("error.forbidden")
        return kind, number
    if kind in {a.value for a in PLAIN_AUDIENCES} and not arg:
        return kind, None
    raise DomainError("error.forbidden")


async def _targets(s: Signed) -> list[tuple[str, str]]:
    """The audiences this author may choose, as (value, label)."""
    assert s.viewer.scope is not None
    out = [(a.value, s.t(AUDIENCE_KEYS[a])) for a in PLAIN_AUDIENCES]
    for grid in await grids_in_scope(s.session, s.viewer.scope):
        out.append((f"grid:{grid.id}", f"{s.t('notice.aud_grid')} · {grid.name}"))
    for b in await buildings_in_scope(s.session, s.viewer.scope):
        out.append((f"building:{b.id}", f"{s.t('notice.aud_building')} · {b.estate}{b.number}幢"))
    return out


def _when(s: Signed, text: str) -> datetime | None:
    """A datetime-local field ('2026-03-08T09:30', community time) → UTC; '' → now."""
    if not text.strip():
        return None
    try:
        local = datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M")
    except ValueError as err:
        raise DomainError("web.bad_time") from err
    return local.replace(tzinfo=s.zone)


def routes(desk: Desk) -> list[Route]:
    async def index(request: Request) -> Response:
        async with desk.signed(request) as s:
            if s.viewer.scope is None:
                raise Forbidden()
            notices = await recent_notices(s.session, s.viewer.person, s.viewer.roles, limit=20)
            reports = [await notice_report(s.session, n.id) for n in notices if n.id]
            return s.render(
                "notices.html",
                targets=await _targets(s),
                categories=[c.value for c in Category],
                reports=reports,
                preview=None,
            )

    async def preview(request: Request) -> Response:
        try:
            async with desk.signed(request, post=True) as s:
                if s.viewer.scope is None:
                    raise Forbidden()
                target = s.field("target", 32)
                audience, arg = parse_target(target)
                category = s.field("category", 16)
                if category not in {c.value for c in Category}:
                    raise DomainError("notice.bad_category")
                text = s.field("text", 3600).strip()
                if not text:
                    raise DomainError("notice.empty")
                when = _when(s, s.field("when", 20))
                reach = await count_audience(
                    s.session, s.viewer.scope, audience, arg, category, desk.now().date()
                )
                labels = dict(await _targets(s))
                return s.render(
                    "notice_preview.html",
                    target=target,
                    target_label=labels.get(target, target),
                    category=category,
                    text=text,
                    when=s.field("when", 20),
                    when_local=s.local(when) if when else None,
                    reach=reach,
                )
        except DomainError as err:
            return desk.refused(request, err, "/console/notices")

    async def send(request: Request) -> Response:
        try:
            async with desk.signed(request, post=True) as s:
                if s.viewer.scope is None:
                    raise Forbidden()
                audience, arg = parse_target(s.field("target", 32))
                notice = await create_notice(
                    s.session, s.viewer.person, s.viewer.roles, audience=audience, arg=arg,
                    category=s.field("category", 16), text=s.field("text", 3600),
                    now=desk.now(), scheduled_at=_when(s, s.field("when", 20)),
                )  # fmt: skip
        except DomainError as err:
            return desk.refused(request, err, "/console/notices")
        desk.committed()
        return see_other(f"/console/notices/{notice.id}")

    async def report(request: Request) -> Response:
        notice_id = int_or_none(request.path_params["id"])
        async with desk.signed(request) as s:
            try:
                found = await notice_report(
                    s.session, notice_id or 0, s.viewer.person, s.viewer.roles
                )
                unreached = await missed(
                    s.session, notice_id or 0, s.viewer.person, s.viewer.roles, limit=200
                )
            except DomainError as err:
                raise NotFound() from err
            return s.render("notice_report.html", report=found, missed=unreached)

    return [
        Route("/notices", index, methods=["GET"]),
        Route("/notices/preview", preview, methods=["POST"]),
        Route("/notices/send", send, methods=["POST"]),
        Route("/notices/{id}", report, methods=["GET"]),
    ]
