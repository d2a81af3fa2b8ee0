"""Home visits (上门走访) as a task kind: the benefits outreach creates them for a grid leader.

A home visit needs no after-photo and its hours count at once (nobody rates a visit). It closes
through the generic finish; the visit's own button (`bapply:<person>:<programme>`) is the task's
action and is re-checked when pressed.
"""

from __future__ import annotations

from models.tasks import TaskKind, TaskKindHooks, register_task_kind

HOME_VISIT = register_task_kind(TaskKindHooks(TaskKind.HOME_VISIT))
