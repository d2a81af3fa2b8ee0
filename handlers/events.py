"""Events and meetings (活动、议事协商会): the list by audience, one-tap sign-up with companions,
我的活动, 加入日历, check-in at the door, the organiser's list, RSVP and a short create flow.

The rules are `models/events/` and the sign-up engine's (`models/signups/`); every button
here is re-checked there (a forged organiser button answers "not allowed", a forged sign-up id
"not found").
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from handlers.core import Choice, Context, Done, Reply, StepResult
from handlers.feature import Command, Feature, MenuItem, MyItems
from handlers.intents import Keywords
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from handlers.ui import ask, with_menu
from models.errors import DomainError
from models.events import (
    KIND,
    Audience,
    Change,
    Event,
    announce_event,
    cancel_event,
    change_event,
    end_event,
    get_event,
    ics,
    join,
    may_organise,
    rate_event,
    rating_buttons,
    roster,
    roster_xlsx,
    unrated,
    upcoming_for,
    when_text,
    zone_of,
)
from models.meetings import answer_rsvp, rsvp_buttons
from models.signups import (
    ACTIVE,
    SignupStatus,
    check_in,
    check_in_by_code,
    free_places,
    person_signups,
    waiting_position,
)

router = Router()

CHECK_IN = re.compile(r"^\s*(?:签到|check\s*in)\s*(\d{4})\s*$", re.IGNORECASE)


def _registered(ctx: Context) -> bool:
    return ctx.person is not None and ctx.person.id is not None


async def event_card(ctx: Context, event: Event) -> Reply:
    """One event: title, time, place, places left, and its buttons."""
    assert ctx.person is not None and ctx.person.id is not None
    _event, slot = await get_event(ctx.session, event.id or 0)
    zone = await zone_of(ctx.session, event.community_id)
    left = free_places(slot)
    lines = [
        ctx.t(
            "events.card",
            title=event.title,
            when=when_text(slot.starts_at, slot.ends_at, zone),
            place=event.place,
        ),
        ctx.t("events.places_left", left=left, capacity=slot.capacity)
        if left
        else ctx.t("events.full_waitlist"),
    ]
    if event.description:
        lines.append(event.description)
    if event.agenda:
        lines.append(ctx.t("events.agenda", agenda=event.agenda))
    choices: list[Choice] = []
    if event.kind == "meeting":
        choices += [Choice(ctx.t(label), payload) for label, payload in rsvp_buttons(event.id or 0)]
    else:
        choices.append(Choice(ctx.t("events.btn_join"), f"ev:join:{event.id}:0"))
        if slot.max_party > 1:
            choices.append(Choice(ctx.t("events.btn_join_child"), f"ev:join:{event.id}:1"))
    choices.append(Choice(ctx.t("events.btn_calendar"), f"ev:ics:{event.id}"))
    if await may_organise(ctx.session, event, ctx.person.id):
        choices.append(Choice(ctx.t("events.btn_roster"), f"ev:list:{event.id}"))
    return Reply("\n".join(lines), choices)


@router.intent("events", "events")
async def list_events(ctx: Context, _arg: str) -> Outcome:
    """Upcoming events open to this person, soonest first."""
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    found = await upcoming_for(ctx.session, ctx.person, ctx.now, limit=5)
    replies: list[Reply] = []
    if not found:
        replies = with_menu(ctx, ctx.t("events.none"))
    else:
        replies = [Reply(ctx.t("events.list_title", count=len(found)))]
        replies += [await event_card(ctx, event) for event, _slot in found]
    if ctx.has_role("manager") or ctx.has_role("grid_leader"):
        replies.append(
            Reply(ctx.t("events.organiser_hint"), [Choice(ctx.t("events.btn_new"), "ev:new")])
        )
    return replies


@router.payload("ev:join", event=int, companions=int, refuse="events.not_found")
async def join_event(ctx: Context, event: int, companions: int) -> Outcome:
    """One tap: sign up (with companions); a full event puts the person on the waitlist."""
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    result = await join(ctx.session, event, ctx.person.id, ctx.now, companions=companions)
    found, slot = await get_event(ctx.session, event)
    zone = await zone_of(ctx.session, found.community_id)
    values = {
        "title": found.title,
        "when": when_text(slot.starts_at, slot.ends_at, zone),
        "place": found.place,
        "party": result.signup.party,
    }
    cancel = [Choice(ctx.t("events.btn_cancel"), f"su:cancel:{result.signup.id}")]
    calendar = Choice(ctx.t("events.btn_calendar"), f"ev:ics:{event}")
    if result.signup.status == SignupStatus.WAITING:
        position = result.position or await waiting_position(ctx.session, result.signup)
        key = "events.already_waiting" if result.already else "events.waiting"
        return [Reply(ctx.t(key, position=position, **values), cancel)]
    key = "events.already" if result.already else "events.booked"
    return [Reply(ctx.t(key, **values), [calendar, *cancel])]


@router.payload("ev:ics", event=int, refuse="events.not_found")
async def add_to_calendar(ctx: Context, event: int) -> Outcome:
    """加入日历: an .ics file on Telegram; elsewhere (WeChat receives no files) the time and place."""
    found, slot = await get_event(ctx.session, event)
    zone = await zone_of(ctx.session, found.community_id)
    text = ctx.t(
        "events.calendar_text",
        title=found.title,
        when=f"{slot.starts_at.astimezone(zone):%Y-%m-%d %H:%M}–{slot.ends_at.astimezone(zone):%H:%M}",
        place=found.place,
    )
    if ctx.incoming.channel == "telegram":
        return [Reply(text, document=ics(found, slot), document_name=f"event-{found.id}.ics")]
    return with_menu(ctx, text)


@router.intent("my_events", "myevents")
async def my_events(ctx: Context, _arg: str) -> Outcome:
    """我的活动: the person's sign-ups (booked or waiting) for events that have not ended."""
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    items = await _my_items(ctx)
    if items is None:
        return with_menu(ctx, ctx.t("events.mine_none"))
    return [Reply("\n".join([ctx.t("events.mine_title"), *items.lines]), items.choices)]


