"""An events table sent in the chat as a document (the chat's `linli import events`): a manager
or grid leader sends the .xlsx / .csv, the events are created with a report per row.

Recognised by its header row (标题 开始 结束 地点 名额 …, models/event_import.py), routed by
handlers/uploads.py; each row is its own savepoint, so a bad row is reported and leaves nothing
behind while the good rows are created. Who may send it is checked before the file is fetched,
and again by the import (`may_create_events`).
"""

from __future__ import annotations

from handlers.core import Context
from handlers.router import Outcome
from handlers.ui import with_menu
from handlers.uploads import FileKind
from models.errors import DomainError
from models.event_import import import_events_here, looks_like_events
from models.events import may_create_events

LISTED_ROWS = 30  # rows listed in the answer; a longer file says how many more


async def _may_send(ctx: Context) -> bool:
    return ctx.person is not None and await may_create_events(ctx.session, ctx.person)


async def _events_file(ctx: Context, data: bytes, filename: str) -> Outcome:
    assert ctx.person is not None
    try:
        report = await import_events_here(
            ctx.session, organiser=ctx.person, data=data, filename=filename, now=ctx.now
        )
    except DomainError as err:  # unreadable, no header, too many rows: nothing was made
        return with_menu(ctx, ctx.t(err.key, **err.values))
    lines = [ctx.t("uploads.events_file", file=filename)]
    for row in report.rows[:LISTED_ROWS]:
        text = ctx.t(row.key, **row.values)
        lines.append(ctx.t("events.import_row", row=row.row, text=text))
    if len(report.rows) > LISTED_ROWS:
        lines.append(ctx.t("uploads.more_rows", count=len(report.rows) - LISTED_ROWS))
    lines.append(
        ctx.t(
            "events.import_summary",
            created=report.count("created"),
            exists=report.count("exists"),
            errors=report.count("error"),
        )
    )
    return with_menu(ctx, "\n".join(lines))


EVENTS_FILE = FileKind(
    name="events",
    label_key="uploads.kind_events",
    may_send=_may_send,
    recognise=looks_like_events,
    handle=_events_file,
)
