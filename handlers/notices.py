"""Notices: staff choose an audience, write, see the reach, send now or later, follow delivery."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.core import Ask, Choice, Context, Done, Reply, StepResult
from handlers.feature import Audience as Seen
from handlers.feature import Command, Feature, MenuItem
from handlers.intents import Keywords
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from handlers.ui import ask, cancel_choice, with_menu
from models.errors import DomainError
from models.notices import (
    MUTABLE,
    Audience,
    Category,
    NoticeStatus,
    Report,
    cancel_notice,
    count_audience,
    create_notice,
    missed,
    muted_categories,
    notice_report,
    recent_notices,
    toggle_mute,
)
from models.people import (
    Scope,
    buildings_in_scope,
    community_zone,
    grids_in_scope,
    person_address,
)
from models.tables import Person

router = Router()


async def zone_of(ctx: Context) -> ZoneInfo:
    """The community's time zone."""
    assert ctx.person is not None
    return await community_zone(ctx.session, ctx.person.community_id)


def parse_when(text: str, now: datetime, zone: ZoneInfo) -> datetime | None:
    """'20:00', '12-01 09:00', '2026-12-01 09:00' (community time) → an aware UTC datetime."""
    m = re.fullmatch(
        r"\s*(?:(?:(\d{4})[-/年])?(\d{1,2})[-/月](\d{1,2})日?\s+)?(\d{1,2})[:：点](\d{2})?\s*", text
    )
    if not m:
        return None
    year, month, day, hour, minute = m.groups()
    local_now = now.astimezone(zone)
    try:
        if month:
            when = datetime(
                int(year or local_now.year),
                int(month),
                int(day),
                int(hour),
                int(minute or 0),
                tzinfo=zone,
            )
        else:
            when = datetime.combine(
                local_now.date(), time(int(hour), int(minute or 0)), tzinfo=zone
            )
            if when <= local_now:
                when += timedelta(days=1)
    except ValueError:
        return None
    return when.astimezone(now.tzinfo)


def _audiences(ctx: Context) -> list[tuple[str, str]]:
    if ctx.has_role("manager"):
        return [
            (Audience.COMMUNITY, "notice.aud_community"),
            (Audience.GRID, "notice.aud_grid"),
            (Audience.BUILDING, "notice.aud_building"),
            (Audience.VOLUNTEERS, "notice.aud_volunteers"),
            (Audience.REPRESENTATIVES, "notice.aud_reps"),
            (Audience.ELDERLY, "notice.aud_elderly"),
            (Audience.COURIERS, "notice.aud_couriers"),
        ]
    return [
        (Audience.COMMUNITY, "notice.aud_my_grid"),
        (Audience.BUILDING, "notice.aud_building"),
        (Audience.VOLUNTEERS, "notice.aud_volunteers"),
        (Audience.ELDERLY, "notice.aud_elderly"),
    ]


@router.intent("broadcast", "notice")
async def broadcast(ctx: Context, _arg: str) -> Outcome:
    """Start a notice (managers; grid leaders for their own grid)."""
    if ctx.person is None or not ctx.is_staff:
        return with_menu(ctx, ctx.t("error.forbidden"))
    return await start_flow(ctx, router.flows["notice"])


