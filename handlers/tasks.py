"""Volunteers take and finish tasks; grid leaders assign and watch their grid; managers see ratings."""

from __future__ import annotations

import io
from datetime import timedelta

from handlers.core import Ask, Choice, Context, Done, Reply, StepResult
from handlers.menu import cancel_choice, with_menu
from handlers.reports import scope_of, show_photo
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from models.errors import DomainError
from models.people import community_zone
from models.reports import (
    Score,
    accept_task,
    assign_report_task,
    case_no,
    finish_report_task,
    hand_back,
    open_cases,
    scores,
    view_report,
)
from models.tables import Report, Task, TaskKind, TaskState
from models.tasks import (
    MAX_MINUTES,
    MIN_MINUTES,
    add_note,
    assignable_volunteers,
    check_minutes,
    decline_task,
    get_task,
    hours_of,
    may_see,
    my_tasks,
)

router = Router()

MINUTE_CHOICES = (15, 30, 60, 120)


def _is_volunteer(ctx: Context) -> bool:
    return ctx.has_role("volunteer") or ctx.has_role("grid_leader")


async def task_card(ctx: Context, task: Task) -> list[Reply]:
    """The task as its viewer may see it; a report's reporter stays anonymous unless they allowed it."""
    assert ctx.person is not None and task.id is not None
    lines = [
        ctx.t("task.card", id=task.id, title=task.title, state=ctx.t(f"task.state_{task.state}"))
    ]
    if task.detail:
        lines.append(task.detail)
    replies: list[Reply] = []
    if task.report_id is not None:
        report = await ctx.session.get(Report, task.report_id)
        if report is not None:
            view = await view_report(ctx.session, report, ctx.person, scope_of(ctx))
            if view.reporter_name:
                lines.append(ctx.t("report.card_reporter", name=view.reporter_name,
                                   phone=view.reporter_phone or "-"))  # fmt: skip
            else:
                lines.append(ctx.t("task.reporter_private"))
            if report.latitude is not None and report.longitude is not None:
                lines.append(
                    ctx.t("task.map", lat=f"{report.latitude:.5f}", lon=f"{report.longitude:.5f}")
                )
            for photo in view.before[:3]:
                replies.append(
                    show_photo(ctx, photo.channel, photo.ref, ctx.t("report.photo_before"))
                )
    if task.assignee_id is not None:
        from models.tables import Person

        holder = await ctx.session.get(Person, task.assignee_id)
        lines.append(ctx.t("task.holder", name=holder.name if holder else "?"))
    if task.note:
        lines.append(ctx.t("task.note_line", note=task.note))
    choices = []
    mine = task.assignee_id == ctx.person.id
    if task.state == TaskState.OPEN:
        choices += [Choice(ctx.t("task.btn_take"), f"task:take:{task.id}"),
                    Choice(ctx.t("task.btn_decline"), f"task:decline:{task.id}")]  # fmt: skip
    if mine and task.state == TaskState.TAKEN:
        choices += [
            Choice(ctx.t("task.btn_finish"), f"task:finish:{task.id}"),
            Choice(ctx.t("task.btn_note"), f"task:note:{task.id}"),
            Choice(ctx.t("task.btn_back"), f"task:back:{task.id}"),
        ]
    scope = scope_of(ctx)
    if scope is not None and task.state in (TaskState.OPEN, TaskState.TAKEN):
        choices.append(Choice(ctx.t("task.btn_assign"), f"task:assign:{task.id}"))
    if task.action_label_key and task.action_payload and task.state != TaskState.DONE:
        choices.append(Choice(ctx.t(task.action_label_key), task.action_payload))
    return [Reply("\n".join(lines), choices), *replies]


