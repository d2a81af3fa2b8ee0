"""An organiser creates an event in the chat in at most eight questions.

Title, kind (an activity or a 议事协商会), time, place, then for an activity: places, audience,
helpers needed; for a meeting: the agenda and the invitees (groups and names); last, the
reminders (48 h and 2 h before by default). An activity is shown as its card; a meeting's
invitations go out with the RSVP buttons. The rules are `models/events/` and
`models/meetings.py`; choices are only the offered buttons (a forged one is asked again).
"""

from __future__ import annotations

import re
from datetime import datetime

from handlers.core import Choice, Context, Done, Reply, StepResult
from handlers.events import AUDIENCES, event_card, parse_when
from handlers.feature import Feature
from handlers.router import Answer, Flow, Router, parse_number
from handlers.ui import ask, with_menu
from models.errors import DomainError
from models.events import Audience, EventKind, add_duties, create_event, zone_of
from models.meetings import create_meeting, invitee_group, invitee_groups, people_named

router = Router()

# The reminder choices: minutes before the start (the first is the default).
REMINDERS = {"default": [2880, 120], "day": [1440], "hours": [120], "none": []}
NAMES = re.compile(r"[、,，;；\s]+")


@router.flow
class NewEvent(Flow):
    """title → kind → time → place → (places → audience → helpers | agenda → invitees) → reminders."""

    name = "event_new"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        if not (ctx.has_role("manager") or ctx.has_role("grid_leader")):
            return Done(with_menu(ctx, ctx.t("signup.not_allowed")))
        return ask(ctx, "title", "events.ask_title")

    async def step_title(self, ctx: Context, answer: Answer) -> StepResult:
        title = answer.text.strip()
        if not 1 <= len(title) <= 80:
            return ask(ctx, "title", "events.ask_title", error="events.bad_text")
        ctx.flow_data["title"] = title
        return self._ask_kind(ctx)

    def _ask_kind(self, ctx: Context, error: str | None = None) -> StepResult:
        choices = [Choice(ctx.t(f"events.kind_{k}"), f"kind:{k}") for k in EventKind]
        return ask(ctx, "kind", "events.ask_kind", choices, error=error)

    async def step_kind(self, ctx: Context, answer: Answer) -> StepResult:
        kind = (answer.payload or "").removeprefix("kind:")
        if kind not in {k.value for k in EventKind}:
            return self._ask_kind(ctx, "events.bad_choice")
        ctx.flow_data["kind"] = kind
        return ask(ctx, "when", "events.ask_when")

    async def step_when(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        zone = await zone_of(ctx.session, ctx.person.community_id)
        parsed = parse_when(answer.text, ctx.now, str(zone))
        if parsed is None or parsed[1] <= parsed[0] or parsed[0] <= ctx.now:
            return ask(ctx, "when", "events.ask_when", error="events.bad_when")
        ctx.flow_data["starts"] = parsed[0].isoformat()
        ctx.flow_data["ends"] = parsed[1].isoformat()
        return ask(ctx, "place", "events.ask_place")

    async def step_place(self, ctx: Context, answer: Answer) -> StepResult:
        place = answer.text.strip()
        if not 1 <= len(place) <= 128:
            return ask(ctx, "place", "events.ask_place", error="events.bad_text")
        ctx.flow_data["place"] = place
        if ctx.flow_data["kind"] == EventKind.MEETING:
            return ask(ctx, "agenda", "events.ask_agenda")
        return ask(ctx, "capacity", "events.ask_capacity")

    # --- an activity ---

    async def step_capacity(self, ctx: Context, answer: Answer) -> StepResult:
        n = parse_number(answer.text)
        if n is None or not 1 <= n <= 1000:
            return ask(ctx, "capacity", "events.ask_capacity", error="signup.bad_capacity")
        ctx.flow_data["capacity"] = n
        return self._ask_audience(ctx)

    def _ask_audience(self, ctx: Context, error: str | None = None) -> StepResult:
        choices = [Choice(ctx.t(f"events.audience_{a}"), f"aud:{a}") for a in AUDIENCES]
        return ask(ctx, "audience", "events.ask_audience", choices, error=error)

    async def step_audience(self, ctx: Context, answer: Answer) -> StepResult:
        chosen = (answer.payload or "").removeprefix("aud:")
        if chosen not in {a.value for a in AUDIENCES}:
            return self._ask_audience(ctx, "events.bad_audience")
        ctx.flow_data["audience"] = chosen
        return ask(ctx, "duties", "events.ask_duties")

    async def step_duties(self, ctx: Context, answer: Answer) -> StepResult:
        helpers = parse_number(answer.text)
        if helpers is None or not 0 <= helpers <= 50:
            return ask(ctx, "duties", "events.ask_duties", error="events.bad_number")
        ctx.flow_data["helpers"] = helpers
        return self._ask_reminders(ctx)

    # --- a meeting ---

    async def step_agenda(self, ctx: Context, answer: Answer) -> StepResult:
        agenda = answer.text.strip()
        if not 1 <= len(agenda) <= 1000:
            return ask(ctx, "agenda", "events.ask_agenda", error="events.bad_text")
        ctx.flow_data["agenda"] = agenda
        ctx.flow_data["groups"] = []
        ctx.flow_data["named"] = []
        return await self._ask_invitees(ctx)

    async def _ask_invitees(
        self, ctx: Context, error: str | None = None, note: str = ""
    ) -> StepResult:
        assert ctx.person is not None
        picked = set(ctx.flow_data["groups"])
        groups = [("reps", ctx.t("events.invite_reps"))]
        groups += await invitee_groups(ctx.session, ctx.person.community_id)
        choices = []
        for group, name in groups:
            label = (
                name if not group.startswith("grid:") else ctx.t("events.invite_grid", grid=name)
            )
            choices.append(Choice(("✅ " if group in picked else "") + label, f"inv:{group}"))
        count = len(await self._invitees(ctx))
        choices.append(Choice(ctx.t("events.invite_done", count=count), "inv:done"))
        return ask(
            ctx, "invitees", "events.ask_invitees", choices, error=error, note=note, count=count
        )

    async def _invitees(self, ctx: Context) -> list[int]:
        assert ctx.person is not None
        people = set(ctx.flow_data["named"])
        for group in ctx.flow_data["groups"]:
            people |= set(await invitee_group(ctx.session, ctx.person.community_id, group))
        people.discard(ctx.person.id or 0)
        return sorted(people)

    async def step_invitees(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        group = (answer.payload or "").removeprefix("inv:")
        if answer.payload is None:  # typed names: "王建国、朱凡"
            found, missing = await people_named(
                ctx.session, ctx.person.community_id, NAMES.split(answer.text)
            )
            ctx.flow_data["named"] = sorted(set(ctx.flow_data["named"]) | set(found))
            note = ctx.t("events.invite_unknown", names="、".join(missing)) if missing else ""
            return await self._ask_invitees(ctx, note=note)
        if group == "done":
            if not await self._invitees(ctx):
                return await self._ask_invitees(ctx, "events.no_invitees")
            return self._ask_reminders(ctx)
        groups = list(ctx.flow_data["groups"])
        groups = [g for g in groups if g != group] if group in groups else [*groups, group]
        ctx.flow_data["groups"] = groups
        return await self._ask_invitees(ctx)

    # --- both: reminders, then the event ---

    def _ask_reminders(self, ctx: Context, error: str | None = None) -> StepResult:
        choices = [Choice(ctx.t(f"events.remind_{k}"), f"rem:{k}") for k in REMINDERS]
        return ask(ctx, "reminders", "events.ask_reminders", choices, error=error)

    async def step_reminders(self, ctx: Context, answer: Answer) -> StepResult:
        chosen = (answer.payload or "").removeprefix("rem:")
        if chosen not in REMINDERS:
            return self._ask_reminders(ctx, "events.bad_choice")
        assert ctx.person is not None and ctx.person.id is not None
        d = ctx.flow_data
        starts, ends = datetime.fromisoformat(d["starts"]), datetime.fromisoformat(d["ends"])
        try:
            if d["kind"] == EventKind.MEETING:
                meeting, told = await create_meeting(
                    ctx.session,
                    organiser=ctx.person,
                    title=d["title"],
                    place=d["place"],
                    starts_at=starts,
                    ends_at=ends,
                    agenda=d["agenda"],
                    invitees=await self._invitees(ctx),
                    reminders=REMINDERS[chosen],
                    now=ctx.now,
                )
                card = await event_card(ctx, meeting)
                return Done([Reply(ctx.t("events.meeting_created", count=told)), card])
            event = await create_event(
                ctx.session,
                organiser=ctx.person,
                title=d["title"],
                place=d["place"],
                starts_at=starts,
                ends_at=ends,
                capacity=int(d["capacity"]),
                audience=d["audience"],
                max_party=2 if d["audience"] == Audience.FAMILIES else 1,
                reminders=REMINDERS[chosen],
                now=ctx.now,
            )
        except DomainError as err:  # e.g. the time passed while the questions were answered
            return Done(with_menu(ctx, ctx.t(err.key, **err.values)))
        if d["helpers"]:
            await add_duties(
                ctx.session, event.id or 0, ctx.person.id, ctx.t("events.duty_title"),
                int(d["helpers"]), ctx.now,
            )  # fmt: skip
        card = await event_card(ctx, event)
        return Done([Reply(ctx.t("events.created"), menu=None), card])


feature = Feature(name="event_create", router=router)
