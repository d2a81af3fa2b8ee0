"""Benefits: 'can I get 尊老金?', one-tap applications, 代办, review by managers, the register file.

Every button payload is untrusted: each handler re-checks that this person may act on this
application (the use cases in models/benefits.py check again).
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from typing import Any

from handlers.core import Ask, Choice, Context, Done, Reply, StepResult, Translate
from handlers.menu import cancel_choice, main_menu, with_menu
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from models.benefits import (
    ApplicationStatus,
    BenefitApplication,
    Catalogue,
    Eligibility,
    Programme,
    add_information,
    apply_for_benefit,
    assess,
    community_today,
    current_approval,
    decide,
    documents_of,
    filer_role,
    get_visible,
    known_facts,
    load_catalogue,
    may_see_sensitive,
    my_applications,
    open_application,
    people_to_help,
    review_queue,
    start_review,
)
from models.errors import DomainError
from models.idcard import MAX_AGE, IdCipher, age_on
from models.people import person_address
from models.register import MAX_BYTES, ImportReport, ImportRequest, check_header, record_of
from models.tables import Person, Role
from models.tasks import open_task_with_action

router = Router()

MAX_LISTED_REJECTIONS = 30
_STATUS_WORDS = re.compile(r"(我的申请|申请.{0,6}(进度|到哪|怎么样|结果|批)|my application)", re.I)


@cache
def _default_catalogue() -> Catalogue:
    return load_catalogue()


def catalogue_of(ctx: Context) -> Catalogue:
    """The programmes loaded at start (the composition root puts them in ctx.data)."""
    found = ctx.data.get("programmes")
    return found if isinstance(found, Catalogue) else _default_catalogue()


def _cipher(ctx: Context) -> IdCipher | None:
    found = ctx.data.get("id_cipher")
    return found if isinstance(found, IdCipher) else None


def _is_manager(ctx: Context) -> bool:
    return ctx.has_role(Role.MANAGER)


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) <= 9 else None


# ---- entry points ----


@router.intent("benefits", "benefits")
async def benefits(ctx: Context, arg: str) -> Outcome:
    """办事申请: the programmes, my applications, and for staff the queue, 代办 and the register."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("benefit.guest"))
    catalogue = catalogue_of(ctx)
    named = catalogue.find(arg) if arg else None
    if named is not None:
        return await start_flow(ctx, router.flows["benefit_apply"], f"{ctx.person.id}:{named.code}")
    choices = [
        Choice(ctx.t("benefit.btn_programme", programme=p.name(ctx.locale)), f"bprog:{p.code}")
        for p in catalogue.programmes
    ]
    choices.append(Choice(ctx.t("benefit.btn_mine"), "bmine:"))
    if _is_manager(ctx):
        queue = await review_queue(ctx.session, catalogue, ctx.person, ctx.roles)
        choices.append(Choice(ctx.t("benefit.btn_queue", count=len(queue)), "breview:next"))
    if ctx.is_staff:
        choices.append(Choice(ctx.t("benefit.btn_help"), "bhelp:"))
    if _is_manager(ctx):
        choices.append(Choice(ctx.t("benefit.btn_import"), "bimport:"))
    return [Reply(ctx.t("benefit.menu"), choices), *with_menu(ctx, ctx.t("benefit.menu_hint"))]


@router.before_intents
async def status_words(ctx: Context, text: str) -> Outcome | None:
    """'我的申请' / '我的尊老金申请到哪一步了' → the applications (before the generic status intent)."""
    if ctx.person is not None and text and _STATUS_WORDS.search(text):
        return await mine(ctx, "")
    return None