async def _my_items(ctx: Context) -> MyItems | None:
    if not _registered(ctx):
        return None
    assert ctx.person is not None and ctx.person.id is not None
    mine = await person_signups(ctx.session, ctx.person.id, ctx.now, kind=KIND, statuses=ACTIVE)
    to_rate = await unrated(ctx.session, ctx.person.id, ctx.now)
    if not mine and not to_rate:
        return None
    lines, choices = [], []
    for event, _slot in to_rate:
        lines.append(ctx.t("events.mine_to_rate", title=event.title))
        choices.append(
            Choice(ctx.t("events.btn_rate_one", title=event.title[:12]), f"ev:rateask:{event.id}")
        )
    for signup, slot in mine:
        event = await ctx.session.get(Event, slot.owner_id)
        if event is None:
            continue
        zone = await zone_of(ctx.session, event.community_id)
        state = ctx.t(f"events.state_{signup.status}")
        if signup.status == SignupStatus.WAITING:
            state = ctx.t(
                "events.state_waiting_at", position=await waiting_position(ctx.session, signup)
            )
        lines.append(
            ctx.t(
                "events.mine_line",
                title=event.title,
                when=when_text(slot.starts_at, slot.ends_at, zone),
                place=event.place,
                state=state,
                party=signup.party,
            )
        )
        if signup.status == SignupStatus.OFFERED:
            choices.append(Choice(ctx.t("btn.signup_claim"), f"su:claim:{signup.id}"))
        if signup.status != SignupStatus.CHECKED_IN:
            choices.append(
                Choice(
                    ctx.t("events.btn_cancel_one", title=event.title[:12]), f"su:cancel:{signup.id}"
                )
            )
    return MyItems(lines, choices)


