"""Asking 'can I get 尊老金?' and applying: eligibility (asking only what is unknown), one-tap
confirm, document photos, filed — for oneself, or 代办 for someone else."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from handlers.benefits.common import catalogue_of, is_manager, small_int
from handlers.benefits.mine import mine
from handlers.core import Ask, Choice, Context, Done, Reply, StepResult
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from handlers.ui import ask, cancel_choice, main_menu, with_menu
from models.benefits import (
    BenefitApplication,
    Eligibility,
    Programme,
    apply_for_benefit,
    assess,
    community_today,
    current_approval,
    filer_role,
    known_facts,
    open_application,
    review_queue,
)
from models.errors import DomainError
from models.idcard import MAX_AGE, age_on
from models.people import person_address
from models.tables import Person
from models.tasks import open_task_with_action

router = Router()

_STATUS_WORDS = re.compile(r"(我的申请|申请.{0,6}(进度|到哪|怎么样|结果|批)|my application)", re.I)


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
    if is_manager(ctx):
        queue = await review_queue(ctx.session, catalogue, ctx.person, ctx.roles)
        choices.append(Choice(ctx.t("benefit.btn_queue", count=len(queue)), "breview:next"))
    if ctx.is_staff:
        choices.append(Choice(ctx.t("benefit.btn_help"), "bhelp:"))
    if is_manager(ctx):
        choices.append(Choice(ctx.t("benefit.btn_import"), "bimport:"))
    return [Reply(ctx.t("benefit.menu"), choices), *with_menu(ctx, ctx.t("benefit.menu_hint"))]


@router.before_intents
async def status_words(ctx: Context, text: str) -> Outcome | None:
    """'我的申请' / '我的尊老金申请到哪一步了' → the applications (before the generic status intent)."""
    if ctx.person is not None and text and _STATUS_WORDS.search(text):
        return await mine(ctx, "")
    return None


@router.payload("bprog", code=str)
async def pick_programme(ctx: Context, code: str) -> Outcome:
    """A programme button: check my own eligibility."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("error.register_first"))
    if catalogue_of(ctx).get(code) is None:
        return with_menu(ctx, ctx.t("error.stale_button"))
    return await start_flow(ctx, router.flows["benefit_apply"], f"{ctx.person.id}:{code}")


@router.payload("bapply", person=int, programme=str, refuse="error.forbidden")
async def apply_button(ctx: Context, person: int, programme: str) -> Outcome:
    """'bapply:<person>:<programme>' from an outreach message or a home-visit task card."""
    person_id, code = person, programme
    if ctx.person is None or catalogue_of(ctx).get(code) is None:
        return with_menu(ctx, ctx.t("error.forbidden"))
    resident = await ctx.session.get(Person, person_id)
    if resident is None or filer_role(ctx.person, ctx.roles, resident) is None:
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
        ctx.flow_data.update(pid=small_int(raw_id) or 0, prog=code, answers={}, birth=None, docs=[])
        return await self._next(ctx)

    async def _next(self, ctx: Context, error: str | None = None) -> StepResult:
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
                return ask(ctx, "birth", "benefit.ask_birth", error=error, who=who)
            if missing == "resident":
                return Done(with_menu(ctx, ctx.t("benefit.not_in_register", who=who)))
            question = programme.question(missing)
            assert question is not None
            ctx.flow_data["q"] = question.code
            text = question.text(ctx.locale)
            if behalf:
                text = ctx.t("benefit.about", name=person.name) + text
            yes_no = [
                Choice(ctx.t("benefit.yes"), "ans:yes"),
                Choice(ctx.t("benefit.no"), "ans:no"),
            ]
            error_line = ctx.t(error) + "\n" if error else ""
            return Ask("question", [Reply(error_line + text, [*yes_no, cancel_choice(ctx)])])
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
            return await self._next(ctx, "benefit.bad_birth")
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
        return await self._next(ctx, "benefit.pick_yes_no")

    async def step_confirm(self, ctx: Context, answer: Answer) -> StepResult:
        if answer.payload != "bconfirm":
            return await self._next(ctx)
        ctx.flow_data["doc"] = 0
        return await self._ask_document(ctx)

    async def _ask_document(self, ctx: Context, note_key: str | None = None) -> StepResult:
        loaded = await self._load(ctx)
        if loaded is None:
            return Done(with_menu(ctx, ctx.t("error.forbidden")))
        _person, programme = loaded
        index = int(ctx.flow_data.get("doc", 0))
        if index >= len(programme.documents):
            return await self._submit(ctx)
        doc = programme.documents[index]
        choices = [
            Choice(ctx.t("benefit.btn_skip_doc"), "bdoc:skip"),
            Choice(ctx.t("benefit.btn_submit"), "bdoc:submit"),
        ]
        return ask(ctx, "document", "benefit.ask_document", choices, error=note_key,
                   hint=ctx.t("benefit.sensitive_note") if doc.sensitive else "",
                   doc=doc.text(ctx.locale), n=index + 1, total=len(programme.documents))  # fmt: skip

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
            return await self._ask_document(ctx, "benefit.photo_received")
        if answer.payload == "bdoc:skip":
            ctx.flow_data["doc"] = index + 1
            return await self._ask_document(ctx)
        return await self._ask_document(ctx, "benefit.send_a_photo")

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
