"""Greeting, the main menu, help, language, free text and the features still to come."""

from __future__ import annotations

from collections.abc import Callable

from handlers.core import Choice, Context, Reply
from handlers.intents import normalize
from handlers.router import Outcome, Router
from models.people import set_locale

router = Router()

RESIDENT_ITEMS = (
    ("report", "menu.report"),
    ("benefits", "menu.benefits"),
    ("booking", "menu.booking"),
    ("vote", "menu.vote"),
    ("events", "menu.events"),
    ("stations", "menu.stations"),
    ("status", "menu.status"),
)
GUEST_ITEMS = (("register", "menu.register"),)
VOLUNTEER_ITEMS = (("tasks", "menu.tasks"), ("myteam", "menu.myteam"), ("hours", "menu.hours"))
STAFF_ITEMS = (
    ("cases", "menu.cases"),
    ("broadcast", "menu.broadcast"),
    ("notices", "menu.notices"),
    ("pending", "menu.pending"),
    ("invite", "menu.invite"),
    ("roster", "menu.roster"),
)
MANAGER_ITEMS = (("ratings", "menu.ratings"),)
PERSON_ITEMS = (("mute", "menu.mute"),)
COMMON_ITEMS = (("language", "menu.language"), ("help", "menu.help"))
ALL_ITEMS = (
    RESIDENT_ITEMS
    + GUEST_ITEMS
    + VOLUNTEER_ITEMS
    + STAFF_ITEMS
    + MANAGER_ITEMS
    + PERSON_ITEMS
    + COMMON_ITEMS
)

# Features that later work builds: the menu, routing and texts exist now.
COMING_SOON = ("booking", "vote", "events", "stations")

# The commands registered with the platforms, in menu order.
COMMANDS = (
    ("start", "cmd.start"),
    ("report", "cmd.report"),
    ("benefits", "cmd.benefits"),
    ("book", "cmd.book"),
    ("vote", "cmd.vote"),
    ("events", "cmd.events"),
    ("stations", "cmd.stations"),
    ("status", "cmd.status"),
    ("register", "cmd.register"),
    ("team", "cmd.team"),
    ("mute", "cmd.mute"),
    ("lang", "cmd.lang"),
    ("cancel", "cmd.cancel"),
    ("help", "cmd.help"),
)


def main_menu(ctx: Context) -> list[Choice]:
    """The big buttons this person sees, by role."""
    items = list(RESIDENT_ITEMS)
    if ctx.person is None:
        items = list(GUEST_ITEMS) + items
    if ctx.has_role("volunteer") or ctx.has_role("grid_leader"):
        items += VOLUNTEER_ITEMS
    if ctx.is_staff:
        items += STAFF_ITEMS
    if ctx.has_role("manager"):
        items += MANAGER_ITEMS
    if ctx.person is not None:
        items += PERSON_ITEMS
    items += COMMON_ITEMS
    return [Choice(ctx.t(key), f"intent:{name}") for name, key in items]


def menu_labels(translate: Callable[[str, str], str], locales: tuple[str, ...]) -> dict[str, str]:
    """Normalized label → intent, for every menu label in every language."""
    labels: dict[str, str] = {}
    for locale in locales:
        for name, key in ALL_ITEMS:
            labels[normalize(translate(locale, key))] = name
    return labels


def cancel_choice(ctx: Context) -> Choice:
    """The '✖ 取消' button every multi-step question offers."""
    return Choice(ctx.t("btn.cancel"), "cancel")


def with_menu(ctx: Context, text: str) -> list[Reply]:
    """One reply with the main menu under it."""
    return [Reply(text, menu=main_menu(ctx))]


@router.intent("help", "help", "menu")
async def show_help(ctx: Context, _arg: str) -> Outcome:
    """The menu with a short guide."""
    return with_menu(ctx, ctx.t("help.text"))


@router.intent("start", "start")
async def start(ctx: Context, arg: str) -> Outcome:
    """Greeting; `/start CODE` (a deep link) joins through an invitation."""
    if arg.strip():
        from handlers.onboarding import join_with_code

        return await join_with_code(ctx, arg.strip())
    if ctx.person is not None:
        return with_menu(ctx, ctx.t("start.hello_known", name=ctx.person.name))
    return with_menu(ctx, ctx.t("start.hello_new"))


@router.intent("language", "lang", "language")
async def language(ctx: Context, arg: str) -> Outcome:
    """Switch between Chinese and English ('/lang en', 'English', '中文', or a toggle)."""
    word = normalize(arg)
    if word in ("en", "english", "英文", "英语") or "english" in word:
        target = "en"
    elif word in ("zh", "中文", "汉语", "chinese", "简体中文") or "中文" in word:
        target = "zh"
    else:
        target = "en" if ctx.locale == "zh" else "zh"
    ctx.locale = await set_locale(ctx.session, ctx.account, ctx.person, target)
    return with_menu(ctx, ctx.t("lang.switched"))


@router.before_intents
async def media_or_code(ctx: Context, text: str) -> Outcome | None:
    """A bare photo is a report, a bare location looks for stations, a code joins."""
    from handlers.onboarding import join_with_code
    from models.onboarding import looks_like_code

    inc = ctx.incoming
    if not text and inc.photos:
        return await router.intents["report"](ctx, "")
    if not text and inc.location is not None:
        return await router.intents["stations"](ctx, "")
    if looks_like_code(text):
        return await join_with_code(ctx, text)
    return None


def _coming_soon(name: str) -> Callable[[Context, str], object]:
    async def handler(ctx: Context, _arg: str) -> Outcome:
        return with_menu(ctx, ctx.t("soon.text", feature=ctx.t(f"feature.{name}")))

    handler.__name__ = f"soon_{name}"
    return handler


for _name, *_cmds in (
    ("booking", "book", "booking"),
    ("vote", "vote"),
    ("events", "events"),
    ("stations", "stations"),
):
    router.intent(_name, *_cmds)(_coming_soon(_name))  # type: ignore[arg-type]
