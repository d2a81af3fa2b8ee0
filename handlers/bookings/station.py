"""At the station and behind it: 今日名单 with check-in by tap or code, 代办 for a resident, and
the manager's board (bookings per session, the no-show rate), new sessions, new points and
cancelling a session.

The buttons carry ids only; every use case re-checks that the presser runs the point (its team,
or a manager of the community), may book for that resident, or holds that booking.
"""

from __future__ import annotations

import re

from handlers.bookings.resident import confirmation, point_sessions, registered
from handlers.core import Choice, Context, Done, Reply, StepResult
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from handlers.ui import ask, with_menu
from models.booking_desk import (
    book_for,
    cancel_session,
    check_in_code_at_station,
    create_point,
    find_residents,
    household_members,
    managed_points,
    may_book_for_others,
    names_of,
    session_board,
)
from models.bookings import (
    ServicePoint,
    add_series,
    may_manage_point,
    parse_series,
    sessions,
    todays_list,
    when_text,
)
from models.bookings import _zone as zone_of
from models.errors import DomainError
from models.signups import SignupStatus, Slot, check_in, free_places

router = Router()

CHECK_IN = re.compile(r"^\s*(?:签到|check\s*in)\s*(\d{4})\s*$", re.IGNORECASE)


# --- 今日名单 --------------------------------------------------------------------------------------


@router.intent("today_list", "today")
async def today_list(ctx: Context, _arg: str) -> Outcome:
    """今日名单: today's sessions of the points this person runs; tap a name to check them in."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    mine = await managed_points(ctx.session, ctx.person.id)
    if not mine:
        return with_menu(ctx, ctx.t("booking.not_volunteer"))
    replies = []
    for point in mine:
        replies += await _point_list(ctx, point, quiet=True)
    if not replies:
        return with_menu(ctx, ctx.t("booking.today_none"))
    return [*replies, *with_menu(ctx, ctx.t("booking.today_hint"))]


@router.payload("bs:list", point=int, refuse="signup.not_found")
async def point_today(ctx: Context, point: int) -> Outcome:
    """One point's list for today."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    found = await ctx.session.get(ServicePoint, point)
    if found is None:
        return with_menu(ctx, ctx.t("signup.not_found"))
    replies = await _point_list(ctx, found, quiet=False)
    return replies or with_menu(ctx, ctx.t("booking.today_none"))


async def _point_list(ctx: Context, point: ServicePoint, *, quiet: bool) -> list[Reply]:
    assert ctx.person is not None and ctx.person.id is not None
    today = await todays_list(ctx.session, point.id or 0, ctx.person.id, ctx.now)
    if not today:
        return []
    zone = await zone_of(ctx.session, point.community_id)
    names = await names_of(ctx.session, {s.person_id for _slot, signups in today for s in signups})
    lines = [ctx.t("booking.today_title", title=point.name)]
    choices = []
    for slot, signups in today:
        lines.append(ctx.t("booking.today_slot", when=when_text(slot, zone), code=slot.code))
        if not signups:
            lines.append(ctx.t("booking.today_empty_slot"))
        for s in signups:
            name = names.get(s.person_id, "?")
            lines.append(
                ctx.t(
                    "booking.today_line", name=name, state=ctx.t(f"booking.state_{s.status}_short")
                )
            )
            if s.status == SignupStatus.BOOKED:
                choices.append(Choice(ctx.t("booking.btn_in", name=name), f"bs:in:{s.id}"))
    return [Reply("\n".join(lines), choices)]


@router.payload("bs:in", signup=int, refuse="signup.not_found")
async def tap_check_in(ctx: Context, signup: int) -> Outcome:
    """The volunteer taps a name: checked in (the engine re-checks that they run the point)."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    done = await check_in(ctx.session, signup, ctx.person.id, ctx.now)
    names = await names_of(ctx.session, {done.person_id})
    slot = await ctx.session.get(Slot, done.slot_id)
    replies = [Reply(ctx.t("booking.checked_in_by_volunteer", name=names.get(done.person_id, "")))]
    if slot is not None:
        replies += await point_today(ctx, slot.owner_id)  # type: ignore[operator]
    return replies


@router.before_intents
async def code_check_in(ctx: Context, text: str) -> Outcome | None:
    """ "签到 4821": a volunteer types a resident's code, or a resident the session's door code.
    Not a service code: the next hook (events) has its turn."""
    match = CHECK_IN.match(text)
    if match is None or not registered(ctx):
        return None
    assert ctx.person is not None and ctx.person.id is not None
    found = await check_in_code_at_station(ctx.session, ctx.person.id, match.group(1), ctx.now)
    if found is None:
        return None
    signup, point = found
    if signup.person_id == ctx.person.id:
        return with_menu(ctx, ctx.t("booking.checked_in", title=point.name))
    names = await names_of(ctx.session, {signup.person_id})
    return [Reply(ctx.t("booking.checked_in_by_volunteer", name=names.get(signup.person_id, ""))),
            *await _point_list(ctx, point, quiet=False)]  # fmt: skip


# --- 代办 ---------------------------------------------------------------------------------------------


@router.payload("bs:for", point=int, refuse="signup.not_found")
async def book_for_button(ctx: Context, point: int) -> Outcome:
    """代办: pick the resident (household members; staff search by name or phone), then a time."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    if not may_book_for_others(ctx.person, ctx.roles):
        return with_menu(ctx, ctx.t("booking.not_for_them"))
    return await start_flow(ctx, router.flows["booking_for"], str(point))


