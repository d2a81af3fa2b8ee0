"""我的申请: the applications I made or filed for someone, one application's card and photos,
and 补充材料 when the reviewer asked for more."""

from __future__ import annotations

from handlers.benefits.common import catalogue_of
from handlers.core import Choice, Context, Done, Reply, StepResult
from handlers.feature import MyItems
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from handlers.ui import ask, with_menu
from models.benefits import (
    ApplicationStatus,
    BenefitApplication,
    add_information,
    community_today,
    documents_of,
    get_visible,
    may_see_sensitive,
    my_applications,
)
from models.errors import DomainError
from models.idcard import age_on
from models.media import STORE
from models.people import person_address
from models.register import record_of
from models.tables import Person

router = Router()


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


async def application_card(ctx: Context, app: BenefitApplication) -> str:
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


async def document_replies(ctx: Context, app: BenefitApplication) -> list[Reply]:
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
        if channel in (ctx.incoming.channel, STORE):  # kept in the media store: any channel
            out.append(Reply(caption, photo_ref=doc.media_ref))
        else:
            out.append(Reply(caption + "\n" + ctx.t("benefit.doc_elsewhere", channel=channel)))
    if withheld:
        out.append(Reply(ctx.t("benefit.docs_withheld", count=withheld)))
    return out


@router.payload("bview", application=int, refuse="benefit.not_found")
async def view(ctx: Context, application: int) -> Outcome:
    """One application, if this person may see it (else: as if it did not exist)."""
    app_id = application
    if ctx.person is None:
        return with_menu(ctx, ctx.t("benefit.not_found"))
    app = await get_visible(ctx.session, app_id, ctx.person, ctx.roles)
    choices = []
    if app.status == ApplicationStatus.MORE_INFO:
        choices.append(Choice(ctx.t("benefit.btn_add_info_no", id=app.id), f"bmore:{app.id}"))
    return [Reply(await application_card(ctx, app), choices), *await document_replies(ctx, app),
            *with_menu(ctx, ctx.t("benefit.menu_hint"))]  # fmt: skip


@router.payload("bmore", application=int, refuse="benefit.not_found")
async def more_button(ctx: Context, application: int) -> Outcome:
    """补充材料 for an application waiting for more information."""
    app_id = application
    if ctx.person is None:
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
        return self._ask(ctx, "benefit.more_intro", id=app.id, reason=app.reason or "")

    def _ask(self, ctx: Context, key: str, **values: object) -> StepResult:
        send = Choice(ctx.t("benefit.btn_submit"), "bmore:send")
        return ask(ctx, "add", key, [send], **values)

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
                    return self._ask(ctx, err.key)
                return Done(with_menu(ctx, ctx.t(err.key, **err.values)))
            return Done(with_menu(ctx, ctx.t("benefit.resubmitted", id=app.id)))
        for p in ctx.incoming.photos:
            d.setdefault("docs", []).append(f"{p.channel}:{p.ref}")
        if answer.text.strip():
            d["note"] = (d.get("note", "") + "\n" + answer.text.strip()).strip()[:500]
        return self._ask(ctx, "benefit.more_got", photos=len(d.get("docs", [])))


async def my_applications_item(ctx: Context) -> MyItems | None:
    """我的事项: a button to 我的申请 with how many there are (their own list shows them)."""
    assert ctx.person is not None
    count = len(await my_applications(ctx.session, ctx.person))
    if not count:
        return None
    return MyItems(choices=[Choice(ctx.t("status.btn_applications", count=count), "bmine:")])
