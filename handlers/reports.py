"""Residents report problems (随手拍), follow their cases, chase slow ones and rate the help."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import col

from handlers.core import Ask, Choice, Context, Done, Media, Reply, StepResult
from handlers.menu import cancel_choice, main_menu, with_menu
from handlers.nlu import extract_details
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from models.benefits import my_applications
from models.errors import DomainError
from models.people import Scope
from models.reports import (
    CATEGORIES,
    MAX_PHOTO_BYTES,
    MAX_PHOTOS,
    Case,
    Place,
    case_no,
    chase,
    check_description,
    comment_rating,
    first_response_minutes,
    home_building,
    join_report,
    locate,
    place_label,
    rate_report,
    report_in_scope,
    report_problem,
    similar_reports,
    view_report,
)
from models.tables import Building, Rating, Report
from models.tasks import staff_scope

router = Router()

CHANNEL_NAMES = {"telegram": "channel.telegram", "wechat": "channel.wechat",
                 "wecom": "channel.wecom", "console": "channel.console"}  # fmt: skip

# A first guess of the category from words the resident used (they still confirm it).
_GUESS = (
    ("clutter", ("杂物", "堆放", "乱堆", "乱放", "堆满", "堆着", "占道", "clutter", "junk")),
    ("hygiene", ("垃圾", "脏", "异味", "卫生", "积水", "garbage", "trash", "smell")),
    ("safety", ("隐患", "漏电", "飞线", "充电", "消防", "井盖", "危险", "danger", "fire")),
    ("facility", ("坏", "损坏", "路灯", "不亮", "漏水", "水管", "堵", "broken", "leak", "light")),
    ("dispute", ("纠纷", "吵架", "邻居", "噪音", "扰民", "太吵", "dispute", "noise")),
)
# Words that only ask to report; what is left after them may describe the problem.
_TRIGGERS = re.compile(
    r"随手拍|我要上报|上报问题|问题上报|上报|报修|投诉|举报|反映问题|report|[\s\W]", re.I
)
_BUILDING_RE = re.compile(r"(\d{1,3})\s*(?:号楼|幢|栋|号|楼)")


def guess_category(text: str) -> str | None:
    low = text.lower()
    for category, words in _GUESS:
        if any(w in low for w in words):
            return category
    return None


def scope_of(ctx: Context) -> Scope | None:
    assert ctx.person is not None
    return staff_scope(ctx.person.community_id, ctx.roles)


def photo_refs(ctx: Context) -> list[list[str]]:
    return list(ctx.flow_data.get("photos", []))


def show_photo(ctx: Context, channel: str, ref: str, caption: str) -> Reply:
    """A stored photo on the viewer's channel, else a line saying where it can be seen."""
    if channel == ctx.incoming.channel:
        return Reply(caption, photo_ref=f"{channel}:{ref}")
    where = ctx.t(CHANNEL_NAMES.get(channel, "channel.other"))
    return Reply(caption + "\n" + ctx.t("report.photo_elsewhere", channel=where))


