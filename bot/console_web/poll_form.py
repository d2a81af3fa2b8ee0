"""A new poll from the desk: the chat's questions (handlers/poll_admin.py) as one form, and the
chat's use case (`create_poll` of models/poll_results), so its refusals are the chat's.

Question; options one a line (2 to MAX_OPTIONS; pictures stay with the chat); audience
(residents, my grid, residents' representatives); one vote per person or per household; named,
named and changeable, or anonymous; open for 1–90 days; a reminder the day before. A refused
form is rolled back and comes back filled in with the reason (400).
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console_web.desk import Desk, Forbidden, Signed, see_other
from models.errors import DomainError
from models.poll_results import MAX_OPTIONS, PollDraft, create_poll, may_create
from models.polls import PollAudience

FIELDS = ("question", "options", "audience", "count", "secret", "days", "remind")
AUDIENCES = ("residents", "grid", "reps")
SECRETS = {"named": "polls.new_named", "change": "polls.new_named_change",
           "anon": "polls.new_anonymous"}  # fmt: skip


def _form(s: Signed, values: dict[str, str], error: str | None, status: int = 200) -> Response:
    audiences = [a for a in AUDIENCES if a != "grid" or s.viewer.person.grid_id is not None]
    return s.render(
        "poll_form.html",
        status=status,
        values=values,
        error=error,
        audiences=audiences,
        secrets=SECRETS,
        max_options=MAX_OPTIONS,
    )


def _draft(s: Signed, values: dict[str, str]) -> PollDraft:
    """The form as the chat's draft; DomainError (the chat's keys) for what it would refuse."""
    if values["audience"] not in AUDIENCES or values["secret"] not in SECRETS:
        raise DomainError("web.form_pick")
    if values["count"] not in ("person", "household") or values["remind"] not in ("yes", "no"):
        raise DomainError("web.form_pick")
    days = values["days"].strip()
    if not days.isdigit() or not 1 <= int(days) <= 90:
        raise DomainError("polls.new_bad_days")
    if values["audience"] == "grid" and s.viewer.person.grid_id is None:
        raise DomainError("web.form_pick")
    labels = [line.strip() for line in values["options"].splitlines() if line.strip()]
    return PollDraft(
        question=values["question"],
        options=[(label, None) for label in labels],
        closes_at=s.desk.now() + timedelta(days=int(days)),
        audience=PollAudience.REPRESENTATIVES
        if values["audience"] == "reps"
        else PollAudience.RESIDENTS,
        grid_id=s.viewer.person.grid_id if values["audience"] == "grid" else None,
        per_household=values["count"] == "household",
        anonymous=values["secret"] == "anon",
        changeable=values["secret"] == "change",
        remind=values["remind"] == "yes",
    )


def routes(desk: Desk) -> list[Route]:
    async def new(request: Request) -> Response:
        async with desk.signed(request) as s:
            if not may_create(s.viewer.roles):
                raise Forbidden()
            defaults = {"audience": "residents", "count": "person", "secret": "named",
                        "days": "7", "remind": "yes"}  # fmt: skip
            return _form(s, defaults, None)

    async def create(request: Request) -> Response:
        values: dict[str, str] = {}
        try:
            async with desk.signed(request, post=True) as s:
                if not may_create(s.viewer.roles):
                    raise Forbidden()
                values.update({name: s.field(name, 2000) for name in FIELDS})
                poll = await create_poll(
                    s.session, _draft(s, values), s.viewer.person, s.viewer.roles, desk.now()
                )
                poll_id = poll.id
        except DomainError as err:  # rolled back: no poll; the form comes back filled in
            async with desk.signed(request) as s:
                return _form(s, values, s.t(err.key, **err.values), status=400)
        desk.committed()
        return see_other(f"/console/polls/{poll_id}")

    return [
        Route("/polls/new", new, methods=["GET"]),
        Route("/polls/new", create, methods=["POST"]),
    ]