@router.payload("ev:list", event=int, refuse="events.not_found")
async def event_roster(ctx: Context, event: int) -> Outcome:
    """The organiser's sign-up and attendance list; tap a name to check them in."""
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    try:
        rows = await roster(ctx.session, event, ctx.person.id)
    except DomainError:
        return with_menu(ctx, ctx.t("signup.not_allowed"))
    found, slot = await get_event(ctx.session, event)
    counts = {s: 0 for s in ("booked", "checked_in", "waiting")}
    lines = [ctx.t("events.roster_title", title=found.title, code=slot.code)]
    choices = []
    for signup, person in rows:
        if signup.status not in (*ACTIVE, SignupStatus.NO_SHOW):
            continue
        if signup.status in counts:
            counts[signup.status] += signup.party
        lines.append(
            ctx.t(
                "events.roster_line",
                name=person.name,
                party=signup.party,
                state=ctx.t(f"events.state_{signup.status}"),
            )
        )
        if signup.status == SignupStatus.BOOKED:
            choices.append(
                Choice(ctx.t("events.btn_check_in", name=person.name), f"ev:in:{signup.id}")
            )
    lines.append(ctx.t("events.roster_counts", capacity=slot.capacity, **counts))
    if found.cancelled_at is None:
        if found.kind == "meeting":
            choices.append(Choice(ctx.t("events.btn_meeting_page"), f"mt:view:{event}"))
        choices += [
            Choice(ctx.t("events.btn_poster"), f"ci:poster:{event}"),
            Choice(ctx.t("events.btn_export"), f"ev:xlsx:{event}"),
            Choice(ctx.t("events.btn_announce"), f"ev:announce:{event}"),
            Choice(ctx.t("events.btn_edit"), f"ev:edit:{event}"),
            Choice(ctx.t("events.btn_end"), f"ev:end:{event}"),
            Choice(ctx.t("events.btn_drop"), f"ev:drop:{event}"),
        ]
    return [Reply("\n".join(lines), choices)]


@router.payload("ev:in", signup=int, refuse="events.not_found")
async def tap_check_in(ctx: Context, signup: int) -> Outcome:
    """The organiser taps a name on the list: that person is checked in."""
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    done = await check_in(ctx.session, signup, ctx.person.id, ctx.now)
    slot_event = await _event_of_signup(ctx, done.slot_id)
    replies = [Reply(ctx.t("events.checked_in_by_organiser"))]
    if slot_event is not None:
        replies += await event_roster(ctx, slot_event)  # type: ignore[operator]
    return replies


async def _event_of_signup(ctx: Context, slot_id: int) -> int | None:
    from models.signups import Slot

    slot = await ctx.session.get(Slot, slot_id)
    return slot.owner_id if slot is not None and slot.kind == KIND else None


@router.before_intents
async def code_check_in(ctx: Context, text: str) -> Outcome | None:
    """ "签到 3821": the resident checks in with the code shown at the door."""
    match = CHECK_IN.match(text)
    if match is None:
        return None
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    code = match.group(1)
    mine = await person_signups(
        ctx.session, ctx.person.id, ctx.now - timedelta(hours=1), kind=KIND, statuses=ACTIVE
    )
    for _signup, slot in mine:
        if slot.code == code:
            await check_in_by_code(ctx.session, slot.id or 0, code, ctx.person.id, ctx.now)
            event = await ctx.session.get(Event, slot.owner_id)
            return with_menu(ctx, ctx.t("events.checked_in", title=event.title if event else ""))
    return with_menu(ctx, ctx.t("signup.bad_code"))


