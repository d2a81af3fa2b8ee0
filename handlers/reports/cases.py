"""A resident's cases: the case card, 催办, the one-tap rating and its comment; the task card's report part."""

from __future__ import annotations

from datetime import timedelta

from handlers.core import Ask, Choice, Context, Done, Reply, StepResult
from handlers.feature import MyItems
from handlers.router import Answer, Flow, Outcome, Router
from handlers.ui import ask, scope_of, show_photo, with_menu
from models.reports import (
    Case,
    Report,
    case_no,
    cases_of,
    cases_to_rate,
    chase,
    comment_rating,
    followers,
    group_of,
    rate_report,
    report_in_scope,
    view_report,
)
from models.tasks import Task

router = Router()


def _case_line(ctx: Context, case: Case) -> str:
    r = case.report
    assert r.id is not None
    state = ctx.t(f"report.state_{r.state}")
    holder = ctx.t("report.holder", name=case.holder) if case.holder else ""
    return ctx.t("report.case_line", no=case_no(r.id), category=ctx.t(f"report.cat_{r.category}"),
                 place=case.place, state=state, holder=holder)  # fmt: skip


async def my_reports(ctx: Context) -> MyItems | None:
    """The reports this person follows, for the 我的事项 screen, with a button for each."""
    assert ctx.person is not None and ctx.person.id is not None
    cases = await cases_of(ctx.session, ctx.person.id)
    lines, choices = [], []
    for case in cases:
        r = case.report
        assert r.id is not None
        lines.append(_case_line(ctx, case))
        choices.append(Choice(ctx.t("status.btn_view", no=case_no(r.id)), f"report:view:{r.id}"))
    return MyItems(lines, choices)


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


@router.payload("report:view", report=int)
async def view_case(ctx: Context, report: int) -> Outcome:
    """A case, for those who may see it."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("report.register_first"))
    found = await report_in_scope(ctx.session, report, ctx.person, scope_of(ctx))
    return await case_replies(ctx, found)


@router.payload("report:chase", report=int)
async def chase_case(ctx: Context, report: int) -> Outcome:
    """催办 — only a follower of the case, at most once a day."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("report.register_first"))
    await report_in_scope(ctx.session, report, ctx.person, scope_of(ctx))
    told = await chase(ctx.session, report, ctx.person, ctx.now)
    return with_menu(ctx, ctx.t("chase.done", no=case_no(report), count=told))


@router.payload("rate", report=int, stars=int)
async def rate_button(ctx: Context, report: int, stars: int) -> Outcome:
    """rate:REPORT:STARS (0 = not fixed): one tap records it; a comment is optional."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("report.register_first"))
    rating = await rate_report(ctx.session, report, ctx.person, stars, ctx.now)
    key = "rate.thanks_closed" if stars >= 4 else "rate.thanks_reopened"
    ctx.conversation.flow = "rate_comment"
    ctx.flow_data = {"rating": rating.id}
    text = ctx.t(key, no=case_no(report)) + "\n" + ctx.t("rate.ask_comment")
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
            skip = Choice(ctx.t("rate.btn_skip"), "comment:skip")
            return ask(ctx, "comment", "rate.ask_comment", [skip], cancel=False)
        await comment_rating(
            ctx.session, int(ctx.flow_data["rating"]), ctx.person, answer.text, voice
        )
        return Done(with_menu(ctx, ctx.t("rate.comment_saved")))


@router.intent("rate", "rate")
async def rate(ctx: Context, _arg: str) -> Outcome:
    """评价: the person's finished cases waiting for their stars."""
    if ctx.person is None or ctx.person.id is None:
        return with_menu(ctx, ctx.t("report.register_first"))
    waiting = await cases_to_rate(ctx.session, ctx.person.id)
    if not waiting:
        return with_menu(ctx, ctx.t("rate.nothing"))
    case = waiting[0]
    r = case.report
    assert r.id is not None
    text = ctx.t("rate.ask", line=_case_line(ctx, case))
    return [Reply(text, [Choice(ctx.t(key), f"rate:{r.id}:{n}") for key, n in RATE_CHOICES])]


async def report_task_card(ctx: Context, task: Task) -> tuple[list[str], list[Reply]]:
    """A report task's card: the reporter (only when they allowed it), the map and the photos."""
    assert ctx.person is not None
    lines: list[str] = []
    replies: list[Reply] = []
    report = await ctx.session.get(Report, task.report_id) if task.report_id else None
    if report is None:
        return lines, replies
    view = await view_report(ctx.session, report, ctx.person, scope_of(ctx))
    if view.reporter_name:
        lines.append(
            ctx.t("report.card_reporter", name=view.reporter_name, phone=view.reporter_phone or "-")
        )
    else:
        lines.append(ctx.t("task.reporter_private"))
    if report.latitude is not None and report.longitude is not None:
        lines.append(ctx.t("task.map", lat=f"{report.latitude:.5f}", lon=f"{report.longitude:.5f}"))
    for photo in view.before[:3]:
        replies.append(show_photo(ctx, photo.channel, photo.ref, ctx.t("report.photo_before")))
    return lines, replies
