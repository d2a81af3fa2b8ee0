"""投票: the polls a viewer may manage (status, deadline, turnout and turnout by grid), the
result as an inline chart, a named poll's voters (managers only; an anonymous poll has none),
closing early and the tally's .xlsx — the chat's use cases (`close_early`, `tally_xlsx`)."""

from __future__ import annotations

from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console_web.charts import simple_bars
from bot.console_web.desk import Desk, Forbidden, NotFound, Signed, int_or_none, see_other
from models.errors import DomainError
from models.poll_results import (
    close_early,
    managed_poll,
    may_create,
    percent,
    polls_managed_by,
    tally_xlsx,
    turnout_by_grid,
    voter_list,
)
from models.polls import Poll, tally

LISTED = 30


async def _poll(s: Signed, poll_id: int) -> Poll:
    """The poll when this viewer may manage it; 404 otherwise (another community's, a grid's)."""
    if not may_create(s.viewer.roles):
        raise Forbidden()
    try:
        return await managed_poll(s.session, poll_id, s.viewer.person, s.viewer.roles)
    except DomainError as err:
        raise NotFound() from err


def routes(desk: Desk) -> list[Route]:
    async def index(request: Request) -> Response:
        async with desk.signed(request) as s:
            if not may_create(s.viewer.roles):
                raise Forbidden()
            polls = await polls_managed_by(s.session, s.viewer.person, s.viewer.roles, LISTED)
            rows = [(p, await tally(s.session, p.id or 0)) for p in polls]
            return s.render("polls.html", rows=rows, percent=percent)

    async def detail(request: Request) -> Response:
        poll_id = int_or_none(request.path_params["id"]) or 0
        async with desk.signed(request) as s:
            poll = await _poll(s, poll_id)
            t = await tally(s.session, poll_id)
            total = sum(n for _, n in t.counts)
            chart = Markup(
                simple_bars(
                    [(o.label, n) for o, n in t.counts], poll.question, s.t("web.poll_votes")
                )
            )
            voters = (
                await voter_list(s.session, poll)
                if s.viewer.is_manager and not poll.anonymous
                else None
            )
            return s.render(
                "poll.html",
                poll=poll,
                tally=t,
                total=total,
                chart=chart,
                grids=await turnout_by_grid(s.session, poll),
                voters=voters,
                percent=percent,
                done=request.query_params.get("done"),
            )

    async def close(request: Request) -> Response:
        poll_id = int_or_none(request.path_params["id"]) or 0
        back = f"/console/polls/{poll_id}"
        try:
            async with desk.signed(request, post=True) as s:
                await _poll(s, poll_id)
                closed = await close_early(
                    s.session, poll_id, s.viewer.person, s.viewer.roles, desk.now()
                )
        except DomainError as err:
            return desk.refused(request, err, back)
        desk.committed()
        return see_other(back + ("?done=poll_closed" if closed else "?done=poll_already"))

    async def export(request: Request) -> Response:
        poll_id = int_or_none(request.path_params["id"]) or 0
        async with desk.signed(request) as s:
            body = await tally_xlsx(s.session, await _poll(s, poll_id))
        return Response(
            body,
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            headers={"content-disposition": f'attachment; filename="poll-{poll_id}.xlsx"'},
        )

    return [
        Route("/polls", index, methods=["GET"]),
        Route("/polls/{id}", detail, methods=["GET"]),
        Route("/polls/{id}/close", close, methods=["POST"]),
        Route("/polls/{id}/export", export, methods=["GET"]),
    ]