@router.payload("bprog")
async def pick_programme(ctx: Context, code: str) -> Outcome:
    """A programme button: check my own eligibility."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("error.register_first"))
    if catalogue_of(ctx).get(code) is None:
        return with_menu(ctx, ctx.t("error.stale_button"))
    return await start_flow(ctx, router.flows["benefit_apply"], f"{ctx.person.id}:{code}")


@router.payload("bapply")
async def apply_button(ctx: Context, rest: str) -> Outcome:
    """'bapply:<person>:<programme>' from an outreach message or a home-visit task card."""
    raw_id, _, code = rest.partition(":")
    person_id = _int(raw_id)
    if ctx.person is None or person_id is None or catalogue_of(ctx).get(code) is None:
        return with_menu(ctx, ctx.t("error.forbidden"))
    person = await ctx.session.get(Person, person_id)
    if person is None or filer_role(ctx.person, ctx.roles, person) is None:
        return with_menu(ctx, ctx.t("error.forbidden"))
    return await start_flow(ctx, router.flows["benefit_apply"], f"{person_id}:{code}")


# ---- eligibility and applying ----


def _summary(ctx: Context, programme: Programme, result: Eligibility) -> str:
    assert result.band is not None and result.paid_from is not None
    if result.band.max_age is None:
        band = ctx.t("benefit.band_open", age=result.band.min_age)
    else:
        band = ctx.t("benefit.band", low=result.band.min_age, high=result.band.max_age)
    return ctx.t(
        "benefit.amount_line",
        band=band,
        amount=result.band.monthly_yuan,
        paid_from=result.paid_from.isoformat(),
    )


def parse_birth_date(text: str, today: date) -> date | None:
    """'1946-03-21', '1946年3月21日', '1946.3.21', '19460321' → a plausible past date."""
    m = re.fullmatch(r"\s*(\d{4})\s*[-/.年]?\s*(\d{1,2})\s*[-/.月]?\s*(\d{1,2})\s*日?\s*", text)
    if not m:
        return None
    try:
        born = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return None
    if born > today or age_on(born, today) > MAX_AGE:
        return None
    return born


@router.flow
class ApplyFlow(Flow):
    """Eligibility (asking only what is unknown) → confirm (one tap) → document photos → filed."""

    name = "benefit_apply"

    async def _load(self, ctx: Context) -> tuple[Person, Programme] | None:
        d = ctx.flow_data
        programme = catalogue_of(ctx).get(str(d.get("prog", "")))
        person = await ctx.session.get(Person, int(d.get("pid", 0)))
        if programme is None or person is None or ctx.person is None:
            return None
        if filer_role(ctx.person, ctx.roles, person) is None:
            return None
        return person, programme

    async def start(self, ctx: Context, arg: str) -> StepResult:
        raw_id, _, code = arg.partition(":")
        ctx.flow_data.update(pid=_int(raw_id) or 0, prog=code, answers={}, birth=None, docs=[])
        return await self._next(ctx)

    async def _next(self, ctx: Context, prefix: str = "") -> StepResult:
        loaded = await self._load(ctx)
        if loaded is None:
            return Done(with_menu(ctx, ctx.t("error.forbidden")))
        person, programme = loaded
        assert ctx.person is not None and person.id is not None
        behalf = person.id != ctx.person.id
        who = person.name if behalf else ctx.t("benefit.you")
        pname = programme.name(ctx.locale)
        existing = await open_application(ctx.session, person.id, programme.code)
        if existing is not None:
            return Done(await _already(ctx, existing, programme))
        today = await community_today(ctx.session, person.community_id, ctx.now)
        facts = await known_facts(ctx.session, person, programme)
        answers = {**facts.answers, **ctx.flow_data.get("answers", {})}
        birth = facts.birth_date or (
            date.fromisoformat(ctx.flow_data["birth"]) if ctx.flow_data.get("birth") else None
        )
        approved = await current_approval(ctx.session, person.id, programme.code)
        if approved is not None and (
            approved.valid_until is None or (approved.valid_until - today).days > 30
        ):
            return Done(await _already(ctx, approved, programme))
        result = assess(
            programme, today=today, birth_date=birth, resident=facts.resident, answers=answers
        )
        if result.missing:
            missing = result.missing[0]
            if missing == "birth_date":
                return Ask("birth", [Reply(prefix + ctx.t("benefit.ask_birth", who=who),
                                           [cancel_choice(ctx)])])  # fmt: skip
            if missing == "resident":
                return Done(with_menu(ctx, ctx.t("benefit.not_in_register", who=who)))
            question = programme.question(missing)
            assert question is not None
            ctx.flow_data["q"] = question.code
            text = question.text(ctx.locale)
            if behalf:
                text = ctx.t("benefit.about", name=person.name) + text
            return Ask("question", [Reply(prefix + text, [
                Choice(ctx.t("benefit.yes"), "ans:yes"), Choice(ctx.t("benefit.no"), "ans:no"),
                cancel_choice(ctx)])])  # fmt: skip
        if result.status == "too_young":
            assert result.band is not None and result.reached_on is not None
            return Done(with_menu(ctx, ctx.t("benefit.too_young", who=who, programme=pname,
                age=result.band.min_age, date=result.reached_on.isoformat())))  # fmt: skip
        if result.status == "ineligible":
            if result.failed == "resident":
                return Done(with_menu(ctx, ctx.t("benefit.not_in_register", who=who)))
            if result.failed == "age":
                return Done(with_menu(ctx, ctx.t("benefit.no_band", who=who, programme=pname)))
            question = programme.question(result.failed or "")
            because = question.text(ctx.locale) if question else ""
            return Done(with_menu(ctx, ctx.t("benefit.not_eligible", who=who, programme=pname,
                                             because=because)))  # fmt: skip
        ctx.flow_data["answers"] = answers
        return await self._confirm(ctx, person, programme, result, facts.record)

    async def _confirm(
        self, ctx: Context, person: Person, programme: Programme, result: Eligibility, record: Any
    ) -> StepResult:
        assert ctx.person is not None
        key = "benefit.eligible" if result.status == "eligible" else "benefit.eligible_soon"
        lines = [
            ctx.t(key, name=person.name, programme=programme.name(ctx.locale),
                  date=result.reached_on.isoformat() if result.reached_on else ""),
            _summary(ctx, programme, result),
            ctx.t("benefit.form", name=person.name,
                  id=(record.id_masked if record and record.id_masked else ctx.t("benefit.no_id")),
                  address=await person_address(ctx.session, person) or "-",
                  phone=person.phone or "-"),
        ]  # fmt: skip
        if person.id != ctx.person.id:
            lines.append(ctx.t("benefit.behalf_line", by=ctx.person.name, name=person.name))
        if programme.illustrative:
            lines.append(ctx.t("benefit.illustrative"))
        choices = [Choice(ctx.t("benefit.btn_confirm"), "bconfirm"), cancel_choice(ctx)]
        return Ask("confirm", [Reply("\n".join(lines), choices)])

    async def step_birth(self, ctx: Context, answer: Answer) -> StepResult:
        born = parse_birth_date(answer.text, ctx.now.date())
        if born is None:
            return await self._next(ctx, ctx.t("benefit.bad_birth") + "\n")
        ctx.flow_data["birth"] = born.isoformat()
        return await self._next(ctx)

    async def step_question(self, ctx: Context, answer: Answer) -> StepResult:
        code = ctx.flow_data.get("q")
        value = {"ans:yes": True, "ans:no": False}.get(answer.payload or "")
        if value is None:
            text = answer.text.strip().lower()
            value = True if text in ("是", "是的", "对", "yes", "y") else None
            value = False if text in ("否", "不是", "没有", "不", "no", "n") else value
        if code and value is not None:
            ctx.flow_data.setdefault("answers", {})[code] = value
            return await self._next(ctx)
        return await self._next(ctx, ctx.t("benefit.pick_yes_no") + "\n")

    async def step_confirm(self, ctx: Context, answer: Answer) -> StepResult:
        if answer.payload != "bconfirm":
            return await self._next(ctx)
        ctx.flow_data["doc"] = 0
        return await self._ask_document(ctx)

    async def _ask_document(self, ctx: Context, prefix: str = "") -> StepResult:
        loaded = await self._load(ctx)
        if loaded is None:
            return Done(with_menu(ctx, ctx.t("error.forbidden")))
        _person, programme = loaded
        index = int(ctx.flow_data.get("doc", 0))
        if index >= len(programme.documents):
            return await self._submit(ctx)
        doc = programme.documents[index]
        text = ctx.t("benefit.ask_document", doc=doc.text(ctx.locale), n=index + 1,
                     total=len(programme.documents))  # fmt: skip
        if doc.sensitive:
            text += "\n" + ctx.t("benefit.sensitive_note")
        choices = [
            Choice(ctx.t("benefit.btn_skip_doc"), "bdoc:skip"),
            Choice(ctx.t("benefit.btn_submit"), "bdoc:submit"),
            cancel_choice(ctx),
        ]
        return Ask("document", [Reply(prefix + text, choices)])

    async def step_document(self, ctx: Context, answer: Answer) -> StepResult:
        loaded = await self._load(ctx)
        if loaded is None:
            return Done(with_menu(ctx, ctx.t("error.forbidden")))
        _person, programme = loaded
        index = int(ctx.flow_data.get("doc", 0))
        if answer.payload == "bdoc:submit":
            return await self._submit(ctx)
        photos = ctx.incoming.photos
        if photos and index < len(programme.documents):
            kind = programme.documents[index].code
            for p in photos:
                ctx.flow_data.setdefault("docs", []).append([kind, f"{p.channel}:{p.ref}"])
            ctx.flow_data["doc"] = index + 1
            return await self._ask_document(ctx, ctx.t("benefit.photo_received") + "\n")
        if answer.payload == "bdoc:skip":
            ctx.flow_data["doc"] = index + 1
            return await self._ask_document(ctx)
        return await self._ask_document(ctx, ctx.t("benefit.send_a_photo") + "\n")

    async def _submit(self, ctx: Context) -> StepResult:
        loaded = await self._load(ctx)
        if loaded is None:
            return Done(with_menu(ctx, ctx.t("error.forbidden")))
        person, programme = loaded
        assert ctx.person is not None and person.id is not None
        d = ctx.flow_data
        try:
            app = await apply_for_benefit(
                ctx.session, programme, person_id=person.id, actor=ctx.person, roles=ctx.roles,
                answers=dict(d.get("answers", {})),
                documents=[(k, r) for k, r in d.get("docs", [])], now=ctx.now,
                birth_date=date.fromisoformat(d["birth"]) if d.get("birth") else None,
            )  # fmt: skip
        except DomainError as err:
            return Done(with_menu(ctx, ctx.t(err.key, **err.values)))
        if app.on_behalf:
            text = ctx.t("benefit.filed_behalf", id=app.id, name=person.name,
                         programme=programme.name(ctx.locale))  # fmt: skip
        else:
            text = ctx.t("benefit.filed", id=app.id, programme=programme.name(ctx.locale))
        if len(d.get("docs", [])) < len(programme.documents):
            text += "\n" + ctx.t("benefit.docs_later")
        if app.on_behalf and ctx.person.id is not None:
            # Filed during a home visit: offer to close the visit task (with the time it took).
            visit = await open_task_with_action(
                ctx.session, ctx.person.id, f"bapply:{person.id}:{programme.code}"
            )
            if visit is not None:
                finish = Choice(
                    ctx.t("benefit.btn_finish_visit", id=visit.id), f"task:finish:{visit.id}"
                )
                return Done([Reply(text, [finish], menu=main_menu(ctx))])
        return Done(with_menu(ctx, text))


async def _already(ctx: Context, app: BenefitApplication, programme: Programme) -> list[Reply]:
    text = ctx.t("benefit.already", id=app.id, programme=programme.name(ctx.locale),
                 status=ctx.t(f"benefit.status_{app.status}"))  # fmt: skip
    return [Reply(text, [Choice(ctx.t("benefit.btn_view", id=app.id), f"bview:{app.id}")]),
            *with_menu(ctx, ctx.t("benefit.menu_hint"))]  # fmt: skip


# ---- my applications ----


def _status_line(ctx: Context, app: BenefitApplication, names: dict[int, str]) -> str:
    programme = catalogue_of(ctx).get(app.programme)
    pname = programme.name(ctx.locale) if programme else app.programme
    line = ctx.t("benefit.line", id=app.id, programme=pname, name=names.get(app.person_id, ""),
                 status=ctx.t(f"benefit.status_{app.status}"),
                 date=app.submitted_at.date().isoformat())  # fmt: skip
    if app.on_behalf:
        line += ctx.t("benefit.line_behalf", by=names.get(app.filed_by_id, ""))
    if app.reason and app.status in (ApplicationStatus.REJECTED, ApplicationStatus.MORE_INFO):
        line += "\n  " + ctx.t("benefit.line_reason", reason=app.reason)
    return line


async def _names(ctx: Context, apps: list[BenefitApplication]) -> dict[int, str]:
    ids = {a.person_id for a in apps} | {a.filed_by_id for a in apps}
    out: dict[int, str] = {}
    for pid in ids:
        p = await ctx.session.get(Person, pid)
        out[pid] = p.name if p else ""
    return out


@router.payload("bmine")
async def mine(ctx: Context, _rest: str) -> Outcome:
    """我的申请: mine and those I filed for someone, where each one is."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("error.register_first"))
    apps = await my_applications(ctx.session, ctx.person)
    if not apps:
        return with_menu(ctx, ctx.t("benefit.none"))
    names = await _names(ctx, apps)
    lines = [ctx.t("benefit.mine_title")] + [_status_line(ctx, a, names) for a in apps]
    choices = []
    for a in apps[:8]:
        if a.status == ApplicationStatus.MORE_INFO:
            choices.append(Choice(ctx.t("benefit.btn_add_info_no", id=a.id), f"bmore:{a.id}"))
        choices.append(Choice(ctx.t("benefit.btn_view", id=a.id), f"bview:{a.id}"))
    return [Reply("\n".join(lines), choices), *with_menu(ctx, ctx.t("benefit.menu_hint"))]


