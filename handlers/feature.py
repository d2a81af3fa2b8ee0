"""A feature declares itself once; the composition root derives everything shared from the list.

`feature = Feature(...)` in a handlers module names its router, its main-menu items (with the
people who see them and their place), the /commands published on the platforms, its free-text
keywords (zh/en), its contribution to the 📋 我的事项 screen and its task-card hooks per task
kind. `FeatureSet(features)` (built once in `bot/app.py`) derives the one router, the main
menu, the menu labels, the platform command list, the intent detector and the 我的事项 screen.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from handlers.core import Choice, Context, Reply
from handlers.intents import IntentDetector, Keywords, normalize
from handlers.router import Router


class Audience(StrEnum):
    """Who sees a main-menu item."""

    EVERYONE = "everyone"
    GUEST = "guest"  # not registered yet
    PERSON = "person"  # registered
    VOLUNTEER = "volunteer"  # volunteers and grid leaders
    STAFF = "staff"  # grid leaders and managers
    MANAGER = "manager"

    def sees(self, ctx: Context) -> bool:
        """True when this person belongs to the audience."""
        match self:
            case Audience.EVERYONE:
                return True
            case Audience.GUEST:
                return ctx.person is None
            case Audience.PERSON:
                return ctx.person is not None
            case Audience.VOLUNTEER:
                return ctx.has_role("volunteer") or ctx.has_role("grid_leader")
            case Audience.STAFF:
                return ctx.is_staff
            case Audience.MANAGER:
                return ctx.has_role("manager")


@dataclass(frozen=True)
class MenuItem:
    """A main-menu button: `intent:<intent>`, labelled `menu.<intent>`, at `order` (lower first)."""

    intent: str
    order: int
    audience: Audience = Audience.EVERYONE

    @property
    def label_key(self) -> str:
        return f"menu.{self.intent}"


@dataclass(frozen=True)
class Command:
    """A /command published in the platform's command list, described by `cmd.<name>`."""

    name: str
    order: int

    @property
    def description_key(self) -> str:
        return f"cmd.{self.name}"


@dataclass(frozen=True)
class MyItems:
    """One feature's part of the 📋 我的事项 screen: lines to list and buttons to offer."""

    lines: list[str] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)


MyItemsProvider = Callable[[Context], Awaitable[MyItems | None]]
# Extra lines and replies of a task's card for one task kind (a report's place and photos).
TaskCardHook = Callable[[Context, Any], Awaitable[tuple[list[str], list[Reply]]]]


@dataclass(frozen=True)
class Feature:
    """Everything the rest of the bot needs to know about one feature."""

    name: str
    router: Router
    menu: Sequence[MenuItem] = ()
    commands: Sequence[Command] = ()
    keywords: Sequence[Keywords] = ()
    # (order, provider): the 我的事项 screen asks providers in this order.
    my_items: tuple[int, MyItemsProvider] | None = None
    task_cards: Mapping[str, TaskCardHook] = field(default_factory=dict)


class FeatureSet:
    """The features of one bot, and what is derived from them."""

    def __init__(self, features: Sequence[Feature]) -> None:
        names = [f.name for f in features]
        if len(set(names)) != len(names):
            raise ValueError(f"a feature is listed twice: {sorted(names)}")
        self.features = tuple(features)
        self.router = Router()
        for f in features:
            self.router.include(f.router)
        self.menu_items = tuple(
            sorted((i for f in features for i in f.menu), key=lambda i: i.order)
        )
        self.commands = tuple(
            sorted((c for f in features for c in f.commands), key=lambda c: c.order)
        )
        self.detector = IntentDetector([k for f in features for k in f.keywords])
        self.item_providers = tuple(
            p for _, p in sorted((f.my_items for f in features if f.my_items), key=lambda x: x[0])
        )
        self.task_cards: dict[str, TaskCardHook] = {}
        for f in features:
            clash = set(self.task_cards) & set(f.task_cards)
            if clash:
                raise ValueError(f"task card hooks declared twice: {sorted(clash)}")
            self.task_cards.update(f.task_cards)
        routed = set(self.router.intents)
        missing = {i.intent for i in self.menu_items} | set(self.detector.intents[:-1])
        missing -= routed
        if missing:
            raise ValueError(f"menu items or keywords without a handler: {sorted(missing)}")

    def main_menu(self, ctx: Context) -> list[Choice]:
        """The big buttons this person sees, by role, in declared order."""
        return [
            Choice(ctx.t(i.label_key), f"intent:{i.intent}")
            for i in self.menu_items
            if i.audience.sees(ctx)
        ]

    def menu_labels(
        self, translate: Callable[[str, str], str], locales: Sequence[str]
    ) -> dict[str, str]:
        """Normalized label → intent, for every menu label in every language."""
        return {
            normalize(translate(locale, i.label_key)): i.intent
            for locale in locales
            for i in self.menu_items
        }

    async def my_items(self, ctx: Context) -> list[MyItems]:
        """Every feature's part of the 我的事项 screen, in declared order (empty parts left out)."""
        parts = [await provider(ctx) for provider in self.item_providers]
        return [p for p in parts if p is not None and (p.lines or p.choices)]
