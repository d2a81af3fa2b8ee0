"""Events on the desk: create an activity, move it (time, place), cancel it — the chat's use
cases (`create_event`, `change_event`, `cancel_event` of models/events), with its rules.

The form asks what the chat's eight questions ask for an activity: title, date and time, place,
places, audience (the chat's choices: `handlers.events.AUDIENCES`; families may bring a child),
helpers wanted, reminders. The time is read by the chat's own parser (`parse_when`), so what
the chat refuses the desk refuses. A refused form comes back filled in, with the reason on top
(400), and nothing is created. Moving an event tells everyone signed up, as in the chat.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.console_web.desk import Desk, Forbidden, NotFound, Signed, int_or_none, see_other
from handlers.event_create import REMINDERS
from handlers.events import AUDIENCES, parse_when
from models.errors import DomainError
from models.events import (
    Audience,
    Change,
    add_duties,
    cancel_event,
    change_event,
    create_event,
    get_event,
    may_create_events,
    may_organise,
)

FIELDS = ("title", "date", "start", "end", "place", "capacity", "audience", "helpers",
          "reminders", "description")  # fmt: skip


def _when(s: Signed) -> tuple[Any, Any]:
    """The form's date and times → (start, end) in UTC, by the chat's parser; DomainError."""
    text = f"{s.field('date', 10)} {s.field('start', 5)}-{s.field('end', 5)}"
    parsed = parse_when(text, s.desk.now(), str(s.zone))
    if parsed is None or parsed[1] <= parsed[0]:
        raise DomainError("events.bad_when")
    if parsed[0] <= s.desk.now():
        raise DomainError("events.in_the_past")
    return parsed


def _number(s: Signed, name: str, low: int, high: int, key: str) -> int:
    text = s.field(name, 6).strip()
    if not text.isdigit() or not low <= int(text) <= high:
        raise DomainError(key)
    return int(text)


def _form_values(s: Signed) -> dict[str, str]:
    return {name: s.field(name, 500) for name in FIELDS}


def _form(s: Signed, *, values: dict[str, str], error: str | None, status: int = 200) -> Response:
    return s.render(
        "event_form.html",
        status=status,
        values=values,
        error=error,
        audiences=[a.value for a in AUDIENCES],
        reminders=list(REMINDERS),
    )


def routes(desk: Desk) -> list[Route]:
    async def new(request: Request) -> Response:
        async with desk.signed(request) as s:
            if not await may_create_events(s.session, s.viewer.person):
                raise Forbidden()
            defaults = {"capacity": "20", "audience": Audience.ALL.value, "helpers": "0",
                        "reminders": "default"}  # fmt: skip
            return _form(s, values=defaults, error=None)

    async def create(request: Request) -> Response:
        values: dict[str, str] = {}
        try:
            async with desk.signed(request, post=True) as s:
                if not await may_create_events(s.session, s.viewer.person):
                    raise Forbidden()
                values.update(_form_values(s))
                starts, ends = _when(s)
                capacity = _number(s, "capacity", 1, 1000, "signup.bad_capacity")
                helpers = _number(s, "helpers", 0, 50, "events.bad_number")
                audience = values["audience"]
                if audience not in {a.value for a in AUDIENCES}:
                    raise DomainError("events.bad_audience")
                reminders = REMINDERS.get(values["reminders"])
                if reminders is None:
                    raise DomainError("events.bad_choice")
                event = await create_event(
                    s.session,
                    organiser=s.viewer.person,
                    title=values["title"][:80],
                    place=values["place"][:128],
                    starts_at=starts,
                    ends_at=ends,
                    capacity=capacity,
                    audience=audience,
                    max_party=2 if audience == Audience.FAMILIES else 1,
                    reminders=reminders,
                    description=values["description"].strip()[:500] or None,
                    now=desk.now(),
                )
                if helpers:
                    await add_duties(
                        s.session, event.id or 0, s.viewer.id, s.t("events.duty_title"),
                        helpers, desk.now(),
                    )  # fmt: skip
                event_id = event.id
        except DomainError as err:  # rolled back: nothing was created; the form comes back filled
            async with desk.signed(request) as s:
                return _form(s, values=values, error=s.t(err.key, **err.values), status=400)
        desk.committed()
        return see_other(f"/console/events/{event_id}?done=event_created")

    async def _organised(s: Signed, event_id: int) -> Any:
        try:
            event, slot = await get_event(s.session, event_id)
        except DomainError as err:
            raise NotFound() from err
        if event.community_id != s.viewer.community_id:
            raise NotFound()
        if not await may_organise(s.session, event, s.viewer.id):
            raise Forbidden()
        return event, slot

    def _change_form(s: Signed, event: Any, slot: Any, values: dict[str, str], error: str | None,
                     status: int = 200) -> Response:  # fmt: skip
        return s.render(
            "event_change.html", status=status, event=event, slot=slot, values=values, error=error
        )

    async def edit(request: Request) -> Response:
        event_id = int_or_none(request.path_params["id"]) or 0
        async with desk.signed(request) as s:
            event, slot = await _organised(s, event_id)
            values = {
                "date": s.local(slot.starts_at, "%Y-%m-%d"),
                "start": s.local(slot.starts_at, "%H:%M"),
                "end": s.local(slot.ends_at, "%H:%M"),
                "place": event.place,
            }
            return _change_form(s, event, slot, values, None)

    async def change(request: Request) -> Response:
        event_id = int_or_none(request.path_params["id"]) or 0
        values: dict[str, str] = {}
        try:
            async with desk.signed(request, post=True) as s:
                await _organised(s, event_id)
                values.update({n: s.field(n, 128) for n in ("date", "start", "end", "place")})
                starts, ends = _when(s)
                place = values["place"].strip()
                if not 1 <= len(place) <= 128:
                    raise DomainError("events.bad_text")
                told = await change_event(
                    s.session, event_id, s.viewer.id,
                    Change(starts_at=starts, ends_at=ends, place=place), desk.now(),
                )  # fmt: skip
        except DomainError as err:
            async with desk.signed(request) as s:
                event, slot = await _organised(s, event_id)
                error = s.t(err.key, **err.values)
                return _change_form(s, event, slot, values, error, status=400)
        desk.committed()
        return see_other(f"/console/events/{event_id}?done=event_changed&told={told}")

    async def cancel(request: Request) -> Response:
        event_id = int_or_none(request.path_params["id"]) or 0
        try:
            async with desk.signed(request, post=True) as s:
                await _organised(s, event_id)
                told = await cancel_event(s.session, event_id, s.viewer.id, desk.now())
        except DomainError as err:
            return desk.refused(request, err, f"/console/events/{event_id}")
        desk.committed()
        return see_other(f"/console/events/{event_id}?done=event_cancelled&told={told}")

    return [
        Route("/events/new", new, methods=["GET"]),
        Route("/events/new", create, methods=["POST"]),
        Route("/events/{id}/edit", edit, methods=["GET"]),
        Route("/events/{id}/edit", change, methods=["POST"]),
        Route("/events/{id}/cancel", cancel, methods=["POST"]),
    ]
