"""Files sent into the chat as a document, routed by what they are (their header row / sheet).

A feature that takes a kind of file registers it with one line, `register_file_kind(FileKind(…))`:
who may send it (`may_send`, checked before anything is downloaded), how it is recognised from
its bytes (`recognise`: the header row, not the file name), and what is done with it (`handle`,
in the chat's transaction). The resident register (handlers/benefits/review.py) is the fallback:
a manager's file that no kind recognises is read as a register, which explains what it lacks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from handlers.core import Context
from handlers.router import Outcome


@dataclass(frozen=True)
class FileKind:
    name: str
    label_key: str  # what the file is, for "send one of these" (e.g. "活动表：标题、开始…")
    may_send: Callable[[Context], Awaitable[bool]]
    recognise: Callable[[bytes, str], bool]
    handle: Callable[[Context, bytes, str], Awaitable[Outcome]]


FILE_KINDS: list[FileKind] = []


def register_file_kind(kind: FileKind) -> FileKind:
    """Make a kind of file known to the document routing (a feature's handlers module, at import)."""
    if kind in FILE_KINDS:
        return kind
    if any(k.name == kind.name for k in FILE_KINDS):
        raise ValueError(f"file kind {kind.name!r} registered twice")
    FILE_KINDS.append(kind)
    return kind


async def kinds_for(ctx: Context) -> list[FileKind]:
    """The kinds of file this person may send, in registration order."""
    if ctx.person is None:
        return []
    return [kind for kind in FILE_KINDS if await kind.may_send(ctx)]


def recognised(kinds: list[FileKind], data: bytes, filename: str) -> FileKind | None:
    """The first of these kinds the file is (by its header), if any."""
    return next((kind for kind in kinds if kind.recognise(data, filename)), None)