@router.flow
class BookFor(Flow):
    """Who (a household member, or a resident found by name / phone), then which session."""

    name = "booking_for"

    async def _who(self, ctx: Context, error: str | None = None) -> StepResult:
        assert ctx.person is not None
        family = await household_members(ctx.session, ctx.person)
        choices = [Choice(p.name, f"who:{p.id}") for p in family]
        staff = any(r in ("manager", "grid_leader", "volunteer") for r, _ in ctx.roles)
        key = "booking.ask_who" if staff else "booking.ask_who_family"
        return ask(ctx, "who", key, choices, error=error)

    async def start(self, ctx: Context, arg: str) -> StepResult:
        ctx.flow_data["point"] = int(arg)
        return await self._who(ctx)

    async def step_who(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        if answer.payload and answer.payload.startswith("who:"):
            ctx.flow_data["resident"] = int(answer.payload.removeprefix("who:"))
            return await self._slots(ctx)
        staff = any(r in ("manager", "grid_leader", "volunteer") for r, _ in ctx.roles)
        found = (
            await find_residents(ctx.session, ctx.person, ctx.roles, answer.text) if staff else []
        )
        if not found:
            return await self._who(ctx, "booking.nobody_found")
        if len(found) == 1:
            ctx.flow_data["resident"] = found[0].id
            return await self._slots(ctx)
        choices = [Choice(f"{p.name} {(p.phone or '')[-4:]}".strip(), f"who:{p.id}") for p in found]
        return ask(ctx, "who", "booking.pick_resident", choices)

    async def _slots(self, ctx: Context) -> StepResult:
        point = await ctx.session.get(ServicePoint, ctx.flow_data["point"])
        if point is None:
            return Done(with_menu(ctx, ctx.t("signup.not_found")))
        names = await names_of(ctx.session, {int(ctx.flow_data["resident"])})
        zone = await zone_of(ctx.session, point.community_id)
        choices = []
        for slot in await sessions(ctx.session, point.id or 0, ctx.now):
            left = free_places(slot)
            key = "booking.session_btn" if left else "booking.session_full_btn"
            choices.append(
                Choice(ctx.t(key, when=when_text(slot, zone), left=left), f"slot:{slot.id}")
            )
        name = names.get(int(ctx.flow_data["resident"]), "?")
        return ask(ctx, "slot", "booking.ask_slot_for", choices, name=name, title=point.name)

    async def step_slot(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        if not (answer.payload and answer.payload.startswith("slot:")):
            return await self._slots(ctx)
        slot_id = int(answer.payload.removeprefix("slot:"))
        result, resident, told = await book_for(
            ctx.session, slot_id, ctx.person, ctx.roles, int(ctx.flow_data["resident"]), ctx.now
        )
        replies = await confirmation(ctx, result)
        note = ctx.t("booking.told_yes" if told else "booking.told_no", name=resident.name)
        head = Reply(ctx.t("booking.booked_for_head", name=resident.name) + "\n" + note)
        return Done([head, *replies])


# --- the board: bookings per session, the no-show rate, cancelling, new sessions -------------------


@router.payload("bs:board", point=int, refuse="signup.not_found")
async def board(ctx: Context, point: int) -> Outcome:
    """For the team and the manager: each coming session's bookings, and the no-show rate."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    try:
        found, rows, (missed, total) = await session_board(
            ctx.session, point, ctx.person.id, ctx.now
        )
    except DomainError:
        return with_menu(ctx, ctx.t("signup.not_allowed"))
    zone = await zone_of(ctx.session, found.community_id)
    rate = f"{missed / total:.0%}" if total else "-"
    lines = [ctx.t("booking.board_title", title=found.name, rate=rate, missed=missed, total=total)]
    choices = [Choice(ctx.t("booking.btn_today"), f"bs:list:{point}")]
    for row in rows:
        slot = row.slot
        cancelled = slot.status == "cancelled"
        lines.append(
            ctx.t(
                "booking.board_line",
                when=when_text(slot, zone),
                booked=row.booked + row.checked_in,
                capacity=slot.capacity,
                waiting=row.waiting,
                checked_in=row.checked_in,
            )
            + (ctx.t("booking.board_cancelled") if cancelled else "")
        )
        if not cancelled and slot.starts_at > ctx.now:
            label = ctx.t("booking.btn_drop", when=when_text(slot, zone))
            choices.append(Choice(label, f"bs:drop:{slot.id}"))
    choices.append(Choice(ctx.t("booking.btn_series"), f"bs:series:{point}"))
    return [Reply("\n".join(lines), choices[:12])]


@router.payload("bs:drop", slot=int, refuse="signup.not_found")
async def drop(ctx: Context, slot: int) -> Outcome:
    """Cancel one session: everyone booked, offered or waiting is told."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    told = await cancel_session(ctx.session, slot, ctx.person.id, ctx.now)
    return with_menu(ctx, ctx.t("booking.dropped", count=told))


@router.payload("bs:series", point=int, refuse="signup.not_found")
async def series_button(ctx: Context, point: int) -> Outcome:
    """New sessions for a point: one sentence (每周六 9:00–11:30，每 30 分钟一场，每场 3 人)."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    found = await ctx.session.get(ServicePoint, point)
    if found is None or not await may_manage_point(ctx.session, found, ctx.person.id):
        return with_menu(ctx, ctx.t("signup.not_allowed"))
    return await start_flow(ctx, router.flows["booking_series"], str(point))


@router.flow
class NewSeries(Flow):
    """One question: the series, as a manager would say it."""

    name = "booking_series"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        ctx.flow_data["point"] = int(arg)
        return ask(ctx, "series", "booking.ask_series")

    async def step_series(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        try:
            spec = parse_series(answer.text)
        except DomainError as err:
            return ask(ctx, "series", "booking.ask_series", error=err)
        point = int(ctx.flow_data["point"])
        _series, made = await add_series(ctx.session, point, spec, ctx.now, person_id=ctx.person.id)
        return Done(
            [Reply(ctx.t("booking.series_made", count=made)), *await point_sessions(ctx, point)]
        )  # type: ignore[misc]


@router.payload("bs:new")
async def new_point_button(ctx: Context) -> Outcome:
    """A manager adds a service point: name, place, team, then its sessions."""
    if not registered(ctx) or not ctx.has_role("manager"):
        return with_menu(ctx, ctx.t("signup.not_allowed"))
    return await start_flow(ctx, router.flows["booking_point"])


@router.flow
class NewPoint(Flow):
    """Name, place, team (made if new), what to bring, then the series sentence."""

    name = "booking_point"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        if not ctx.has_role("manager"):
            return Done(with_menu(ctx, ctx.t("signup.not_allowed")))
        return ask(ctx, "name", "booking.ask_point_name")

    async def step_name(self, ctx: Context, answer: Answer) -> StepResult:
        name = answer.text.strip()
        if not 1 <= len(name) <= 64:
            return ask(ctx, "name", "booking.ask_point_name", error="booking.bad_point")
        ctx.flow_data["name"] = name
        return ask(ctx, "place", "booking.ask_point_place")

    async def step_place(self, ctx: Context, answer: Answer) -> StepResult:
        place = answer.text.strip()
        if not 1 <= len(place) <= 128:
            return ask(ctx, "place", "booking.ask_point_place", error="booking.bad_point")
        ctx.flow_data["place"] = place
        return ask(ctx, "team", "booking.ask_point_team")

    async def step_team(self, ctx: Context, answer: Answer) -> StepResult:
        ctx.flow_data["team"] = answer.text.strip()[:64]
        return ask(ctx, "bring", "booking.ask_point_bring")

    async def step_bring(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        bring = answer.text.strip()
        d = ctx.flow_data
        point = await create_point(
            ctx.session, ctx.person, ctx.roles, name=d["name"], place=d["place"],
            team_name=d["team"], bring=None if bring in ("无", "没有", "-", "none") else bring,
            now=ctx.now,
        )  # fmt: skip
        ctx.flow_data = {"point": point.id}
        return ask(
            ctx, "series", "booking.ask_series", note=ctx.t("booking.point_made", name=point.name)
        )

    step_series = NewSeries.step_series