@router.intent("report", "report")
async def report(ctx: Context, arg: str) -> Outcome:
    """随手拍: start a report (a bare photo or a sentence like '3幢后面堆了好多杂物' starts one too)."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("report.register_first"))
    return await start_flow(ctx, router.flows["report"], arg)


@router.flow
class ReportFlow(Flow):
    """category → description → photos → place → (same as this one?) → confirm."""

    name = "report"
    timeout = timedelta(hours=2)

    async def start(self, ctx: Context, arg: str) -> StepResult:
        d = ctx.flow_data
        d["photos"] = []
        notes = []
        for media in ctx.incoming.photos:
            note = self._take_photo(ctx, media)
            if note:
                notes.append(note)
        text = arg.strip()
        if text and not text.startswith("/") and len(_TRIGGERS.sub("", text)) >= 4:
            d["description"] = text[:500]
            details = extract_details(text)
            d["guess"] = details.category or guess_category(text)
            if details.building:
                d["building_hint"] = details.building
        return self._ask_category(ctx, "\n".join(notes))

    def _take_photo(self, ctx: Context, media: Media) -> str | None:
        """Keep a photo (at most 3, at most 5 MB); a clear note when it is refused."""
        photos = ctx.flow_data.setdefault("photos", [])
        if media.size is not None and media.size > MAX_PHOTO_BYTES:
            return ctx.t("report.photo_too_big", mb=f"{media.size / 1024 / 1024:.1f}",
                         limit=MAX_PHOTO_BYTES // 1024 // 1024)  # fmt: skip
        if len(photos) >= MAX_PHOTOS:
            return ctx.t("report.photo_limit", limit=MAX_PHOTOS)
        photos.append([media.channel, media.ref])
        return None

    def _ask_category(self, ctx: Context, note: str = "") -> StepResult:
        guess = ctx.flow_data.get("guess")
        order = ([guess] if guess else []) + [c for c in CATEGORIES if c != guess]
        choices = [Choice(ctx.t(f"report.cat_{c}"), f"cat:{c}") for c in order]
        text = ctx.t("report.ask_category")
        return Ask(
            "category",
            [Reply((note + "\n" if note else "") + text, [*choices, cancel_choice(ctx)])],
        )

    async def step_category(self, ctx: Context, answer: Answer) -> StepResult:
        category = (answer.payload or "").removeprefix("cat:")
        if category not in CATEGORIES:
            return self._ask_category(ctx)
        ctx.flow_data["category"] = category
        if ctx.flow_data.get("description"):
            return await self._ask_photos(ctx)
        return self._ask_description(ctx)

    def _ask_description(self, ctx: Context, note: str = "") -> StepResult:
        text = ctx.t("report.ask_description")
        return Ask(
            "description", [Reply((note + "\n" if note else "") + text, [cancel_choice(ctx)])]
        )

    async def step_description(self, ctx: Context, answer: Answer) -> StepResult:
        inc = ctx.incoming
        notes = [n for n in (self._take_photo(ctx, m) for m in inc.photos) if n]
        voice = f"{inc.voice.channel}:{inc.voice.ref}" if inc.voice else None
        if inc.photos and not answer.text and voice is None:
            got = ctx.t("report.photo_received", count=len(photo_refs(ctx)), limit=MAX_PHOTOS)
            return self._ask_description(ctx, "\n".join([got, *notes]))
        try:
            text = check_description(answer.text, voice)
        except DomainError as err:
            return self._ask_description(ctx, ctx.t(err.key, **err.values))
        ctx.flow_data["description"] = text
        ctx.flow_data["voice"] = voice
        return await self._ask_photos(ctx, "\n".join(notes))

    async def _ask_photos(self, ctx: Context, note: str = "") -> StepResult:
        count = len(photo_refs(ctx))
        if count >= MAX_PHOTOS:
            return await self._ask_place(ctx, note)
        key = "report.ask_more_photos" if count else "report.ask_photos"
        text = ctx.t(key, count=count, limit=MAX_PHOTOS)
        choices = [Choice(ctx.t("report.btn_photos_done" if count else "report.btn_no_photo"), "photos:done"), cancel_choice(ctx)]  # fmt: skip
        return Ask("photos", [Reply((note + "\n" if note else "") + text, choices)])

    async def step_photos(self, ctx: Context, answer: Answer) -> StepResult:
        inc = ctx.incoming
        if answer.payload == "photos:done":
            return await self._ask_place(ctx)
        if not inc.photos:
            return await self._ask_photos(ctx, ctx.t("report.photo_expected"))
        notes = [n for n in (self._take_photo(ctx, m) for m in inc.photos) if n]
        if notes and len(photo_refs(ctx)) >= MAX_PHOTOS:
            return await self._ask_place(ctx, "\n".join(notes))
        return await self._ask_photos(ctx, "\n".join(notes))

    def _place_choices(self, ctx: Context) -> list[Choice]:
        choices = []
        home = ctx.flow_data.get("home")
        if home:
            choices.append(Choice(ctx.t("report.btn_home", place=home[1]), f"place:b:{home[0]}"))
        choices.append(Choice(ctx.t("report.btn_pick_building"), "place:pick"))
        choices.append(cancel_choice(ctx))
        return choices

    async def _ask_place(self, ctx: Context, note: str = "") -> StepResult:
        assert ctx.person is not None
        home = await home_building(ctx.session, ctx.person)
        hint = ctx.flow_data.get("building_hint")
        if hint and home is not None and hint != home.number:
            home = (
                await ctx.session.execute(
                    select(Building).where(
                        col(Building.community_id) == ctx.person.community_id,
                        col(Building.estate) == home.estate,
                        col(Building.number) == hint,
                    )
                )
            ).scalar_one_or_none() or home
        if home is not None:
            ctx.flow_data["home"] = [home.id, f"{home.estate}{home.number}幢"]
        text = ctx.t("report.ask_place")
        return Ask("place", [Reply((note + "\n" if note else "") + text, self._place_choices(ctx))])

    async def step_place(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        inc = ctx.incoming
        d = ctx.flow_data
        if inc.location is not None:
            try:
                place = await locate(ctx.session, ctx.person.community_id,
                                     inc.location.latitude, inc.location.longitude)  # fmt: skip
            except DomainError as err:
                return await self._ask_place(ctx, ctx.t(err.key, **err.values))
            d["place"] = [place.building_id, None, place.latitude, place.longitude]
            return await self._check_similar(ctx)
        if inc.photos and not answer.payload:
            # A photo late (kept while there is room) or one too many: say which, ask again.
            notes = [self._take_photo(ctx, m) for m in inc.photos]
            got = ctx.t("report.photo_received", count=len(photo_refs(ctx)), limit=MAX_PHOTOS)
            return await self._ask_place(ctx, "\n".join(n or got for n in notes))
        payload = answer.payload or ""
        if payload == "place:pick":
            return await self._ask_building(ctx)
        if payload.startswith("place:b:") and payload[8:].isdigit():
            return await self._chose_building(ctx, int(payload[8:]), None)
        text = answer.text.strip()
        if not text or payload:
            return await self._ask_place(ctx)
        if len(text) > 100:
            return await self._ask_place(ctx, ctx.t("report.place_too_long"))
        building_id = None
        m = _BUILDING_RE.search(text)
        if m and d.get("home"):
            home = await ctx.session.get(Building, d["home"][0])
            if home is not None:
                building_id = (
                    await ctx.session.execute(
                        select(col(Building.id)).where(
                            col(Building.community_id) == ctx.person.community_id,
                            col(Building.estate) == home.estate,
                            col(Building.number) == m.group(1),
                        )
                    )
                ).scalar_one_or_none()
        d["place"] = [building_id, text, None, None]
        return await self._check_similar(ctx)

    async def _ask_building(self, ctx: Context) -> StepResult:
        assert ctx.person is not None
        buildings = (
            await ctx.session.execute(
                select(Building)
                .where(col(Building.community_id) == ctx.person.community_id)
                .order_by(col(Building.estate), col(Building.id))
            )
        ).scalars()
        choices = [Choice(f"{b.estate}{b.number}幢", f"bldg:{b.id}") for b in buildings]
        return Ask(
            "building", [Reply(ctx.t("report.ask_building"), [*choices[:40], cancel_choice(ctx)])]
        )

    async def step_building(self, ctx: Context, answer: Answer) -> StepResult:
        raw = (answer.payload or "").removeprefix("bldg:")
        if not raw.isdigit():
            return await self._ask_building(ctx)
        return await self._chose_building(ctx, int(raw), None)

    async def _chose_building(self, ctx: Context, building_id: int, text: str | None) -> StepResult:
        assert ctx.person is not None
        building = await ctx.session.get(Building, building_id)
        if building is None or building.community_id != ctx.person.community_id:
            return await self._ask_place(ctx)
        ctx.flow_data["place"] = [building_id, text, None, None]
        return await self._check_similar(ctx)

    def _place(self, ctx: Context) -> Place:
        b, text, lat, lon = ctx.flow_data["place"]
        return Place(building_id=b, text=text, latitude=lat, longitude=lon)

    async def _check_similar(self, ctx: Context) -> StepResult:
        assert ctx.person is not None
        found = await similar_reports(ctx.session, ctx.person.community_id,
                                      ctx.flow_data["category"], self._place(ctx), ctx.now)  # fmt: skip
        if not found:
            return await self._confirm(ctx)
        lines = []
        choices = []
        for r in found:
            assert r.id is not None
            where = await place_label(ctx.session, r)
            lines.append(ctx.t("report.similar_line", no=case_no(r.id), category=ctx.t(f"report.cat_{r.category}"),
                               place=where, state=ctx.t(f"report.state_{r.state}"),
                               text=r.description[:40]))  # fmt: skip
            choices.append(Choice(ctx.t("report.btn_join", no=case_no(r.id)), f"join:{r.id}"))
        choices += [Choice(ctx.t("report.btn_new_anyway"), "similar:new"), cancel_choice(ctx)]
        text = ctx.t("report.similar_found") + "\n" + "\n".join(lines)
        return Ask("similar", [Reply(text, choices)])

    async def step_similar(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        payload = answer.payload or ""
        if payload == "similar:new":
            return await self._confirm(ctx)
        if payload.startswith("join:") and payload[5:].isdigit():
            report = await join_report(ctx.session, int(payload[5:]), ctx.person, ctx.now)
            assert report.id is not None
            return Done(with_menu(ctx, ctx.t("report.joined", no=case_no(report.id))))
        return await self._check_similar(ctx)

    async def _confirm(self, ctx: Context) -> StepResult:
        d = ctx.flow_data
        place = self._place(ctx)
        where = []
        if place.building_id:
            b = await ctx.session.get(Building, place.building_id)
            if b is not None:
                where.append(f"{b.estate}{b.number}幢")
        if place.text:
            where.append(place.text)
        if place.latitude is not None and not where:
            where.append(ctx.t("report.shared_location"))
        summary = ctx.t(
            "report.summary",
            category=ctx.t(f"report.cat_{d['category']}"),
            text=d.get("description") or ctx.t("report.voice_note"),
            photos=len(photo_refs(ctx)),
            place=" · ".join(where),
        )
        choices = [
            Choice(ctx.t("report.btn_submit"), "submit:plain"),
            Choice(ctx.t("report.btn_submit_contact"), "submit:contact"),
        ]
        if ctx.has_role("volunteer") or ctx.has_role("grid_leader"):
            choices.insert(0, Choice(ctx.t("report.btn_submit_self"), "submit:self"))
        return Ask("confirm", [Reply(summary, [*choices, cancel_choice(ctx)])])

    async def step_confirm(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        payload = answer.payload or ""
        if payload not in ("submit:plain", "submit:contact", "submit:self"):
            return await self._confirm(ctx)
        myself = payload == "submit:self"
        if myself and not (ctx.has_role("volunteer") or ctx.has_role("grid_leader")):
            return await self._confirm(ctx)
        d = ctx.flow_data
        report = await report_problem(
            ctx.session,
            reporter=ctx.person,
            category=d["category"],
            description=d.get("description") or "",
            voice_ref=d.get("voice"),
            place=self._place(ctx),
            photos=[(c, r) for c, r in photo_refs(ctx)],
            share_contact=payload == "submit:contact",
            take_myself=myself,
            now=ctx.now,
        )
        assert report.id is not None
        if myself:
            text = ctx.t("report.created_self", no=case_no(report.id))
            buttons = [
                Choice(ctx.t("task.btn_finish"), f"task:finish:{report.task_id}"),
                Choice(ctx.t("task.btn_note"), f"task:note:{report.task_id}"),
            ]
            return Done([Reply(text, buttons, menu=main_menu(ctx))])
        minutes = await first_response_minutes(ctx.session, ctx.person.community_id)
        hours = max(1, round(minutes / 60))
        return Done(with_menu(ctx, ctx.t("report.created", no=case_no(report.id), hours=hours)))


def _case_line(ctx: Context, case: Case) -> str:
    r = case.report
    assert r.id is not None
    state = ctx.t(f"report.state_{r.state}")
    holder = ctx.t("report.holder", name=case.holder) if case.holder else ""
    return ctx.t("report.case_line", no=case_no(r.id), category=ctx.t(f"report.cat_{r.category}"),
                 place=case.place, state=state, holder=holder)  # fmt: skip


@router.intent("status", "status", "mycases")
async def my_cases(ctx: Context, arg: str) -> Outcome:
    """我的事项: the person's reports; 'R0012 怎么样了' or the one case a sentence names, that case."""
    if ctx.person is None or ctx.person.id is None:
        return with_menu(ctx, ctx.t("report.register_first"))
    quoted = extract_details(arg).case if arg else None
    if quoted is not None:
        return await case_replies(
            ctx, await report_in_scope(ctx.session, quoted, ctx.person, scope_of(ctx))
        )
    from models.reports import cases_of

    cases = await cases_of(ctx.session, ctx.person.id)
    # "我报的杂物清走了吗": the one case of the category the sentence names is the one meant.
    category = extract_details(arg).category if arg else None
    named = [c for c in cases if category and c.report.category == category]
    if len(named) == 1:
        return await case_replies(ctx, named[0].report)
    # Benefit applications have their own list (我的申请); say how many and link to it.
    applications = len(await my_applications(ctx.session, ctx.person))
    apps_button = Choice(ctx.t("status.btn_applications", count=applications), "bmine:")
    if not cases:
        if applications:
            return [Reply(ctx.t("status.none"), [apps_button])]
        return with_menu(ctx, ctx.t("status.none"))
    lines = [ctx.t("status.title")]
    choices = [apps_button] if applications else []
    for case in cases:
        r = case.report
        assert r.id is not None
        lines.append(_case_line(ctx, case))
        choices.append(Choice(ctx.t("status.btn_view", no=case_no(r.id)), f"report:view:{r.id}"))
    return [Reply("\n".join(lines), choices[:9]), *with_menu(ctx, ctx.t("status.hint"))]