async def _card(ctx: Context, app: BenefitApplication) -> str:
    programme = catalogue_of(ctx).get(app.programme)
    person = await ctx.session.get(Person, app.person_id)
    filer = await ctx.session.get(Person, app.filed_by_id)
    assert person is not None
    record = await record_of(ctx.session, person.id)  # type: ignore[arg-type]
    today = await community_today(ctx.session, app.community_id, ctx.now)
    lines = [
        ctx.t("benefit.card_title", id=app.id,
              programme=programme.name(ctx.locale) if programme else app.programme,
              status=ctx.t(f"benefit.status_{app.status}")),
        ctx.t("benefit.card_person", name=person.name,
              id=record.id_masked if record and record.id_masked else ctx.t("benefit.no_id"),
              born=app.birth_date.isoformat() if app.birth_date else "-",
              age=age_on(app.birth_date, today) if app.birth_date else "-"),
        ctx.t("benefit.card_address", address=await person_address(ctx.session, person) or "-",
              phone=person.phone or "-"),
        ctx.t("benefit.card_amount", age=app.band_min_age or "-", amount=app.monthly_yuan or 0,
              paid_from=app.paid_from.isoformat() if app.paid_from else "-"),
    ]  # fmt: skip
    if programme is not None:
        for q in programme.questions:
            if q.code in app.answers:
                mark = ctx.t("benefit.yes") if app.answers[q.code] else ctx.t("benefit.no")
                lines.append(f"· {q.text(ctx.locale)} {mark}")
    if app.on_behalf and filer is not None:
        lines.append(ctx.t("benefit.card_behalf", by=filer.name,
                           role=ctx.t(f"benefit.filer_{app.filer_role}")))  # fmt: skip
    if record is not None and (record.lives_alone or record.limited_mobility):
        flags = [ctx.t("benefit.flag_alone")] if record.lives_alone else []
        flags += [ctx.t("benefit.flag_mobility")] if record.limited_mobility else []
        lines.append(ctx.t("benefit.card_notes", notes="、".join(flags)))
    if app.note:
        lines.append(ctx.t("benefit.card_note", note=app.note))
    if app.reason:
        lines.append(ctx.t("benefit.line_reason", reason=app.reason))
    docs = await documents_of(ctx.session, app.id)  # type: ignore[arg-type]
    lines.append(ctx.t("benefit.card_docs", count=len(docs)))
    return "\n".join(lines)


