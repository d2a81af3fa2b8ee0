"""Compatibility only: `bot/channels/wechat_channel.py` reads `ALL_ITEMS` for the WeChat menu.

The main menu is derived from the declared features (`bot.app.FEATURES`); this copy of its
item names goes once the WeChat channel's split (issue 18, engineer h21) reads them from there.
tests/test_features.py checks it equals the derived menu.
"""

from __future__ import annotations

ALL_ITEMS: tuple[tuple[str, str], ...] = tuple(
    (name, f"menu.{name}")
    for name in (
        "register", "report", "benefits", "booking", "vote", "events", "stations", "status",
        "tasks", "myteam", "hours", "cases", "broadcast", "notices", "pending", "invite", "roster",
        "ratings", "mute",
        "language", "help",
    )
)  # fmt: skip