async def case_replies(ctx: Context, report: Report) -> list[Reply]:
    """A case as this person may see it, with the buttons their part in it allows."""
    assert ctx.person is not None and report.id is not None
    view = await view_report(ctx.session, report, ctx.person, scope_of(ctx))
    lines = [
        ctx.t("report.card", no=case_no(report.id), category=ctx.t(f"report.cat_{report.category}"),
              place=view.place, state=ctx.t(f"report.state_{report.state}"), text=report.description),
    ]  # fmt: skip
    if view.reporter_name:
        lines.append(
            ctx.t("report.card_reporter", name=view.reporter_name, phone=view.reporter_phone or "-")
        )
    choices = []
    from models.reports import followers, group_of

    following = ctx.person.id in await followers(ctx.session, report.id)
    group = group_of(report.state)
    if following and group in ("open", "in_progress"):
        choices.append(Choice(ctx.t("status.btn_chase"), f"report:chase:{report.id}"))
    if following and report.state == "done":
        choices += [Choice(ctx.t(key), f"rate:{report.id}:{n}") for key, n in RATE_CHOICES]
    replies = [Reply("\n".join(lines), choices)]
    for photo in view.before[:3]:
        replies.append(show_photo(ctx, photo.channel, photo.ref, ctx.t("report.photo_before")))
    for photo in view.after[-1:]:
        replies.append(show_photo(ctx, photo.channel, photo.ref, ctx.t("report.photo_after")))
    return replies