@router.payload("task")
async def task_button(ctx: Context, rest: str) -> Outcome:
    """task:<action>:<id>[:<person>] — every action re-checks who may do it."""
    if ctx.person is None:
        return with_menu(ctx, ctx.t("report.register_first"))
    action, _, tail = rest.partition(":")
    raw_id, _, arg = tail.partition(":")
    if not raw_id.isdigit():
        return with_menu(ctx, ctx.t("error.stale_button"))
    task_id = int(raw_id)
    scope = scope_of(ctx)
    task = await get_task(ctx.session, task_id)
    if not await may_see(ctx.session, task, ctx.person, scope):
        return with_menu(ctx, ctx.t("task.not_found"))
    if action == "view":
        return await task_card(ctx, task)
    if action == "take":
        task = await accept_task(ctx.session, task_id, ctx.person, scope, ctx.now)
        return [*await task_card(ctx, task), *with_menu(ctx, ctx.t("task.taken_ok", id=task_id))]
    if action == "decline":
        await decline_task(ctx.session, task_id, ctx.person, ctx.now)
        return with_menu(ctx, ctx.t("task.declined_ok", id=task_id))
    if action == "back":
        await hand_back(ctx.session, task_id, ctx.person, ctx.now)
        return with_menu(ctx, ctx.t("task.back_ok", id=task_id))
    if action == "finish":
        if task.state == TaskState.DONE:
            raise DomainError("task.already_done", id=task_id)
        if task.assignee_id != ctx.person.id or task.state != TaskState.TAKEN:
            raise DomainError("task.not_yours", id=task_id)
        return await start_flow(ctx, router.flows["task_finish"], str(task_id))
    if action == "note":
        if task.assignee_id != ctx.person.id:
            raise DomainError("error.forbidden")
        return await start_flow(ctx, router.flows["task_note"], str(task_id))
    if action == "assign":
        return await _pick_volunteer(ctx, task)
    if action == "assignto" and arg.isdigit():
        task, volunteer = await assign_report_task(
            ctx.session, task_id, ctx.person, scope, int(arg), ctx.now
        )
        return with_menu(ctx, ctx.t("task.assigned_ok", id=task_id, name=volunteer.name))
    return with_menu(ctx, ctx.t("error.stale_button"))


async def _pick_volunteer(ctx: Context, task: Task) -> Outcome:
    from models.tasks import oversees

    if not oversees(scope_of(ctx), task.community_id, task.grid_id):
        raise DomainError("error.forbidden")
    people = await assignable_volunteers(ctx.session, task)
    if not people:
        return with_menu(ctx, ctx.t("task.no_volunteers"))
    choices = [Choice(p.name, f"task:assignto:{task.id}:{p.id}") for p in people[:20]]
    return [Reply(ctx.t("task.ask_assignee", id=task.id, title=task.title), choices)]


