"""Shared conversation helpers every feature uses: the main menu, cancel, and one form question."""

from __future__ import annotations

from collections.abc import Sequence

from handlers.core import Ask, Choice, Context, Reply
from models.errors import DomainError
from models.media import STORE
from models.people import Scope
from models.tasks import staff_scope

CHANNEL_NAMES = {"telegram": "channel.telegram", "wechat": "channel.wechat",
                 "wecom": "channel.wecom", "console": "channel.console"}  # fmt: skip


def main_menu(ctx: Context) -> list[Choice]:
    """The big buttons this person sees, by role (derived from the declared features)."""
    return ctx.features.main_menu(ctx) if ctx.features is not None else []


def cancel_choice(ctx: Context) -> Choice:
    """The '✖ 取消' button every multi-step question offers."""
    return Choice(ctx.t("btn.cancel"), "cancel")


def with_menu(ctx: Context, text: str) -> list[Reply]:
    """One reply with the main menu under it."""
    return [Reply(text, menu=main_menu(ctx))]


def ask(
    ctx: Context,
    step: str,
    question: str,
    choices: Sequence[Choice] = (),
    *,
    error: str | DomainError | None = None,
    note: str = "",
    hint: str = "",
    cancel: bool = True,
    **values: object,
) -> Ask:
    """Ask the text of key `question` at `step`: an error key (or DomainError) and a note above it,
    a hint below it, its choices and, unless `cancel=False`, the cancel button under them."""
    lines: list[str] = []
    if isinstance(error, DomainError):
        lines.append(ctx.t(error.key, **error.values))
    elif error:
        lines.append(ctx.t(error))
    if note:
        lines.append(note)
    lines.append(ctx.t(question, **values))
    if hint:
        lines.append(hint)
    buttons = [*choices, cancel_choice(ctx)] if cancel else list(choices)
    return Ask(step, [Reply("\n".join(lines), buttons)])


def scope_of(ctx: Context) -> Scope | None:
    """The grids this (registered) person oversees, or None."""
    assert ctx.person is not None
    return staff_scope(ctx.person.community_id, ctx.roles)


def show_photo(ctx: Context, channel: str, ref: str, caption: str) -> Reply:
    """A photo from the media store (any channel shows it), or one on the viewer's channel, else
    a line saying where it can be seen (a photo that could not be kept when it arrived)."""
    if channel in (ctx.incoming.channel, STORE):
        return Reply(caption, photo_ref=f"{channel}:{ref}")
    where = ctx.t(CHANNEL_NAMES.get(channel, "channel.other"))
    return Reply(caption + "\n" + ctx.t("report.photo_elsewhere", channel=where))
