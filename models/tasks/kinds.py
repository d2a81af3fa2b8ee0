"""The registry of task kinds: what each kind does when one of its tasks moves.

`models/tasks` owns the registry and calls the hooks; each kind's own module registers its
hooks when it is imported (`models/reports` for reports, `models/home_visits` for home visits,
an event duty later from its events module). The registry loads every models module before it
answers, so a kind's hooks cannot be missed because nothing happened to import its module.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from models.tables import Person
from models.tasks.tables import Task

# (session, task, person who acted, now): runs inside the transaction of the move.
TaskHook = Callable[[AsyncSession, Task, Person, datetime], Awaitable[None]]
# Finishing also hands over the after-photo, (channel, reference), when there is one.
FinishHook = Callable[
    [AsyncSession, Task, Person, datetime, tuple[str, str] | None], Awaitable[None]
]


@dataclass(frozen=True)
class TaskKindHooks:
    """What one task kind adds to the generic task: hooks per move, and two rules."""

    kind: str
    on_taken: TaskHook | None = None  # 接单 (first press won)
    on_released: TaskHook | None = None  # 退回 (open again)
    on_assigned: TaskHook | None = None  # a leader gave it to someone (person: the assignee)
    on_finished: FinishHook | None = None  # 完成
    finish_needs_photo: bool = False  # finishing asks for (and requires) an after-photo
    # When a finished task's hours may be credited (an SQL condition on Task at `now`);
    # None: at once. Reports wait for the rating, or 72 hours.
    hours_due: Callable[[datetime], ColumnElement[bool]] | None = None


_KINDS: dict[str, TaskKindHooks] = {}
_loaded = False


def register_task_kind(hooks: TaskKindHooks) -> TaskKindHooks:
    """Declare a task kind's hooks (once per kind)."""
    if hooks.kind in _KINDS:
        raise ValueError(f"task kind registered twice: {hooks.kind}")
    _KINDS[hooks.kind] = hooks
    return hooks


def unregister_task_kind(kind: str) -> None:
    """Forget a kind (for a test that registered one of its own)."""
    _KINDS.pop(kind, None)


def task_kind(kind: str) -> TaskKindHooks:
    """The hooks of a kind; a kind nobody registered has none."""
    global _loaded
    if not _loaded:
        from models import load_all

        load_all()
        _loaded = True
    return _KINDS.get(kind) or TaskKindHooks(kind)


def hours_conditions(now: datetime) -> dict[str, ColumnElement[bool]]:
    """Kind → the condition its finished tasks' hours wait for (kinds that wait at all)."""
    task_kind("")  # every kind's module loaded
    return {k: h.hours_due(now) for k, h in sorted(_KINDS.items()) if h.hours_due is not None}