@router.flow
class NoticeFlow(Flow):
    """audience → (grid | building) → category → text/photo → preview → now / later."""

    name = "notice"
    timeout = timedelta(hours=1)

    async def start(self, ctx: Context, arg: str) -> StepResult:
        choices = [Choice(ctx.t(key), f"aud:{a}") for a, key in _audiences(ctx)]
        return ask(ctx, "audience", "notice.ask_audience", choices)

    async def step_audience(self, ctx: Context, answer: Answer) -> StepResult:
        audience = (answer.payload or "").removeprefix("aud:")
        if audience not in {a for a, _ in _audiences(ctx)}:
            return await self.start(ctx, "")
        ctx.flow_data.update(audience=audience, arg=None)
        if audience == Audience.GRID:
            return await self._ask_grid(ctx)
        if audience == Audience.BUILDING:
            return await self._ask_building(ctx)
        return self._ask_category(ctx)

    async def _scope(self, ctx: Context) -> Scope:
        assert ctx.person is not None
        return Scope.of(ctx.person.community_id, ctx.roles)

    async def _ask_grid(self, ctx: Context) -> StepResult:
        grids = await grids_in_scope(ctx.session, await self._scope(ctx))
        choices = [Choice(g.name, f"grid:{g.id}") for g in grids]
        return ask(ctx, "grid", "invite.ask_grid", choices)

    async def step_grid(self, ctx: Context, answer: Answer) -> StepResult:
        raw = (answer.payload or "").removeprefix("grid:")
        if not raw.isdigit():
            return await self._ask_grid(ctx)
        ctx.flow_data["arg"] = int(raw)
        return self._ask_category(ctx)

    async def _ask_building(self, ctx: Context) -> StepResult:
        buildings = await buildings_in_scope(ctx.session, await self._scope(ctx))
        choices = [
            Choice(f"{b.estate}{ctx.t('register.building_label', number=b.number)}", f"bldg:{b.id}")
            for b in buildings
        ]
        return ask(ctx, "building", "notice.ask_building", choices[:40])

    async def step_building(self, ctx: Context, answer: Answer) -> StepResult:
        raw = (answer.payload or "").removeprefix("bldg:")
        if not raw.isdigit():
            return await self._ask_building(ctx)
        ctx.flow_data["arg"] = int(raw)
        return self._ask_category(ctx)

    def _ask_category(self, ctx: Context) -> StepResult:
        choices = [Choice(ctx.t(f"notice.cat_{c}"), f"cat:{c}") for c in Category]
        return ask(ctx, "category", "notice.ask_category", choices)

    async def step_category(self, ctx: Context, answer: Answer) -> StepResult:
        category = (answer.payload or "").removeprefix("cat:")
        if category not in {c.value for c in Category}:
            return self._ask_category(ctx)
        ctx.flow_data["category"] = category
        return ask(ctx, "text", "notice.ask_text", cancel=False)

    async def step_text(self, ctx: Context, answer: Answer) -> StepResult:
        photo = ctx.incoming.photos[0] if ctx.incoming.photos else None
        text = answer.text.strip()
        if not text:
            return ask(ctx, "text", "notice.ask_text", error="notice.empty", cancel=False)
        if len(text) > 3500:
            return ask(ctx, "text", "notice.ask_text", error="notice.too_long", cancel=False)
        ctx.flow_data["text"] = text
        ctx.flow_data["photo"] = f"{photo.channel}:{photo.ref}" if photo else None
        return await self._preview(ctx)

    async def _preview(self, ctx: Context) -> StepResult:
        d = ctx.flow_data
        try:
            reach = await count_audience(
                ctx.session,
                await self._scope(ctx),
                d["audience"],
                d["arg"],
                d["category"],
                ctx.now.date(),
            )
        except DomainError as err:
            return Done(with_menu(ctx, ctx.t(err.key)))
        text = ctx.t("notice.preview", text=d["text"], people=reach.people, reachable=reach.reachable,
                     unreachable=reach.unreachable)  # fmt: skip
        choices = [
            Choice(ctx.t("notice.btn_now"), "send:now"),
            Choice(ctx.t("notice.btn_later"), "send:later"),
            cancel_choice(ctx),
        ]
        return Ask("confirm", [Reply(text, choices)])

    async def step_confirm(self, ctx: Context, answer: Answer) -> StepResult:
        if answer.payload == "send:now":
            return await self._create(ctx, None)
        if answer.payload == "send:later":
            return await self._ask_when(ctx)
        return await self._preview(ctx)

    async def _ask_when(self, ctx: Context, error: str | None = None) -> StepResult:
        zone = await zone_of(ctx)
        local = ctx.now.astimezone(zone)
        options = [
            (ctx.t("notice.when_hour"), (ctx.now + timedelta(hours=1)).astimezone(zone)),
            (
                ctx.t("notice.when_tonight"),
                datetime.combine(local.date(), time(20, 0), tzinfo=zone),
            ),
            (
                ctx.t("notice.when_tomorrow"),
                datetime.combine(local.date() + timedelta(days=1), time(9, 0), tzinfo=zone),
            ),
        ]
        choices = [
            Choice(f"{label} {when:%m-%d %H:%M}", f"at:{int(when.timestamp())}")
            for label, when in options
            if when > local
        ]
        return ask(ctx, "when", "notice.ask_when", choices, error=error)

    async def step_when(self, ctx: Context, answer: Answer) -> StepResult:
        when: datetime | None = None
        if answer.payload and answer.payload.startswith("at:") and answer.payload[3:].isdigit():
            when = datetime.fromtimestamp(int(answer.payload[3:]), tz=ctx.now.tzinfo)
        elif answer.text:
            when = parse_when(answer.text, ctx.now, await zone_of(ctx))
        if when is None or when <= ctx.now or when > ctx.now + timedelta(days=90):
            return await self._ask_when(ctx, "notice.bad_time")
        return await self._create(ctx, when)

    async def _create(self, ctx: Context, when: datetime | None) -> StepResult:
        assert ctx.person is not None
        d = ctx.flow_data
        try:
            notice = await create_notice(
                ctx.session, ctx.person, ctx.roles, audience=d["audience"], arg=d["arg"], category=d["category"],
                text=d["text"], now=ctx.now, scheduled_at=when, photo_ref=d.get("photo"),
            )  # fmt: skip
        except DomainError as err:
            return Done(with_menu(ctx, ctx.t(err.key)))
        buttons = _notice_buttons(ctx, notice.id)  # type: ignore[arg-type]
        if when is None:
            text = ctx.t("notice.started", count=notice.recipients)
        else:
            text = ctx.t(
                "notice.scheduled", when=when.astimezone(await zone_of(ctx)).strftime("%m-%d %H:%M")
            )
        return Done([Reply(text, buttons)])


def _notice_buttons(ctx: Context, notice_id: int) -> list[Choice]:
    return [
        Choice(ctx.t("notice.btn_report"), f"notice:report:{notice_id}"),
        Choice(ctx.t("notice.btn_stop"), f"notice:cancel:{notice_id}"),
    ]