async def _document_replies(ctx: Context, app: BenefitApplication) -> list[Reply]:
    """The document photos this viewer may see; the ID card only to whom the applicant was told."""
    assert ctx.person is not None
    programme = catalogue_of(ctx).get(app.programme)
    allowed = may_see_sensitive(app, ctx.person, ctx.roles)
    out: list[Reply] = []
    withheld = 0
    for doc in await documents_of(ctx.session, app.id):  # type: ignore[arg-type]
        if doc.sensitive and not allowed:
            withheld += 1
            continue
        kind = programme.document(doc.kind) if programme else None
        caption = ctx.t("benefit.doc_caption", id=app.id,
                        doc=kind.text(ctx.locale) if kind else doc.kind)  # fmt: skip
        channel, _, _ref = doc.media_ref.partition(":")
        if channel == ctx.incoming.channel:
            out.append(Reply(caption, photo_ref=doc.media_ref))
        else:
            out.append(Reply(caption + "\n" + ctx.t("benefit.doc_elsewhere", channel=channel)))
    if withheld:
        out.append(Reply(ctx.t("benefit.docs_withheld", count=withheld)))
    return out


@router.payload("bview")
async def view(ctx: Context, rest: str) -> Outcome:
    """One application, if this person may see it (else: as if it did not exist)."""
    app_id = _int(rest)
    if ctx.person is None or app_id is None:
        return with_menu(ctx, ctx.t("benefit.not_found"))
    app = await get_visible(ctx.session, app_id, ctx.person, ctx.roles)
    choices = []
    if app.status == ApplicationStatus.MORE_INFO:
        choices.append(Choice(ctx.t("benefit.btn_add_info_no", id=app.id), f"bmore:{app.id}"))
    return [Reply(await _card(ctx, app), choices), *await _document_replies(ctx, app),
            *with_menu(ctx, ctx.t("benefit.menu_hint"))]  # fmt: skip


