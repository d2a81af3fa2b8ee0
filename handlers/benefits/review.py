"""Managers review applications (one at a time: approve / reject / ask for more); grid leaders
see whom to help (代办); managers import the resident register by sending the file."""

from __future__ import annotations

from handlers.benefits.common import catalogue_of, id_cipher_of, is_manager, small_int
from handlers.benefits.mine import application_card, document_replies
from handlers.core import Ask, Choice, Context, Done, Reply, StepResult, Translate
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from handlers.ui import ask, cancel_choice, with_menu
from handlers.uploads import kinds_for, recognised
from models.benefits import (
    ApplicationStatus,
    community_today,
    decide,
    people_to_help,
    review_queue,
    start_review,
)
from models.errors import DomainError
from models.register import MAX_BYTES, ImportReport, ImportRequest, check_header
from models.register.report import grouped, rejected_rows, report_xlsx

router = Router()

MAX_LISTED_REJECTIONS = 30


@router.payload("breview:next", refuse="error.forbidden")
async def review_next(ctx: Context) -> Outcome:
    """'breview:next': the oldest waiting application."""
    return await _review(ctx, "next")


@router.payload("breview", application=int)
async def review_one(ctx: Context, application: int) -> Outcome:
    """'breview:<id>': that one (a push to reviewers)."""
    return await _review(ctx, str(application))


async def _review(ctx: Context, arg: str) -> Outcome:
    if ctx.person is None or not is_manager(ctx):
        return with_menu(ctx, ctx.t("error.forbidden"))
    return await start_flow(ctx, router.flows["benefit_review"], arg)


@router.flow
class ReviewFlow(Flow):
    """The queue, oldest first, one at a time: approve / reject with a reason / ask for more."""

    name = "benefit_review"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        ctx.flow_data.update(skipped=[], app=None)
        return await self._show(ctx, small_int(arg))

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
        return Ask("decide", [*await document_replies(ctx, app),
                              Reply(head + await application_card(ctx, app), choices)])  # fmt: skip

    async def step_decide(self, ctx: Context, answer: Answer) -> StepResult:
        app_id = ctx.flow_data.get("app")
        if answer.payload == "rv:approve":
            return await self._decide(ctx, "approve", None)
        if answer.payload == "rv:reject":
            return ask(ctx, "reason", "benefit.ask_reject_reason")
        if answer.payload == "rv:more":
            return ask(ctx, "what", "benefit.ask_more_what")
        if answer.payload == "rv:next":
            ctx.flow_data.setdefault("skipped", []).append(app_id)
            return await self._show(ctx, None)
        return await self._show(ctx, app_id)

    async def step_reason(self, ctx: Context, answer: Answer) -> StepResult:
        if not answer.text.strip():
            return ask(ctx, "reason", "benefit.reason_needed")
        return await self._decide(ctx, "reject", answer.text)

    async def step_what(self, ctx: Context, answer: Answer) -> StepResult:
        if not answer.text.strip():
            return ask(ctx, "what", "benefit.reason_needed")
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
    if ctx.person is None or not is_manager(ctx):
        return with_menu(ctx, ctx.t("error.forbidden"))
    return with_menu(ctx, ctx.t("roster.import_how"))


def render_import_report(
    t: Translate, report: ImportReport, filename: str, *, listed: int = MAX_LISTED_REJECTIONS
) -> str:
    """The per-row report of an import as text (chat and `linli import residents`)."""
    lines = [
        t("roster.import_done", file=filename, added=report.count("added"),
          updated=report.count("updated"), unchanged=report.count("unchanged"),
          rejected=report.count("rejected")),
    ]  # fmt: skip
    for row in report.rejected[:listed]:
        reason = t(row.reason or "roster.bad_row", **row.values)
        lines.append(t("roster.row", line=row.line, name=row.name or "-", reason=reason))
    extra = len(report.rejected) - listed
    if extra > 0:
        lines.append(t("roster.more_rows", count=extra))
    return "\n".join(lines)


@router.before_intents
async def register_file(ctx: Context, _text: str) -> Outcome | None:
    """A file sent into the chat: a kind registered in handlers/uploads.py (an events table …)
    goes to its feature; a manager's other file is read as the register (.xlsx / .csv)."""
    doc = ctx.incoming.document
    if doc is None:
        return None
    kinds = await kinds_for(ctx)
    if ctx.person is None or not (is_manager(ctx) or kinds):
        return with_menu(ctx, ctx.t("roster.managers_only"))
    fetch = ctx.data.get("fetch_media")
    if not callable(fetch):
        return with_menu(ctx, ctx.t("roster.no_keys"))
    if doc.size is not None and doc.size > MAX_BYTES:
        return with_menu(ctx, ctx.t("roster.too_big", mb=MAX_BYTES // (1024 * 1024)))
    data = await fetch(doc)
    filename = doc.name or "register"
    kind = recognised(kinds, data, filename)
    if kind is not None:
        return await kind.handle(ctx, data, filename)
    if not is_manager(ctx):  # a grid leader's file that is none of the kinds they may send
        what = "、".join(ctx.t(k.label_key) for k in kinds)
        return with_menu(ctx, ctx.t("uploads.not_recognised", kinds=what))
    cipher = id_cipher_of(ctx)
    start = ctx.data.get("start_register_import")
    if cipher is None or not callable(start):
        return with_menu(ctx, ctx.t("roster.no_keys"))
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


@router.payload("rrows", audit=int, refuse="roster.no_such_import")
async def rejected_rows_file(ctx: Context, audit: int) -> Outcome:
    """'rrows:<import>': the rejected rows of an import, as an .xlsx (Telegram) or grouped text.

    WeChat cannot send a file to an official account's follower: there the reasons come
    grouped, with the first row numbers of each.
    """
    if ctx.person is None or not is_manager(ctx):
        return with_menu(ctx, ctx.t("error.forbidden"))
    try:
        found, rows = await rejected_rows(ctx.session, audit, ctx.person.community_id)
    except DomainError as err:
        return with_menu(ctx, ctx.t(err.key, **err.values))
    if not rows:
        return with_menu(ctx, ctx.t("roster.rows_none", file=found.filename))
    caption = ctx.t("roster.rows_file_caption", file=found.filename, count=len(rows))
    if ctx.incoming.channel == "telegram":
        name = ctx.t("roster.rows_file_name", id=found.id)
        return [Reply(caption, document=report_xlsx(ctx.t, rows), document_name=name)]
    lines = [caption, *grouped(ctx.t, rows), ctx.t("roster.rows_file_elsewhere")]
    return with_menu(ctx, "\n".join(lines))