def _report_text(ctx: Context, report: Report) -> str:
    r = report
    n = r.notice
    filled = r.percent // 10
    return ctx.t(
        "notice.report",
        id=n.id,
        status=ctx.t(f"notice.status_{n.status}"),
        bar="▓" * filled + "░" * (10 - filled),
        percent=r.percent,
        total=n.recipients,
        sent=r.sent,
        failed=r.failed,
        blocked=r.blocked,
        pending=r.pending,
        unreachable=n.unreachable,
        text=n.text[:40],
    )


@router.payload("notice:cancel", notice=int, refuse="error.forbidden")
async def notice_cancel(ctx: Context, notice: int) -> Outcome:
    """Stop a notice still sending or scheduled. Only its author or a manager."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("error.forbidden"))
    _notice, stopped = await cancel_notice(ctx.session, notice, ctx.person, ctx.roles, ctx.now)
    return with_menu(ctx, ctx.t("notice.cancelled", count=stopped))


@router.payload("notice:report", notice=int)
async def notice_delivery(ctx: Context, notice: int) -> Outcome:
    """A notice's delivery numbers. Only its author or a manager."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("error.forbidden"))
    report = await notice_report(ctx.session, notice, ctx.person, ctx.roles)
    n = report.notice
    live = n.status in (NoticeStatus.SENDING, NoticeStatus.SCHEDULED)
    buttons = _notice_buttons(ctx, notice) if live else []
    if report.failed + report.blocked + n.unreachable > 0:
        buttons = [*buttons, Choice(ctx.t("notice.btn_missed"), f"notice:missed:{n.id}")]
    return [Reply(_report_text(ctx, report), buttons)]


@router.payload("notice:missed", notice=int)
async def notice_missed(ctx: Context, notice: int) -> Outcome:
    """Who a notice did not reach, and why. Only its author or a manager."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("error.forbidden"))
    people = await missed(ctx.session, notice, ctx.person, ctx.roles)
    if not people:
        return with_menu(ctx, ctx.t("notice.missed_none"))
    lines = [ctx.t("notice.missed_title", id=notice)]
    for m in people:
        person = await ctx.session.get(Person, m.person_id)
        where = await person_address(ctx.session, person) if person else None
        reason = ctx.t(m.reason) + (f"（{m.detail[:60]}）" if m.detail else "")
        lines.append(ctx.t("notice.missed_line", name=m.name, where=where or "-", reason=reason))
    return with_menu(ctx, "\n".join(lines))


@router.intent("notices", "notices")
async def my_notices(ctx: Context, _arg: str) -> Outcome:
    """The latest notices with their delivery numbers."""
    if ctx.person is None or not ctx.is_staff:
        return with_menu(ctx, ctx.t("error.forbidden"))
    notices = await recent_notices(ctx.session, ctx.person, ctx.roles)
    if not notices:
        return with_menu(ctx, ctx.t("notice.none"))
    replies = []
    for n in notices:
        report = await notice_report(ctx.session, n.id, ctx.person, ctx.roles)  # type: ignore[arg-type]
        live = n.status in (NoticeStatus.SENDING, NoticeStatus.SCHEDULED)
        replies.append(Reply(_report_text(ctx, report), _notice_buttons(ctx, n.id) if live else []))  # type: ignore[arg-type]
    return replies


@router.intent("mute", "mute")
async def mute_settings(ctx: Context, _arg: str) -> Outcome:
    """Which notice categories reach me; urgent safety notices always do."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("error.register_first"))
    return await _mute_view(ctx)


async def _mute_view(ctx: Context) -> Outcome:
    assert ctx.person is not None and ctx.person.id is not None
    muted = await muted_categories(ctx.session, ctx.person.id)
    choices = [
        Choice(
            ctx.t("mute.off" if c in muted else "mute.on", category=ctx.t(f"notice.cat_{c}")),
            f"mute:{c}",
        )
        for c in MUTABLE
    ]
    return [Reply(ctx.t("mute.explain"), choices)]


@router.payload("mute", category=str)
async def mute_toggle(ctx: Context, category: str) -> Outcome:
    """Flip one category."""
    if ctx.person is None or ctx.person.id is None:
        return with_menu(ctx, ctx.t("error.register_first"))
    await toggle_mute(ctx.session, ctx.person.id, category)
    return await _mute_view(ctx)


feature = Feature(
    name="notices",
    router=router,
    menu=(
        MenuItem("broadcast", 210, Seen.STAFF),
        MenuItem("notices", 220, Seen.STAFF),
        MenuItem("mute", 400, Seen.PERSON),
    ),
    commands=(Command("mute", 90),),
    keywords=(
        Keywords(
            "broadcast",
            zh=(
                "发通知 群发 公告 发公告 通知 广播 全体居民 通知大家 发布 推送 "
                "告知 告诉大家 发个通知"
            ),
            en=(
                "notice, broadcast, announce, announcement, notify, notify everyone, all "
                "residents, send notice, send a notice, mass message"
            ),
            factor=1.5,
            rank=9,
        ),
    ),
)
