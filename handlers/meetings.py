"""议事协商会 after the invitation: the organiser posts the minutes (or the decision) in the chat,
they go to the invitees and stay with the meeting; invitees and organisers read a meeting later
(its answers, its minutes) from /meetings or 我的事项.

Buttons: `mt:view:<event>` (a meeting's page, for its invitees and organisers), `mt:minutes:
<event>` (the organiser's "post the minutes", re-checked in `models.meetings.post_minutes`).
"""

from __future__ import annotations

from handlers.core import Choice, Context, Done, Reply, StepResult
from handlers.feature import Feature, MyItems
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from handlers.ui import ask, main_menu, with_menu
from models.errors import DomainError
from models.events import EventKind, get_event, may_organise, when_text, zone_of
from models.meetings import meeting_view, meetings_of, post_minutes

router = Router()


def _registered(ctx: Context) -> bool:
    return ctx.person is not None and ctx.person.id is not None


@router.payload("mt:view", event=int, refuse="events.not_found")
async def view(ctx: Context, event: int) -> Outcome:
    """A meeting's page: time, place, agenda, the answers so far and the minutes, if posted."""
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    try:
        seen = await meeting_view(ctx.session, event, ctx.person.id)
    except DomainError as err:
        return with_menu(ctx, ctx.t(err.key, **err.values))
    zone = await zone_of(ctx.session, seen.event.community_id)
    lines = [
        ctx.t(
            "events.card",
            title=seen.event.title,
            when=when_text(seen.slot.starts_at, seen.slot.ends_at, zone),
            place=seen.event.place,
        )
    ]
    if seen.event.agenda:
        lines.append(ctx.t("events.agenda", agenda=seen.event.agenda))
    lines.append(
        ctx.t(
            "events.rsvp_counts",
            yes=seen.count("yes"),
            maybe=seen.count("maybe"),
            no=seen.count("no"),
            none=seen.count(None),
        )
    )
    if seen.organising:
        for invitee, person in seen.answers:
            answer = (
                ctx.t(f"btn.rsvp_{invitee.rsvp}") if invitee.rsvp else ctx.t("events.rsvp_none")
            )
            lines.append(ctx.t("events.rsvp_line", name=person.name, answer=answer))
    if seen.event.minutes:
        lines.append(ctx.t("events.minutes_kept", minutes=seen.event.minutes))
    else:
        lines.append(ctx.t("events.minutes_none"))
    choices = []
    if seen.organising and seen.event.cancelled_at is None:
        key = "events.btn_minutes_again" if seen.event.minutes else "events.btn_minutes"
        choices.append(Choice(ctx.t(key), f"mt:minutes:{event}"))
    lines.append(ctx.t("events.mt_hint"))
    return [Reply("\n".join(lines), choices, menu=main_menu(ctx))]


@router.payload("mt:minutes", event=int, refuse="events.not_found")
async def minutes_button(ctx: Context, event: int) -> Outcome:
    """The organiser's "post the minutes": one question, the text."""
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    found, _slot = await get_event(ctx.session, event)
    if found.kind != EventKind.MEETING or not await may_organise(ctx.session, found, ctx.person.id):
        return with_menu(ctx, ctx.t("signup.not_allowed"))
    return await start_flow(ctx, router.flows["meeting_minutes"], str(event))


@router.flow
class PostMinutes(Flow):
    """The minutes or the decision, as one message; kept with the meeting and sent out."""

    name = "meeting_minutes"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        ctx.flow_data["event"] = int(arg)
        found, _slot = await get_event(ctx.session, int(arg))
        return ask(ctx, "text", "events.ask_minutes", title=found.title)

    async def step_text(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None and ctx.person.id is not None
        text = answer.text.strip()
        event = int(ctx.flow_data["event"])
        found, _slot = await get_event(ctx.session, event)
        if not 1 <= len(text) <= 4000:
            return ask(
                ctx, "text", "events.ask_minutes", error="events.bad_text", title=found.title
            )
        try:
            told = await post_minutes(ctx.session, event, ctx.person.id, text, ctx.now)
        except DomainError:
            return Done(with_menu(ctx, ctx.t("signup.not_allowed")))
        return Done(with_menu(ctx, ctx.t("events.minutes_sent", title=found.title, count=told)))


@router.intent("meetings", "meetings")
async def my_meetings(ctx: Context, _arg: str) -> Outcome:
    """/meetings: the meetings I am invited to or organise, recent and upcoming."""
    items = await _my_items(ctx)
    if items is None:
        return with_menu(ctx, ctx.t("events.mt_none"))
    return [Reply("\n".join([ctx.t("events.mt_title"), *items.lines]), items.choices)]


async def _my_items(ctx: Context) -> MyItems | None:
    if not _registered(ctx):
        return None
    assert ctx.person is not None and ctx.person.id is not None
    found = await meetings_of(ctx.session, ctx.person.id, ctx.now)
    if not found:
        return None
    lines, choices = [], []
    for event, slot in found:
        zone = await zone_of(ctx.session, event.community_id)
        state = ctx.t("events.mt_has_minutes") if event.minutes else ""
        lines.append(
            ctx.t(
                "events.mt_line",
                title=event.title,
                when=when_text(slot.starts_at, slot.ends_at, zone),
                state=state,
            )
        )
        choices.append(
            Choice(ctx.t("events.btn_meeting", title=event.title[:12]), f"mt:view:{event.id}")
        )
    return MyItems(lines, choices)


feature = Feature(
    name="meetings",
    router=router,
    my_items=(55, _my_items),
)