@router.payload("rsvp", event=int, answer=str, refuse="events.not_found")
async def rsvp(ctx: Context, event: int, answer: str) -> Outcome:
    """An invitee answers a meeting's invitation: yes / maybe / no."""
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    invitee = await answer_rsvp(ctx.session, event, ctx.person.id, answer, ctx.now)
    found, _slot = await get_event(ctx.session, event)
    return with_menu(
        ctx, ctx.t("events.rsvp_noted", title=found.title, answer=ctx.t(f"btn.rsvp_{invitee.rsvp}"))
    )


@router.payload("ev:xlsx", event=int, refuse="events.not_found")
async def export_roster(ctx: Context, event: int) -> Outcome:
    """The list as .xlsx (a file on Telegram; WeChat receives no files: the list is the text)."""
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    try:
        data = await roster_xlsx(ctx.session, event, ctx.person.id)
    except DomainError:
        return with_menu(ctx, ctx.t("signup.not_allowed"))
    if ctx.incoming.channel == "telegram":
        name = f"event-{event}-roster.xlsx"
        return [Reply(ctx.t("events.exported"), document=data, document_name=name)]
    return with_menu(ctx, ctx.t("events.export_elsewhere"))


@router.payload("ev:announce", event=int, refuse="events.not_found")
async def announce(ctx: Context, event: int) -> Outcome:
    """Send the event as a notice to its audience, with the sign-up button inside."""
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    notice = await announce_event(ctx.session, event, ctx.person, ctx.roles, ctx.now)
    return with_menu(ctx, ctx.t("events.announced", count=notice.recipients))


@router.payload("ev:end", event=int, refuse="events.not_found")
async def end(ctx: Context, event: int) -> Outcome:
    """The organiser closes the event: no-shows, helpers' hours, the rating question."""
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    await end_event(ctx.session, event, ctx.person.id, ctx.now)
    return with_menu(ctx, ctx.t("events.ended"))


@router.payload("ev:drop", event=int, refuse="events.not_found")
async def drop(ctx: Context, event: int) -> Outcome:
    """Cancel the event: everyone signed up or waiting is told."""
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    told = await cancel_event(ctx.session, event, ctx.person.id, ctx.now)
    return with_menu(ctx, ctx.t("events.dropped", count=told))


@router.payload("ev:rateask", event=int, refuse="events.not_found")
async def rate_ask(ctx: Context, event: int) -> Outcome:
    """The rating question again, from 我的活动 (for someone who came)."""
    found, _slot = await get_event(ctx.session, event)
    choices = [Choice(ctx.t(label), payload) for label, payload in rating_buttons(event)]
    return [Reply(ctx.t("events.rate_ask", title=found.title), choices)]


@router.payload("ev:rate", event=int, stars=int, refuse="events.not_found")
async def rate(ctx: Context, event: int, stars: int) -> Outcome:
    """One tap after the event: 1–5 stars, by someone who came."""
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    await rate_event(ctx.session, event, ctx.person.id, stars, ctx.now)
    return with_menu(ctx, ctx.t("events.rated"))


@router.payload("ev:edit", event=int, refuse="events.not_found")
async def edit_button(ctx: Context, event: int) -> Outcome:
    """The organiser changes the time or the place."""
    if not _registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    found, _slot = await get_event(ctx.session, event)
    if not await may_organise(ctx.session, found, ctx.person.id):
        return with_menu(ctx, ctx.t("signup.not_allowed"))
    return await start_flow(ctx, router.flows["event_edit"], str(event))