@router.payload("bmore")
async def more_button(ctx: Context, rest: str) -> Outcome:
    """补充材料 for an application waiting for more information."""
    app_id = _int(rest)
    if ctx.person is None or app_id is None:
        return with_menu(ctx, ctx.t("benefit.not_found"))
    app = await get_visible(ctx.session, app_id, ctx.person, ctx.roles)
    if app.status != ApplicationStatus.MORE_INFO:
        return with_menu(ctx, ctx.t("benefit.not_waiting_for_info", id=app.id))
    return await start_flow(ctx, router.flows["benefit_more"], str(app.id))


@router.flow
class MoreInfoFlow(Flow):
    """Photos and words the reviewer asked for, then back into the queue."""

    name = "benefit_more"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        ctx.flow_data.update(app=int(arg), docs=[], note="")
        app = await ctx.session.get(BenefitApplication, int(arg))
        assert app is not None
        return self._ask(ctx, ctx.t("benefit.more_intro", id=app.id, reason=app.reason or ""))

    def _ask(self, ctx: Context, text: str) -> StepResult:
        choices = [Choice(ctx.t("benefit.btn_submit"), "bmore:send"), cancel_choice(ctx)]
        return Ask("add", [Reply(text, choices)])

    async def step_add(self, ctx: Context, answer: Answer) -> StepResult:
        d = ctx.flow_data
        if answer.payload == "bmore:send":
            assert ctx.person is not None
            try:
                app = await add_information(
                    ctx.session, catalogue_of(ctx), int(d["app"]), ctx.person, ctx.roles,
                    note=d.get("note"), documents=[("other", r) for r in d.get("docs", [])],
                    now=ctx.now,
                )  # fmt: skip
            except DomainError as err:
                if err.key == "benefit.nothing_added":
                    return self._ask(ctx, ctx.t(err.key))
                return Done(with_menu(ctx, ctx.t(err.key, **err.values)))
            return Done(with_menu(ctx, ctx.t("benefit.resubmitted", id=app.id)))
        for p in ctx.incoming.photos:
            d.setdefault("docs", []).append(f"{p.channel}:{p.ref}")
        if answer.text.strip():
            d["note"] = (d.get("note", "") + "\n" + answer.text.strip()).strip()[:500]
        return self._ask(ctx, ctx.t("benefit.more_got", photos=len(d.get("docs", []))))