RATE_CHOICES = (
    ("rate.btn_5", 5),
    ("rate.btn_4", 4),
    ("rate.btn_3", 3),
    ("rate.btn_2", 2),
    ("rate.btn_1", 1),
    ("rate.btn_not_fixed", 0),
)


@router.payload("report")
async def report_button(ctx: Context, rest: str) -> Outcome:
    """report:view:ID, report:chase:ID — only for those who may see the case."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("report.register_first"))
    action, _, raw = rest.partition(":")
    if not raw.isdigit():
        return with_menu(ctx, ctx.t("error.stale_button"))
    report = await report_in_scope(ctx.session, int(raw), ctx.person, scope_of(ctx))
    if action == "view":
        return await case_replies(ctx, report)
    if action == "chase":
        told = await chase(ctx.session, int(raw), ctx.person, ctx.now)
        return with_menu(ctx, ctx.t("chase.done", no=case_no(int(raw)), count=told))
    return with_menu(ctx, ctx.t("error.stale_button"))


@router.payload("rate")
async def rate_button(ctx: Context, rest: str) -> Outcome:
    """rate:REPORT:STARS (0 = not fixed): one tap records it; a comment is optional."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("report.register_first"))
    raw_id, _, raw_stars = rest.partition(":")
    if not raw_id.isdigit() or not raw_stars.isdigit():
        return with_menu(ctx, ctx.t("error.stale_button"))
    rating = await rate_report(ctx.session, int(raw_id), ctx.person, int(raw_stars), ctx.now)
    stars = int(raw_stars)
    key = "rate.thanks_closed" if stars >= 4 else "rate.thanks_reopened"
    ctx.conversation.flow = "rate_comment"
    ctx.flow_data = {"rating": rating.id}
    text = ctx.t(key, no=case_no(int(raw_id))) + "\n" + ctx.t("rate.ask_comment")
    return Ask("comment", [Reply(text, [Choice(ctx.t("rate.btn_skip"), "comment:skip")])])