@router.flow
class EditEvent(Flow):
    """What to change (time / place), then the new value; everyone signed up is told."""

    name = "event_edit"

    def _what(self, ctx: Context) -> list[Choice]:
        return [
            Choice(ctx.t("events.edit_time"), "edit:time"),
            Choice(ctx.t("events.edit_place"), "edit:place"),
        ]

    async def start(self, ctx: Context, arg: str) -> StepResult:
        ctx.flow_data["event"] = int(arg)
        return ask(ctx, "what", "events.ask_edit", self._what(ctx))

    async def step_what(self, ctx: Context, answer: Answer) -> StepResult:
        if answer.payload == "edit:time":
            return ask(ctx, "time", "events.ask_when")
        if answer.payload == "edit:place":
            return ask(ctx, "place", "events.ask_place")
        return ask(ctx, "what", "events.ask_edit", self._what(ctx), error="events.bad_choice")

    async def step_time(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None and ctx.person.id is not None
        zone = await zone_of(ctx.session, ctx.person.community_id)
        parsed = parse_when(answer.text, ctx.now, str(zone))
        if parsed is None or parsed[1] <= parsed[0] or parsed[0] <= ctx.now:
            return ask(ctx, "time", "events.ask_when", error="events.bad_when")
        change = Change(starts_at=parsed[0], ends_at=parsed[1])
        told = await change_event(
            ctx.session, ctx.flow_data["event"], ctx.person.id, change, ctx.now
        )
        return Done(with_menu(ctx, ctx.t("events.changed_told", count=told)))

    async def step_place(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None and ctx.person.id is not None
        place = answer.text.strip()
        if not 1 <= len(place) <= 128:
            return ask(ctx, "place", "events.ask_place", error="events.bad_text")
        told = await change_event(
            ctx.session, ctx.flow_data["event"], ctx.person.id, Change(place=place), ctx.now
        )
        return Done(with_menu(ctx, ctx.t("events.changed_told", count=told)))


# --- organisers: the time an event is given (the create flow is handlers/event_create.py) -------

WHEN = re.compile(
    r"^\s*(?:(\d{4})[-/年])?(\d{1,2})[-/月](\d{1,2})日?\s*(\d{1,2})[:：点](\d{2})?\s*[-–—~至到]\s*"
    r"(\d{1,2})[:：点](\d{2})?\s*$"
)
AUDIENCES = (Audience.ALL, Audience.FAMILIES, Audience.VOLUNTEERS, Audience.COURIERS)


def parse_when(text: str, now: datetime, zone_name: str) -> tuple[datetime, datetime] | None:
    """'3月8日 14:00-16:00', '2027-03-08 14:00–16:00' → (start, end) in UTC; None if not a time."""
    from zoneinfo import ZoneInfo

    m = WHEN.match(text)
    if m is None:
        return None
    zone = ZoneInfo(zone_name)
    local_now = now.astimezone(zone)
    year = int(m.group(1)) if m.group(1) else local_now.year
    try:
        start = datetime(
            year,
            int(m.group(2)),
            int(m.group(3)),
            int(m.group(4)),
            int(m.group(5) or 0),
            tzinfo=zone,
        )
        end = start.replace(hour=int(m.group(6)), minute=int(m.group(7) or 0))
    except ValueError:
        return None
    if not m.group(1) and start < local_now:
        start, end = start.replace(year=year + 1), end.replace(year=year + 1)
    return start, end


@router.payload("ev:new")
async def new_event_button(ctx: Context) -> Outcome:
    """The organiser's "new event" button: the create flow (handlers/event_create.py)."""
    assert ctx.features is not None
    return await start_flow(ctx, ctx.features.router.flows["event_new"])


feature = Feature(
    name="events",
    router=router,
    menu=(MenuItem("events", 50),),
    commands=(Command("events", 50),),
    keywords=(
        Keywords(
            "events",
            zh=(
                "活动 报名 讲座 议事会 参加 参加活动 聚会 培训 演出 议事 座谈 "
                "联欢 文艺 比赛 志愿活动 亲子 课堂 开会 会议 周末有什么活动"
            ),
            en=(
                "event, events, sign up, activity, activities, lecture, workshop, register, "
                "party, meeting, join:1.5"
            ),
            rank=4,
        ),
        Keywords(
            "my_events", zh="我的活动 我报名的活动 我的报名", en="my events", factor=1.5, rank=3
        ),
    ),
    my_items=(50, _my_items),
)