# ---- reviewing (managers) ----


@router.payload("breview")
async def review_button(ctx: Context, rest: str) -> Outcome:
    """'breview:next' the oldest waiting one; 'breview:<id>' that one (a push to reviewers)."""
    if ctx.person is None or not _is_manager(ctx):
        return with_menu(ctx, ctx.t("error.forbidden"))
    if rest != "next" and _int(rest) is None:
        return with_menu(ctx, ctx.t("error.forbidden"))
    return await start_flow(ctx, router.flows["benefit_review"], rest)


@router.flow
class ReviewFlow(Flow):
    """The queue, oldest first, one at a time: approve / reject with a reason / ask for more."""

    name = "benefit_review"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        ctx.flow_data.update(skipped=[], app=None)
        return await self._show(ctx, _int(arg))

    async def _show(self, ctx: Context, app_id: int | None, prefix: str = "") -> StepResult:
        assert ctx.person is not None
        catalogue = catalogue_of(ctx)
        if app_id is None:
            queue = await review_queue(ctx.session, catalogue, ctx.person, ctx.roles)
            skipped = set(ctx.flow_data.get("skipped", []))
            waiting = [a for a in queue if a.id not in skipped]
            if not waiting:
                return Done(with_menu(ctx, prefix + ctx.t("benefit.queue_empty")))
            app_id = waiting[0].id
            left = len(waiting)
        else:
            left = 1
        assert app_id is not None
        try:
            app, _programme = await start_review(
                ctx.session, catalogue, app_id, ctx.person, ctx.roles, ctx.now
            )
        except DomainError as err:
            return Done(with_menu(ctx, prefix + ctx.t(err.key, **err.values)))
        if app.status not in (ApplicationStatus.SUBMITTED, ApplicationStatus.UNDER_REVIEW):
            return Done(with_menu(ctx, prefix + ctx.t("benefit.already_decided", id=app.id)))
        ctx.flow_data["app"] = app.id
        choices = [
            Choice(ctx.t("benefit.btn_approve"), "rv:approve"),
            Choice(ctx.t("benefit.btn_reject"), "rv:reject"),
            Choice(ctx.t("benefit.btn_more"), "rv:more"),
            Choice(ctx.t("benefit.btn_next"), "rv:next"),
            cancel_choice(ctx),
        ]
        head = prefix + ctx.t("benefit.queue_left", count=left) + "\n"
        return Ask("decide", [*await _document_replies(ctx, app),
                              Reply(head + await _card(ctx, app), choices)])  # fmt: skip

    async def step_decide(self, ctx: Context, answer: Answer) -> StepResult:
        app_id = ctx.flow_data.get("app")
        if answer.payload == "rv:approve":
            return await self._decide(ctx, "approve", None)
        if answer.payload == "rv:reject":
            return Ask("reason", [Reply(ctx.t("benefit.ask_reject_reason"), [cancel_choice(ctx)])])
        if answer.payload == "rv:more":
            return Ask("what", [Reply(ctx.t("benefit.ask_more_what"), [cancel_choice(ctx)])])
        if answer.payload == "rv:next":
            ctx.flow_data.setdefault("skipped", []).append(app_id)
            return await self._show(ctx, None)
        return await self._show(ctx, app_id)

    async def step_reason(self, ctx: Context, answer: Answer) -> StepResult:
        if not answer.text.strip():
            return Ask("reason", [Reply(ctx.t("benefit.reason_needed"), [cancel_choice(ctx)])])
        return await self._decide(ctx, "reject", answer.text)

    async def step_what(self, ctx: Context, answer: Answer) -> StepResult:
        if not answer.text.strip():
            return Ask("what", [Reply(ctx.t("benefit.reason_needed"), [cancel_choice(ctx)])])
        return await self._decide(ctx, "more", answer.text)

    async def _decide(self, ctx: Context, decision: str, reason: str | None) -> StepResult:
        assert ctx.person is not None
        try:
            app = await decide(ctx.session, catalogue_of(ctx), int(ctx.flow_data["app"]),
                               ctx.person, ctx.roles, decision, ctx.now, reason)  # fmt: skip
        except DomainError as err:
            return Done(with_menu(ctx, ctx.t(err.key, **err.values)))
        done = ctx.t(f"benefit.decided_{app.status}", id=app.id) + "\n"
        return await self._show(ctx, None, done)


