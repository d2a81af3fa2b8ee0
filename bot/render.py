"""Rendering replies as numbered text, for channels without buttons (console, WeChat)."""

from __future__ import annotations

from handlers.core import Reply, Venue
from handlers.router import menu_of


def venue_line(venue: Venue) -> str:
    """A place as text, for channels that cannot show a map."""
    return f"📍 {venue.title}：{venue.address}"


def numbered_lines(replies: list[Reply]) -> list[str]:
    """Each reply's text with its choices numbered, then the menu; numbers match the stored choices."""
    blocks: list[str] = []
    n = 0
    for reply in replies:
        lines = [reply.text] if reply.text else []
        if reply.venue is not None:  # no map here: the place as a line of text
            lines.append(venue_line(reply.venue))
        for choice in reply.choices:
            n += 1
            lines.append(f"  {n}. {choice.label}")
        blocks.append("\n".join(lines))
    menu = menu_of(replies)
    if menu:
        items = []
        for choice in menu:
            n += 1
            items.append(f"{n}. {choice.label}")
        # Two a line: short enough for a phone screen, big enough to read.
        blocks.append("\n".join("　".join(items[i : i + 2]) for i in range(0, len(items), 2)))
    return blocks