@router.flow
class RateCommentFlow(Flow):
    """After the stars: an optional comment or voice note."""

    name = "rate_comment"
    timeout = timedelta(hours=1)

    async def start(self, ctx: Context, arg: str) -> StepResult:
        return Done([])

    async def step_comment(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        if answer.payload == "comment:skip":
            return Done(with_menu(ctx, ctx.t("rate.comment_skipped")))
        inc = ctx.incoming
        voice = f"{inc.voice.channel}:{inc.voice.ref}" if inc.voice else None
        if not answer.text.strip() and voice is None:
            return Ask(
                "comment",
                [
                    Reply(
                        ctx.t("rate.ask_comment"), [Choice(ctx.t("rate.btn_skip"), "comment:skip")]
                    )
                ],
            )
        await comment_rating(
            ctx.session, int(ctx.flow_data["rating"]), ctx.person, answer.text, voice
        )
        return Done(with_menu(ctx, ctx.t("rate.comment_saved")))


@router.intent("rate", "rate")
async def rate(ctx: Context, _arg: str) -> Outcome:
    """评价: the person's finished cases waiting for their stars."""
    if ctx.person is None or ctx.person.id is None:
        return with_menu(ctx, ctx.t("report.register_first"))
    from models.reports import cases_of

    waiting = []
    for case in await cases_of(ctx.session, ctx.person.id, limit=20):
        r = case.report
        if r.state != "done" or r.task_id is None:
            continue
        rated = (
            await ctx.session.execute(
                select(col(Rating.id)).where(
                    col(Rating.task_id) == r.task_id, col(Rating.rater_id) == ctx.person.id
                )
            )
        ).first()
        if rated is None:
            waiting.append(case)
    if not waiting:
        return with_menu(ctx, ctx.t("rate.nothing"))
    case = waiting[0]
    r = case.report
    assert r.id is not None
    text = ctx.t("rate.ask", line=_case_line(ctx, case))
    return [Reply(text, [Choice(ctx.t(key), f"rate:{r.id}:{n}") for key, n in RATE_CHOICES])]
