"""Account administration: the custom menu and scan-to-join invitation QR codes."""

from __future__ import annotations

from typing import Any

from bot.channels.wechat.api import WeChatApi
from bot.i18n import translate
from handlers import menu

# ---------------------------------------------------------------- custom menu


# Three top-level buttons (WeChat's maximum), each with up to five items of the main menu.
OA_MENU = (
    ("wechat.menu.services", ("report", "benefits", "booking", "status")),
    ("wechat.menu.community", ("vote", "events", "stations", "tasks", "myteam")),
    ("wechat.menu.me", ("register", "mute", "language", "help")),
)
WECOM_MENU = (
    ("wechat.menu.work", ("broadcast", "notices", "pending", "invite", "tasks")),
    ("wechat.menu.services", ("report", "status", "events", "vote", "stations")),
    ("wechat.menu.me", ("myteam", "register", "mute", "language", "help")),
)


def custom_menu(channel: str, locale: str = "zh") -> dict[str, Any]:
    """The platform menu: the main menu's items, grouped; a tap sends `intent:<name>`."""
    keys = dict(menu.ALL_ITEMS)
    buttons = []
    for title_key, names in WECOM_MENU if channel == "wecom" else OA_MENU:
        buttons.append(
            {
                "name": translate(locale, title_key),
                "sub_button": [
                    {"type": "click", "name": translate(locale, keys[n]), "key": f"intent:{n}"}
                    for n in names
                ],
            }
        )
    return {"button": buttons}


async def install_menu(api: WeChatApi, channel: str, agent_id: int | None = None) -> dict[str, Any]:
    """Create (replace) the custom menu of the official account or the WeCom app."""
    params = {"agentid": str(agent_id)} if channel == "wecom" and agent_id is not None else None
    return await api.call("/cgi-bin/menu/create", json=custom_menu(channel), params=params)


MAX_TEMPORARY_QR_SECONDS = 30 * 24 * 3600


async def invitation_qr_url(api: WeChatApi, code: str, seconds_left: int) -> tuple[str, int]:
    """A parametric QR code of the official account carrying an invitation code as its scene.

    Scanning it follows the account (or, for a follower, sends a SCAN event) with the code,
    which onboards the person like a Telegram deep link. WeChat's temporary codes live at most
    30 days; an invitation that lives longer gets a permanent code (their number is limited,
    100,000 per account). Returns the QR content URL and its lifetime in seconds (0: permanent).
    """
    scene = {"scene": {"scene_str": code}}
    if seconds_left <= MAX_TEMPORARY_QR_SECONDS:
        body = {"expire_seconds": seconds_left, "action_name": "QR_STR_SCENE", "action_info": scene}
    else:
        body = {"action_name": "QR_LIMIT_STR_SCENE", "action_info": scene}
    data = await api.call("/cgi-bin/qrcode/create", json=body)
    return str(data["url"]), int(data.get("expire_seconds", 0) or 0)
