"""A resident books a session: 预约服务 → a point → a time (three taps), 我的预约, the rating.

Every button is re-checked by the use cases (`models/bookings.py`, `models/booking_desk.py`, the
sign-up engine): a forged session id answers "not found", a refusal says which rule and when.
"""

from __future__ import annotations

import unicodedata

from handlers.core import Choice, Context, Reply
from handlers.feature import MyItems
from handlers.router import Outcome, Router
from handlers.ui import with_menu
from models.booking_desk import (
    Booking,
    booking_values,
    managed_points,
    may_book_for_others,
    my_bookings,
    reminder_labels,
)
from models.bookings import (
    ServicePoint,
    book,
    points,
    rate_session,
    sessions,
    when_text,
)
from models.bookings import _zone as zone_of
from models.signups import SignupResult, SignupStatus, Slot, free_places

router = Router()

COLOURS = {"红": "🔴", "橙": "🟠", "黄": "🟡", "绿": "🟢", "青": "🩵", "蓝": "🔵", "紫": "🟣"}


def registered(ctx: Context) -> bool:
    return ctx.person is not None and ctx.person.id is not None


def _label(point: ServicePoint) -> str:
    return f"{COLOURS.get(point.colour or '', '')} {point.name}".strip()


def _mentions(point: ServicePoint, text: str) -> bool:
    """Free text naming the point ('我想预约理发', '周六有义诊吗')."""
    s = unicodedata.normalize("NFKC", text).lower()
    words = [point.name, *point.keywords.lower().split()]
    return any(len(w) >= 2 and w in s for w in words)


@router.intent("booking", "book", "booking")
async def booking(ctx: Context, arg: str) -> Outcome:
    """The open service points with their next free time; free text naming one opens it."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    found = await points(ctx.session, ctx.person.community_id, ctx.now)
    if not found:
        return with_menu(ctx, ctx.t("booking.none"))
    if arg:
        named = [p.point for p in found if _mentions(p.point, arg)]
        if len(named) == 1:
            return await point_sessions(ctx, named[0].id or 0)
    zone = await zone_of(ctx.session, ctx.person.community_id)
    choices = []
    for summary in found:
        slot = summary.next_free
        if slot is not None:
            nxt = ctx.t("booking.next_free", when=when_text(slot, zone), left=free_places(slot))
        elif summary.sessions:
            nxt = ctx.t("booking.next_full")
        else:
            nxt = ctx.t("booking.no_sessions")
        label = ctx.t("booking.point_line", name=_label(summary.point), next=nxt)
        choices.append(Choice(label, f"bk:pt:{summary.point.id}"))
    if ctx.has_role("manager"):
        choices.append(Choice(ctx.t("booking.btn_new_point"), "bs:new"))
    return [Reply(ctx.t("booking.points_title"), choices)]


@router.payload("bk:pt", point=int, refuse="signup.not_found")
async def point_sessions(ctx: Context, point: int) -> Outcome:
    """A point's sessions with their free places; one tap books (a full one offers the waitlist)."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None
    found = await ctx.session.get(ServicePoint, point)
    if found is None or found.community_id != ctx.person.community_id:
        return with_menu(ctx, ctx.t("signup.not_found"))
    slots = await sessions(ctx.session, point, ctx.now, limit=8)
    zone = await zone_of(ctx.session, found.community_id)
    values = await _point_values(ctx, found)
    lines = [ctx.t("booking.sessions_title", **values)]
    if found.bring:
        lines.append(ctx.t("booking.bring", bring=found.bring))
    choices = []
    for slot in slots:
        left = free_places(slot)
        key = "booking.session_btn" if left else "booking.session_full_btn"
        choices.append(
            Choice(ctx.t(key, when=when_text(slot, zone), left=left), f"bk:go:{slot.id}")
        )
    if not slots:
        lines.append(ctx.t("booking.no_sessions"))
    if may_book_for_others(ctx.person, ctx.roles) and slots:
        choices.append(Choice(ctx.t("booking.btn_for"), f"bs:for:{point}"))
    managed = {p.id for p in await managed_points(ctx.session, ctx.person.id or 0)}
    if point in managed:
        choices.append(Choice(ctx.t("booking.btn_board"), f"bs:board:{point}"))
    return [Reply("\n".join(lines), choices)]


async def _point_values(ctx: Context, point: ServicePoint) -> dict[str, str]:
    from models.tables import Team

    team = await ctx.session.get(Team, point.team_id) if point.team_id else None
    return {"title": point.name, "place": point.place, "team": team.name if team else "-"}