# ---- grid leaders: 代办 ----


@router.payload("bhelp")
async def help_list(ctx: Context, _rest: str) -> Outcome:
    """People of my grids the outreach found, who have not applied: one button each."""
    if ctx.person is None or not ctx.is_staff:
        return with_menu(ctx, ctx.t("error.forbidden"))
    people = await people_to_help(ctx.session, catalogue_of(ctx), ctx.person, ctx.roles, ctx.now)
    if not people:
        return with_menu(ctx, ctx.t("benefit.help_none"))
    choices = [
        Choice(ctx.t("benefit.btn_apply_for_name", name=p.name, programme=prog.name(ctx.locale)),
               f"bapply:{p.id}:{prog.code}")
        for p, prog in people[:20]
    ]  # fmt: skip
    return [
        Reply(ctx.t("benefit.help_title"), choices),
        *with_menu(ctx, ctx.t("benefit.menu_hint")),
    ]


# ---- the register file (managers) ----


@router.payload("bimport")
async def import_how(ctx: Context, _rest: str) -> Outcome:
    """How to import: send the file here."""
    if ctx.person is None or not _is_manager(ctx):
        return with_menu(ctx, ctx.t("error.forbidden"))
    return with_menu(ctx, ctx.t("roster.import_how"))


def render_import_report(t: Translate, report: ImportReport, filename: str) -> str:
    """The per-row report of an import as text (chat and `linli import residents`)."""
    lines = [
        t("roster.import_done", file=filename, added=report.count("added"),
          updated=report.count("updated"), unchanged=report.count("unchanged"),
          rejected=report.count("rejected")),
    ]  # fmt: skip
    for row in report.rejected[:MAX_LISTED_REJECTIONS]:
        reason = t(row.reason or "roster.bad_row", **row.values)
        lines.append(t("roster.row", line=row.line, name=row.name or "-", reason=reason))
    extra = len(report.rejected) - MAX_LISTED_REJECTIONS
    if extra > 0:
        lines.append(t("roster.more_rows", count=extra))
    return "\n".join(lines)


