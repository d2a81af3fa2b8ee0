"""Volunteers take and finish tasks; grid leaders assign them. Task kinds add their part of the
card (`Feature.task_cards`) and their rules (`models.tasks` hooks: an after-photo for a report)."""

from __future__ import annotations

from datetime import timedelta

from handlers.core import Choice, Context, Done, Reply, StepResult
from handlers.feature import Audience, Feature, MenuItem
from handlers.intents import Keywords
from handlers.router import Answer, Flow, Outcome, Router, start_flow
from handlers.ui import ask, scope_of, with_menu
from models.errors import DomainError
from models.people import community_zone
from models.tables import Person
from models.tasks import (
    MAX_MINUTES,
    MAX_PHOTO_BYTES,
    MIN_MINUTES,
    Task,
    TaskState,
    accept_task,
    add_note,
    assign_task,
    assignable_volunteers,
    check_minutes,
    decline_task,
    finish_task,
    get_task,
    hand_back,
    hours_of,
    may_see,
    my_tasks,
    oversees,
    task_kind,
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
    card_hook = ctx.features.task_cards.get(task.kind) if ctx.features is not None else None
    if card_hook is not None:
        more_lines, more_replies = await card_hook(ctx, task)
        lines += more_lines
        replies += more_replies
    if task.assignee_id is not None:
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


async def _visible_task(ctx: Context, task_id: int) -> Task | None:
    """The task when this person may see it (offered, held, or in a grid they oversee)."""
    assert ctx.person is not None
    task = await get_task(ctx.session, task_id)
    return task if await may_see(ctx.session, task, ctx.person, scope_of(ctx)) else None


def _not_registered(ctx: Context) -> Outcome:
    return with_menu(ctx, ctx.t("report.register_first"))


@router.payload("task:view", task=int)
async def view_task(ctx: Context, task: int) -> Outcome:
    """The task's card — for those who may see it."""
    if ctx.person is None:
        return _not_registered(ctx)
    found = await _visible_task(ctx, task)
    if found is None:
        return with_menu(ctx, ctx.t("task.not_found"))
    return await task_card(ctx, found)


@router.payload("task:take", task=int)
async def take(ctx: Context, task: int) -> Outcome:
    """接单: first press wins."""
    if ctx.person is None:
        return _not_registered(ctx)
    if await _visible_task(ctx, task) is None:
        return with_menu(ctx, ctx.t("task.not_found"))
    taken = await accept_task(ctx.session, task, ctx.person, scope_of(ctx), ctx.now)
    return [*await task_card(ctx, taken), *with_menu(ctx, ctx.t("task.taken_ok", id=task))]


@router.payload("task:decline", task=int)
async def decline(ctx: Context, task: int) -> Outcome:
    """不接: leave it to the others."""
    if ctx.person is None:
        return _not_registered(ctx)
    if await _visible_task(ctx, task) is None:
        return with_menu(ctx, ctx.t("task.not_found"))
    await decline_task(ctx.session, task, ctx.person, ctx.now)
    return with_menu(ctx, ctx.t("task.declined_ok", id=task))


@router.payload("task:back", task=int)
async def give_back(ctx: Context, task: int) -> Outcome:
    """退回: open again for the others."""
    if ctx.person is None:
        return _not_registered(ctx)
    if await _visible_task(ctx, task) is None:
        return with_menu(ctx, ctx.t("task.not_found"))
    await hand_back(ctx.session, task, ctx.person, ctx.now)
    return with_menu(ctx, ctx.t("task.back_ok", id=task))


@router.payload("task:finish", task=int)
async def finish(ctx: Context, task: int) -> Outcome:
    """完成: only the holder; the flow asks what the kind needs (an after-photo) and the time."""
    if ctx.person is None:
        return _not_registered(ctx)
    found = await _visible_task(ctx, task)
    if found is None:
        return with_menu(ctx, ctx.t("task.not_found"))
    if found.state == TaskState.DONE:
        raise DomainError("task.already_done", id=task)
    if found.assignee_id != ctx.person.id or found.state != TaskState.TAKEN:
        raise DomainError("task.not_yours", id=task)
    return await start_flow(ctx, router.flows["task_finish"], str(task))


@router.payload("task:note", task=int)
async def note(ctx: Context, task: int) -> Outcome:
    """备注: only the holder."""
    if ctx.person is None:
        return _not_registered(ctx)
    found = await _visible_task(ctx, task)
    if found is None:
        return with_menu(ctx, ctx.t("task.not_found"))
    if found.assignee_id != ctx.person.id:
        raise DomainError("error.forbidden")
    return await start_flow(ctx, router.flows["task_note"], str(task))


@router.payload("task:assign", task=int)
async def assign(ctx: Context, task: int) -> Outcome:
    """指派: a grid leader (of that grid) or a manager picks a volunteer."""
    if ctx.person is None:
        return _not_registered(ctx)
    found = await _visible_task(ctx, task)
    if found is None:
        return with_menu(ctx, ctx.t("task.not_found"))
    return await _pick_volunteer(ctx, found)


@router.payload("task:assignto", task=int, person=int)
async def assign_to(ctx: Context, task: int, person: int) -> Outcome:
    """The leader's pick; assign_task re-checks that they oversee the grid."""
    if ctx.person is None:
        return _not_registered(ctx)
    if await _visible_task(ctx, task) is None:
        return with_menu(ctx, ctx.t("task.not_found"))
    _task, volunteer = await assign_task(
        ctx.session, task, ctx.person, scope_of(ctx), person, ctx.now
    )
    return with_menu(ctx, ctx.t("task.assigned_ok", id=task, name=volunteer.name))


async def _pick_volunteer(ctx: Context, task: Task) -> Outcome:
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
        if task_kind(task.kind).finish_needs_photo:
            return ask(ctx, "photo", "task.ask_after_photo", id=task.id)
        return self._ask_minutes(ctx)

    async def step_photo(self, ctx: Context, answer: Answer) -> StepResult:
        photos = ctx.incoming.photos
        if not photos:
            return ask(ctx, "photo", "task.ask_after_photo", error="task.photo_needed",
                       id=ctx.flow_data["task"])  # fmt: skip
        media = photos[0]
        if media.size is not None and media.size > MAX_PHOTO_BYTES:
            return ask(ctx, "photo", "report.photo_too_big", mb=f"{media.size / 1024 / 1024:.1f}",
                       limit=MAX_PHOTO_BYTES // 1024 // 1024)  # fmt: skip
        ctx.flow_data["photo"] = [media.channel, media.ref]
        return self._ask_minutes(ctx)

    def _ask_minutes(self, ctx: Context, note: str = "") -> StepResult:
        choices = [Choice(ctx.t("task.minutes_label", minutes=m) if m < 60 else ctx.t("task.hours_label", hours=m // 60), f"min:{m}") for m in MINUTE_CHOICES]  # fmt: skip
        return ask(ctx, "minutes", "task.ask_minutes", choices, note=note, low=MIN_MINUTES,
                   high=MAX_MINUTES // 60)  # fmt: skip

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
        task = await finish_task(ctx.session, int(ctx.flow_data["task"]), ctx.person, minutes,
                                 ctx.now, photo)  # fmt: skip
        with_photo = task_kind(task.kind).finish_needs_photo
        key = "task.finished_ok" if with_photo else "task.finished_ok_other"
        return Done(with_menu(ctx, ctx.t(key, id=task.id, minutes=minutes)))


@router.flow
class NoteFlow(Flow):
    """备注: a line kept with the task."""

    name = "task_note"

    async def start(self, ctx: Context, arg: str) -> StepResult:
        ctx.flow_data["task"] = int(arg)
        return ask(ctx, "text", "task.ask_note")

    async def step_text(self, ctx: Context, answer: Answer) -> StepResult:
        assert ctx.person is not None
        try:
            await add_note(ctx.session, int(ctx.flow_data["task"]), ctx.person, answer.text)
        except DomainError as err:
            return ask(ctx, "text", "task.ask_note", error=err)
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


feature = Feature(
    name="tasks",
    router=router,
    menu=(
        MenuItem("tasks", 100, Audience.VOLUNTEER),
        MenuItem("hours", 110, Audience.VOLUNTEER),
    ),
    keywords=(
        Keywords(
            "tasks",
            zh=(
                "任务 接单 派单 我的时长 志愿服务 服务时长 志愿时长 抢单 工单 "
                "待办 巡逻 上门走访 走访 入户 红管家 我的任务 志愿积分 当志愿者 "
                "做志愿者 时长 志愿者:1.5"
            ),
            en=(
                "tasks, task, my hours, hours, volunteer hours, assignment, assignments, my "
                "tasks, patrol, work order, orders, duty"
            ),
            rank=8,
        ),
    ),
)