@router.payload("bk:go", slot=int, refuse="signup.not_found")
async def book_session(ctx: Context, slot: int) -> Outcome:
    """One tap: the place is booked (or the person waits, told their position)."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    result = await book(ctx.session, slot, ctx.person.id, ctx.now)
    return await confirmation(ctx, result)


async def confirmation(ctx: Context, result: SignupResult, *, for_name: str = "") -> list[Reply]:
    """Where, when, who runs it, what to bring, the check-in code, and the cancel button."""
    values = await booking_values(ctx.session, result.slot)
    signup = result.signup
    cancel = [Choice(ctx.t("btn.signup_cancel"), f"su:cancel:{signup.id}")]
    mine = Choice(ctx.t("booking.btn_mine"), "intent:my_bookings")
    if signup.status == SignupStatus.WAITING:
        key = "booking.already_waiting" if result.already else "booking.waiting"
        text = ctx.t(
            key, position=result.position or 1, minutes=result.slot.claim_minutes, **values
        )
        return [Reply(text, [*cancel, mine])]
    key = "booking.already" if result.already else "booking.confirmed"
    lines = [ctx.t(key, code=signup.code, **values)]
    if values.get("bring"):
        lines.append(ctx.t("booking.bring", bring=values["bring"]))
    coming = await reminder_labels(ctx.session, signup.id or 0)
    if coming:
        lines.append(
            ctx.t("booking.reminder_note" if "day" in coming else "booking.reminder_note_hour")
        )
    return [Reply("\n".join(lines), [*cancel, mine])]


# --- 我的预约 ----------------------------------------------------------------------------------------


def _state(ctx: Context, b: Booking) -> str:
    if b.signup.status == SignupStatus.WAITING:
        return ctx.t("booking.state_waiting", position=b.position or 1)
    if b.signup.status == SignupStatus.BOOKED:
        return ctx.t("booking.state_booked", code=b.signup.code)
    return ctx.t(f"booking.state_{b.signup.status}")


async def my_items(ctx: Context) -> MyItems | None:
    """The person's bookings on 📋 我的事项 (and 今日名单 for a volunteer of a point)."""
    if not registered(ctx):
        return None
    assert ctx.person is not None and ctx.person.id is not None
    mine = await my_bookings(ctx.session, ctx.person.id, ctx.now)
    lines, choices = [], []
    zone = await zone_of(ctx.session, ctx.person.community_id)
    for b in mine:
        when = when_text(b.slot, zone)
        lines.append(
            ctx.t("booking.mine_line", title=b.point.name, when=when, state=_state(ctx, b))
        )
        if b.signup.status == SignupStatus.OFFERED:
            choices.append(Choice(ctx.t("btn.signup_claim"), f"su:claim:{b.signup.id}"))
        if b.signup.status != SignupStatus.CHECKED_IN:
            label = ctx.t("booking.btn_cancel_one", title=b.point.name[:8], when=when[6:11])
            choices.append(Choice(label, f"su:cancel:{b.signup.id}"))
    if await managed_points(ctx.session, ctx.person.id):
        choices.append(Choice(ctx.t("booking.btn_today"), "intent:today_list"))
    if not lines and not choices:
        return None
    return MyItems(lines, choices)


@router.intent("my_bookings", "mybookings")
async def show_my_bookings(ctx: Context, _arg: str) -> Outcome:
    """我的预约: booked, waiting (with the position) and offered places, each with its cancel."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    items = await my_items(ctx)
    if items is None or not items.lines:
        return [
            Reply(
                ctx.t("booking.mine_none"),
                [
                    Choice(ctx.t("menu.booking"), "intent:booking"),
                    *(items.choices if items else []),
                ],
            )
        ]
    return [Reply("\n".join([ctx.t("booking.mine_title"), *items.lines]), items.choices)]


# --- after the session ------------------------------------------------------------------------------


@router.payload("bk:rate", signup=int, stars=int, refuse="signup.not_found")
async def rate(ctx: Context, signup: int, stars: int) -> Outcome:
    """One tap after the session: 1–5 stars for the team, by someone who came."""
    if not registered(ctx):
        return with_menu(ctx, ctx.t("error.register_first"))
    assert ctx.person is not None and ctx.person.id is not None
    await rate_session(ctx.session, signup, ctx.person.id, stars, ctx.now)
    return with_menu(ctx, ctx.t("booking.rated"))


async def slot_of(ctx: Context, slot_id: int) -> Slot | None:
    return await ctx.session.get(Slot, slot_id)