@router.before_intents
async def register_file(ctx: Context, _text: str) -> Outcome | None:
    """A manager sends the register (.xlsx / .csv) into the chat: import it, report each row."""
    doc = ctx.incoming.document
    if doc is None:
        return None
    if ctx.person is None or not _is_manager(ctx):
        return with_menu(ctx, ctx.t("roster.managers_only"))
    cipher = _cipher(ctx)
    fetch = ctx.data.get("fetch_media")
    if cipher is None or not callable(fetch):
        return with_menu(ctx, ctx.t("roster.no_keys"))
    if doc.size is not None and doc.size > MAX_BYTES:
        return with_menu(ctx, ctx.t("roster.too_big", mb=MAX_BYTES // (1024 * 1024)))
    start = ctx.data.get("start_register_import")
    if not callable(start):
        return with_menu(ctx, ctx.t("roster.no_keys"))
    data = await fetch(doc)
    filename = doc.name or "register"
    try:
        check_header(data)  # a picture, a shopping list: refused now, nothing started
    except DomainError as err:
        return with_menu(ctx, ctx.t(err.key, **err.values))
    today = await community_today(ctx.session, ctx.person.community_id, ctx.now)
    assert ctx.person.id is not None
    request = ImportRequest(ctx.person.community_id, ctx.person.id, data, filename, today)
    if not start(request):
        return with_menu(ctx, ctx.t("roster.import_busy"))
    # The import runs in the background (bot/background.py): progress and report follow.
    return with_menu(ctx, ctx.t("roster.import_started", file=filename))
