"""随手拍: a resident reports a problem — category, description, photos, place, confirm."""

from __future__ import annotations

import re
from datetime import timedelta

from handlers.core import Ask, Choice, Context, Done, Media, Reply, StepResult
from handlers.nlu import extract_details
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from handlers.ui import ask, cancel_choice, main_menu, with_menu
from models.errors import DomainError
from models.people import building_numbered, community_buildings
from models.reports import (
    CATEGORIES,
    MAX_PHOTO_BYTES,
    MAX_PHOTOS,
    Place,
    case_no,
    check_description,
    first_response_minutes,
    home_building,
    join_report,
    locate,
    place_label,
    report_problem,
    similar_reports,
)
from models.tables import Building

router = Router()

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
    """The category the words suggest, if any."""
    low = text.lower()
    for category, words in _GUESS:
        if any(w in low for w in words):
            return category
    return None


def photo_refs(ctx: Context) -> list[list[str]]:
    """The photos kept so far in this report flow."""
    return list(ctx.flow_data.get("photos", []))


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
        return ask(ctx, "category", "report.ask_category", choices, note=note)

    async def step_category(self, ctx: Context, answer: Answer) -> StepResult:
        category = (answer.payload or "").removeprefix("cat:")
        if category not in CATEGORIES:
            return self._ask_category(ctx)
        ctx.flow_data["category"] = category
        if ctx.flow_data.get("description"):
            return await self._ask_photos(ctx)
        return self._ask_description(ctx)

    def _ask_description(self, ctx: Context, note: str = "") -> StepResult:
        return ask(ctx, "description", "report.ask_description", note=note)

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
        done = Choice(
            ctx.t("report.btn_photos_done" if count else "report.btn_no_photo"), "photos:done"
        )
        return ask(ctx, "photos", key, [done], note=note, count=count, limit=MAX_PHOTOS)

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
        return choices

    async def _ask_place(self, ctx: Context, note: str = "") -> StepResult:
        assert ctx.person is not None
        home = await home_building(ctx.session, ctx.person)
        hint = ctx.flow_data.get("building_hint")
        if hint and home is not None and hint != home.number:
            home = (
                await building_numbered(ctx.session, ctx.person.community_id, home.estate, hint)
                or home
            )
        if home is not None:
            ctx.flow_data["home"] = [home.id, f"{home.estate}{home.number}幢"]
        return ask(ctx, "place", "report.ask_place", self._place_choices(ctx), note=note)

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
                named = await building_numbered(
                    ctx.session, ctx.person.community_id, home.estate, m.group(1)
                )
                building_id = named.id if named is not None else None
        d["place"] = [building_id, text, None, None]
        return await self._check_similar(ctx)

    async def _ask_building(self, ctx: Context) -> StepResult:
        assert ctx.person is not None
        buildings = await community_buildings(ctx.session, ctx.person.community_id)
        choices = [Choice(f"{b.estate}{b.number}幢", f"bldg:{b.id}") for b in buildings]
        return ask(ctx, "building", "report.ask_building", choices[:40])

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