@router.flow
class FinishFlow(Flow):
    """完成: an after-photo (for a report), then the time it took."""

    name = "task_finish"
    timeout = timedelta(hours=2)

    async def start(self, ctx: Context, arg: str) -> StepResult:
        ctx.flow_data["task"] = int(arg)
        task = await get_task(ctx.session, int(arg))
        if task.kind == TaskKind.REPORT:
            return Ask(
                "photo", [Reply(ctx.t("task.ask_after_photo", id=task.id), [cancel_choice(ctx)])]
            )
        return self._ask_minutes(ctx)

    async def step_photo(self, ctx: Context, answer: Answer) -> StepResult:
        photos = ctx.incoming.photos
        if not photos:
            return Ask("photo", [Reply(ctx.t("task.photo_needed") + "\n" + ctx.t("task.ask_after_photo", id=ctx.flow_data["task"]), [cancel_choice(ctx)])])  # fmt: skip
        from models.reports import MAX_PHOTO_BYTES

        media = photos[0]
        if media.size is not None and media.size > MAX_PHOTO_BYTES:
            text = ctx.t("report.photo_too_big", mb=f"{media.size / 1024 / 1024:.1f}",
                         limit=MAX_PHOTO_BYTES // 1024 // 1024)  # fmt: skip
            return Ask("photo", [Reply(text, [cancel_choice(ctx)])])
        ctx.flow_data["photo"] = [media.channel, media.ref]
        return self._ask_minutes(ctx)

    def _ask_minutes(self, ctx: Context, note: str = "") -> StepResult:
        choices = [Choice(ctx.t("task.minutes_label", minutes=m) if m < 60 else ctx.t("task.hours_label", hours=m // 60), f"min:{m}") for m in MINUTE_CHOICES]  # fmt: skip
        text = ctx.t("task.ask_minutes", low=MIN_MINUTES, high=MAX_MINUTES // 60)
        return Ask(
            "minutes", [Reply((note + "\n" if note else "") + text, [*choices, cancel_choice(ctx)])]
        )

    async def step_minutes(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        raw = (answer.payload or "").removeprefix("min:") if answer.payload else answer.text.strip()
        raw = raw.removesuffix("分钟").removesuffix("分").removesuffix("min").strip()
        if not raw.isdigit():
            return self._ask_minutes(ctx, ctx.t("task.minutes_number"))
        try:
            minutes = check_minutes(int(raw))
        except DomainError as err:
            return self._ask_minutes(ctx, ctx.t(err.key, **err.values))
        raw_photo = ctx.flow_data.get("photo")
        photo = (str(raw_photo[0]), str(raw_photo[1])) if raw_photo else None
        task = await finish_report_task(ctx.session, int(ctx.flow_data["task"]), ctx.person,
                                        minutes, photo, ctx.now)  # fmt: skip
        key = "task.finished_ok" if task.kind == TaskKind.REPORT else "task.finished_ok_other"
        return Done(with_menu(ctx, ctx.t(key, id=task.id, minutes=minutes)))


@router.flow
class NoteFlow(Flow):
    """备注: a line kept with the task."""

    name = "task_note"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        ctx.flow_data["task"] = int(arg)
        return Ask("text", [Reply(ctx.t("task.ask_note"), [cancel_choice(ctx)])])

    async def step_text(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        try:
            await add_note(ctx.session, int(ctx.flow_data["task"]), ctx.person, answer.text)
        except DomainError as err:
            return Ask(
                "text",
                [Reply(ctx.t(err.key) + "\n" + ctx.t("task.ask_note"), [cancel_choice(ctx)])],
            )
        return Done(with_menu(ctx, ctx.t("task.note_saved")))


@router.intent("tasks", "tasks")
async def tasks(ctx: Context, _arg: str) -> Outcome:
    """我的任务: what I hold and what is offered to me, oldest first, and my hours."""
    if ctx.person is None or ctx.person.id is None or not _is_volunteer(ctx):
        return with_menu(ctx, ctx.t("error.volunteers_only"))
    held, offered = await my_tasks(ctx.session, ctx.person.id)
    if not held and not offered:
        return with_menu(ctx, ctx.t("task.none") + "\n" + await hours_line(ctx))
    lines = [ctx.t("task.list_title")]
    choices = []
    for t in held:
        lines.append(ctx.t("task.list_held", id=t.id, title=t.title))
        choices.append(Choice(ctx.t("task.btn_view_n", id=t.id), f"task:view:{t.id}"))
        choices.append(Choice(ctx.t("task.btn_finish_n", id=t.id), f"task:finish:{t.id}"))
    for t in offered:
        lines.append(ctx.t("task.list_offered", id=t.id, title=t.title))
        choices.append(Choice(ctx.t("task.btn_view_n", id=t.id), f"task:view:{t.id}"))
    return [Reply("\n".join(lines), choices[:10])]


@router.intent("hours", "hours")
async def hours(ctx: Context, _arg: str) -> Outcome:
    """我的时长: recorded volunteer hours, all and this month."""
    if ctx.person is None or ctx.person.id is None or not _is_volunteer(ctx):
        return with_menu(ctx, ctx.t("error.volunteers_only"))
    return with_menu(ctx, await hours_line(ctx))


async def hours_line(ctx: Context) -> str:
    """'⏱ 您的志愿时长：共 3.5 小时（4 次），本月 1.0 小时。'"""
    assert ctx.person is not None and ctx.person.id is not None
    zone = await community_zone(ctx.session, ctx.person.community_id)
    h = await hours_of(ctx.session, ctx.person.id, ctx.now, zone)
    return ctx.t("hours.summary", total=f"{h.total / 60:.1f}", month=f"{h.this_month / 60:.1f}",
                 tasks=h.tasks)  # fmt: skip


@router.intent("cases", "cases")
async def grid_cases(ctx: Context, _arg: str) -> Outcome:
    """网格事项: a grid leader's (or manager's) open cases, oldest first."""
    scope = scope_of(ctx) if ctx.person is not None else None
    if scope is None:
        return with_menu(ctx, ctx.t("error.forbidden"))
    cases = await open_cases(ctx.session, scope)
    if not cases:
        return with_menu(ctx, ctx.t("cases.none"))
    zone = await community_zone(ctx.session, scope.community_id)
    lines = [ctx.t("cases.title", count=len(cases))]
    choices = []
    for case in cases:
        r = case.report
        assert r.id is not None
        age = ctx.now - r.created_at
        lines.append(ctx.t("cases.line", no=case_no(r.id), category=ctx.t(f"report.cat_{r.category}"),
                           place=case.place, state=ctx.t(f"report.state_{r.state}"),
                           since=r.created_at.astimezone(zone).strftime("%m-%d %H:%M"),
                           hours=int(age.total_seconds() // 3600),
                           holder=case.holder or ctx.t("cases.nobody")))  # fmt: skip
        choices.append(Choice(ctx.t("status.btn_view", no=case_no(r.id)), f"report:view:{r.id}"))
        if r.task_id is not None and r.state in ("new", "reopened", "taken"):
            choices.append(
                Choice(ctx.t("cases.btn_assign", no=case_no(r.id)), f"task:assign:{r.task_id}")
            )
    return [Reply("\n".join(lines), choices[:12])]


def ratings_chart(title: str, names: list[str], averages: list[float], counts: list[int]) -> bytes:
    """A small bar chart (PNG) of average stars; names are given in pinyin (no CJK font needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 0.5 + 0.45 * max(1, len(names))), dpi=100)
    ax = fig.subplots()
    ax.barh(names[::-1], averages[::-1], color="#c0392b")
    for y, (avg, n) in enumerate(zip(averages[::-1], counts[::-1], strict=True)):
        ax.text(avg + 0.05, y, f"{avg:.1f} ({n})", va="center", fontsize=8)
    ax.set_xlim(0, 5.8)
    ax.set_xlabel("stars (ratings)")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def latin(name: str) -> str:
    """A name in pinyin for the chart ('李红' → 'Li Hong')."""
    from pypinyin import lazy_pinyin

    return " ".join(p.capitalize() for p in lazy_pinyin(name))


@router.intent("ratings", "ratings")
async def ratings(ctx: Context, _arg: str) -> Outcome:
    """居民评议: managers see per-team and per-volunteer ratings, with a chart."""
    if ctx.person is None or not ctx.has_role("manager"):
        return with_menu(ctx, ctx.t("error.forbidden"))
    teams = await scores(ctx.session, ctx.person.community_id, ctx.now, "team")
    people = await scores(ctx.session, ctx.person.community_id, ctx.now, "volunteer")
    if not people:
        return with_menu(ctx, ctx.t("ratings.none"))

    def line(s: Score) -> str:
        return ctx.t(
            "ratings.line", name=s.name, avg=f"{s.average:.1f}", count=s.count, trend=s.trend
        )

    text = "\n".join(
        [ctx.t("ratings.teams"), *map(line, teams), ctx.t("ratings.people"), *map(line, people)]
    )
    chart = ratings_chart(
        "Volunteer ratings", [latin(s.name) for s in people[:12]],
        [s.average for s in people[:12]], [s.count for s in people[:12]],
    )  # fmt: skip
    return [Reply(text), Reply(ctx.t("ratings.chart"), photo=chart, photo_name="ratings.png"),
            *with_menu(ctx, ctx.t("ratings.trend_hint"))]  # fmt: skip
