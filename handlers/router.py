"""Routing: a pending flow step, else an intent from a command, a button, a menu label or free text."""

from __future__ import annotations

import copy
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import Ask, Choice, Context, Done, Incoming, Reply, StepResult
from handlers.intents import normalize
from handlers.nlu import Understanding, understand
from handlers.nlu.model import default_model
from models.errors import DomainError
from models.people import Chat, load_chat
from models.tables import Conversation

if TYPE_CHECKING:  # the features are built from routers; only the annotation needs the type
    from handlers.feature import FeatureSet

Outcome = list[Reply] | StepResult
IntentHandler = Callable[[Context, str], Awaitable[Outcome]]
# Looks at free text before intent detection (an invitation code, a bare photo); None: not mine.
FreeTextHandler = Callable[[Context, str], Awaitable[Outcome | None]]
PayloadHandler = Callable[..., Awaitable[Outcome]]

CANCEL_WORDS = frozenset({"取消", "退出", "cancel", "quit", "算了", "不办了"})


@dataclass
class Answer:
    """What a flow step receives: typed text, or the payload of a chosen button."""

    text: str
    payload: str | None
    incoming: Incoming


class Flow(ABC):
    """A multi-step conversation; subclasses define `start` and `step_<name>` methods."""

    name: ClassVar[str]
    timeout: ClassVar[timedelta] = timedelta(minutes=30)

    @abstractmethod
    async def start(self, ctx: Context, arg: str) -> StepResult:
        """The first question."""

    async def handle(self, ctx: Context, step: str, answer: Answer) -> StepResult:
        """Run the method for `step`."""
        method = getattr(self, f"step_{step}", None)
        if method is None:
            return Done([])
        result: StepResult = await method(ctx, answer)
        return result


MAX_ID_DIGITS = 9


def _field(kind: type, raw: str) -> object:
    """One typed field of a payload; ValueError when it is not one."""
    if kind is int:
        if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_ID_DIGITS):
            raise ValueError(raw)
        return int(raw)
    if kind is str:
        if not raw:
            raise ValueError(raw)
        return raw
    raise TypeError(f"payload fields are int or str, not {kind!r}")


@dataclass(frozen=True)
class PayloadRoute:
    """Buttons `literal[:literal…]:field:field…` outside any flow, parsed into typed fields.

    Without fields the handler gets the raw rest after the first literal (`prefix:rest`).
    """

    literals: tuple[str, ...]
    fields: tuple[tuple[str, type], ...]
    handler: PayloadHandler
    raw: bool = False

    def match(self, parts: list[str]) -> dict[str, object] | None:
        """The typed fields when `parts` (the payload split at ':') is this route's, else None."""
        n = len(self.literals)
        if tuple(parts[:n]) != self.literals:
            return None
        rest = parts[n:]
        if len(rest) != len(self.fields):
            return None
        try:
            return {
                name: _field(kind, raw) for (name, kind), raw in zip(self.fields, rest, strict=True)
            }
        except ValueError:
            return None


@dataclass
class Router:
    """Intents, stateless button payloads and flows of one feature module."""

    intents: dict[str, IntentHandler] = field(default_factory=dict)
    payloads: dict[str, list[PayloadRoute]] = field(default_factory=dict)
    # prefix → the text key answering a malformed payload of it (default: the button expired)
    refusals: dict[str, str] = field(default_factory=dict)
    flows: dict[str, Flow] = field(default_factory=dict)
    commands: dict[str, str] = field(default_factory=dict)
    free_text: list[FreeTextHandler] = field(default_factory=list)

    def intent(self, name: str, *commands: str) -> Callable[[IntentHandler], IntentHandler]:
        """Register the handler of an intent, reachable also by the given /commands."""

        def register(fn: IntentHandler) -> IntentHandler:
            self.intents[name] = fn
            for c in commands:
                self.commands[c] = name
            return fn

        return register

    def payload(
        self, pattern: str, *, refuse: str | None = None, **fields: type
    ) -> Callable[[PayloadHandler], PayloadHandler]:
        """Register the handler of buttons `pattern:field:…` pressed outside any flow.

        `pattern` is one or more literal parts (`"task:take"`); `fields` name the parts that
        follow, in order, each `int` (at most 9 digits) or `str` (not empty):
        `router.payload("task:assignto", task=int, person=int)` calls `fn(ctx, task=…, person=…)`.
        A payload of this prefix that matches no route is refused politely: "this button has
        expired", or the text key `refuse` (a feature that answers "not found" to every
        application it will not show says so for a malformed one too). Without fields and with
        a one-part pattern, `fn(ctx, rest)` gets the raw text after `prefix:`.
        """
        literals = tuple(pattern.split(":"))
        if refuse is not None:
            self.refusals[literals[0]] = refuse

        def register(fn: PayloadHandler) -> PayloadHandler:
            raw = not fields and len(literals) == 1
            route = PayloadRoute(literals, tuple(fields.items()), fn, raw=raw)
            routes = self.payloads.setdefault(literals[0], [])
            for other in routes:
                if (
                    other.raw
                    or raw
                    or (other.literals, len(other.fields)) == (literals, len(fields))
                ):
                    raise ValueError(f"payload registered twice: {pattern}")
            routes.append(route)
            return fn

        return register

    async def press(self, ctx: Context, payload: str) -> Outcome | None:
        """Run the route a stateless button payload names; None when it is malformed or unknown."""
        prefix, _, rest = payload.partition(":")
        for route in self.payloads.get(prefix, ()):
            if route.raw:
                return await route.handler(ctx, rest)
            values = route.match(payload.split(":"))
            if values is not None:
                return await route.handler(ctx, **values)
        return None

    def before_intents(self, fn: FreeTextHandler) -> FreeTextHandler:
        """Register a look at free text that runs before intent detection."""
        self.free_text.append(fn)
        return fn

    def flow(self, cls: type[Flow]) -> type[Flow]:
        """Register a flow class."""
        self.flows[cls.name] = cls()
        return cls

    def include(self, other: Router) -> None:
        """Merge another feature module's router into this one."""
        registries: tuple[tuple[dict[str, Any], dict[str, Any]], ...] = (
            (self.intents, other.intents),
            (self.payloads, other.payloads),
            (self.flows, other.flows),
            (self.commands, other.commands),
            (self.refusals, other.refusals),
        )
        for mine, theirs in registries:
            clash = set(mine) & set(theirs)
            if clash:
                raise ValueError(f"registered twice: {sorted(clash)}")
            mine.update(theirs)
        self.free_text.extend(other.free_text)


def parse_number(text: str) -> int | None:
    """'3', '３', ' 3. ' → 3; anything else → None."""
    s = unicodedata.normalize("NFKC", text).strip().rstrip(".、")
    return int(s) if s.isdigit() and len(s) <= 3 else None


def choices_of(replies: list[Reply]) -> list[Choice]:
    """All choices offered by a batch of replies, in the order channels number them."""
    out: list[Choice] = []
    for r in replies:
        out.extend(r.choices)
    return out + menu_of(replies)


def menu_of(replies: list[Reply]) -> list[Choice]:
    """The main menu a batch of replies shows: the last one given."""
    return next((r.menu for r in reversed(replies) if r.menu), [])


async def start_flow(ctx: Context, flow: Flow, arg: str = "") -> StepResult:
    """Start `flow` for this chat (from an intent handler), with fresh flow data."""
    ctx.conversation.flow = flow.name
    ctx.conversation.step = None
    ctx.flow_data = {}
    return await flow.start(ctx, arg)


class Dispatcher:
    """Turns one Incoming into replies inside the caller's transaction."""

    def __init__(
        self,
        features: FeatureSet,
        translate: Callable[[str, str], str],
        locales: tuple[str, ...],
        *,
        extras: dict[str, Any] | None = None,
    ) -> None:
        self.features = features
        self.router = features.router
        self.translate = translate
        self.labels = features.menu_labels(translate, locales)
        self.main_menu = features.main_menu
        self.detect_intent = features.detector.detect
        # Intents the keyword tables know and the model's data set does not (a new feature).
        self.new_intents = frozenset(features.detector.intents) - set(default_model().intents)
        self.extras = extras or {}
        self.router.flows.setdefault(ClarifyFlow.name, ClarifyFlow(self))

    def understand(self, text: str) -> Understanding:
        """Free text understood with this bot's keyword matcher voting."""
        return understand(text, keywords=self.detect_intent, new_intents=self.new_intents)

    def menu_labels(self) -> dict[str, str]:
        """Normalized main-menu label (every language) → intent."""
        return self.labels

    def classify(self, text: str) -> str:
        """The intent name for a line of text: command, exact menu label, then understanding."""
        return self.explain(text)[0]

    def explain(self, text: str) -> tuple[str, str, Understanding | None]:
        """The intent, what decided it (command, menu label, a rule or the model), the details."""
        stripped = text.strip()
        if stripped.startswith("/"):
            cmd = stripped[1:].split(maxsplit=1)[0].split("@")[0].lower() if stripped[1:] else ""
            return self.router.commands.get(cmd, "unknown"), "command", None
        label = self.menu_labels().get(normalize(stripped))
        if label:
            return label, "menu label", None
        understood = self.understand(stripped)
        return understood.intent, understood.rule or "model", understood

    async def _context(
        self, session: AsyncSession, inc: Incoming, now: datetime, chat: Chat | None
    ) -> Context:
        if chat is None:
            chat = await load_chat(
                session, inc.channel, inc.user_id, inc.chat_id, now, inc.display_name
            )
        account, person, conv = chat.account, chat.person, chat.conversation
        locale = (person.locale if person else None) or account.locale or "zh"
        return Context(
            session=session,
            incoming=inc,
            account=account,
            person=person,
            roles=chat.roles,
            locale=locale,
            now=now,
            conversation=conv,
            translate=self.translate,
            # A deep copy: steps mutate nested values, and the stored value must not change with
            # them (SQLAlchemy would then see no difference and write nothing).
            flow_data=copy.deepcopy(conv.data) if conv.data else {},
            data=dict(self.extras),
            features=self.features,
        )

    async def dispatch(
        self, session: AsyncSession, inc: Incoming, now: datetime, chat: Chat | None = None
    ) -> list[Reply]:
        """Route one incoming message and return what to say (`chat`: loaded already)."""
        ctx = await self._context(session, inc, now, chat)
        conv = ctx.conversation
        notes: list[Reply] = []
        if conv.flow and conv.expires_at and conv.expires_at <= now:
            self._clear(conv, now)
            notes.append(Reply(ctx.t("flow.expired")))
        try:
            outcome = await self._route(ctx, inc)
        except DomainError as err:
            outcome = [Reply(ctx.t(err.key, **err.values), menu=self.main_menu(ctx))]
        replies = await self._apply(ctx, outcome)
        return notes + replies

    async def _route(self, ctx: Context, inc: Incoming) -> Outcome:
        conv = ctx.conversation
        text = inc.text.strip()
        payload = inc.payload
        offered = {p: label for label, p in conv.choices}
        if payload is None and text and conv.choices:
            n = parse_number(text)
            if n is not None and 1 <= n <= len(conv.choices):
                payload = conv.choices[n - 1][1]
            else:
                by_label = {normalize(label): p for label, p in conv.choices}
                payload = by_label.get(normalize(text)) if normalize(text) else None
            if payload is not None:
                offered = {payload: ""}
        if (
            payload == "cancel"
            or (payload is None and normalize(text) in CANCEL_WORDS)
            or (text.lower().startswith("/cancel"))
        ):
            return self._cancel(ctx)
        if payload is not None:
            return await self._route_payload(ctx, inc, payload, offered)
        if text.startswith("/"):
            parts = text[1:].split(maxsplit=1)
            cmd = parts[0].split("@")[0].lower() if parts else ""
            arg = parts[1] if len(parts) > 1 else ""
            name = self.router.commands.get(cmd)
            if name is None:
                return [Reply(ctx.t("error.unknown_command"), menu=self.main_menu(ctx))]
            self._clear(conv, ctx.now)
            return await self.router.intents[name](ctx, arg)
        label_intent = self.menu_labels().get(normalize(text)) if text else None
        if label_intent:
            self._clear(conv, ctx.now)
            return await self.router.intents[label_intent](ctx, "")
        if conv.flow:
            flow = self.router.flows.get(conv.flow)
            if flow is not None and conv.step:
                return await flow.handle(ctx, conv.step, Answer(text, None, inc))
            self._clear(conv, ctx.now)
        return await self._free_text(ctx, text)

    async def _free_text(self, ctx: Context, text: str) -> Outcome:
        """Text that answers no question: feature hooks, then the intent, else the menu."""
        for hook in self.router.free_text:
            outcome = await hook(ctx, text)
            if outcome is not None:
                return outcome
        understood = self.understand(text)
        if understood.greeting and "start" in self.router.intents:
            return await self.router.intents["start"](ctx, "")
        options = [o for o in understood.options if may_offer(ctx, o)]
        if understood.clarify and len(options) >= 2:
            return await start_flow(ctx, self.router.flows[ClarifyFlow.name], text)
        handler = self.router.intents.get(understood.intent)
        if handler is None:  # 'unknown' has no handler
            return [Reply(ctx.t("unknown.sorry"), menu=self.main_menu(ctx))]
        return await handler(ctx, text)

    async def _route_payload(
        self, ctx: Context, inc: Incoming, payload: str, offered: dict[str, str]
    ) -> Outcome:
        conv = ctx.conversation
        prefix, _, rest = payload.partition(":")
        if prefix == "intent" and rest in self.router.intents:
            self._clear(conv, ctx.now)
            return await self.router.intents[rest](ctx, "")
        if conv.flow and payload in offered:
            flow = self.router.flows.get(conv.flow)
            if flow is not None and conv.step:
                return await flow.handle(ctx, conv.step, Answer(inc.text.strip(), payload, inc))
        if prefix in self.router.payloads:
            self._clear(conv, ctx.now)
            outcome = await self.router.press(ctx, payload)
            if outcome is not None:
                return outcome
            refusal = self.router.refusals.get(prefix, "error.stale_button")
            return [Reply(ctx.t(refusal), menu=self.main_menu(ctx))]
        if conv.flow:
            # A button from an earlier question: the current one stays open, its choices too.
            return [Reply(ctx.t("error.stale_button"))]
        return [Reply(ctx.t("error.stale_button"), menu=self.main_menu(ctx))]

    def _cancel(self, ctx: Context) -> list[Reply]:
        had_flow = ctx.conversation.flow is not None
        self._clear(ctx.conversation, ctx.now)
        key = "flow.cancelled" if had_flow else "flow.nothing_to_cancel"
        return [Reply(ctx.t(key), menu=self.main_menu(ctx))]

    @staticmethod
    def _clear(conv: Conversation, now: datetime) -> None:
        if conv.flow is None and conv.step is None and not conv.data and conv.expires_at is None:
            return  # nothing to clear: no write
        conv.flow = None
        conv.step = None
        conv.data = {}
        conv.choices = []
        conv.expires_at = None
        conv.updated_at = now

    async def _apply(self, ctx: Context, outcome: Outcome) -> list[Reply]:
        conv = ctx.conversation
        if isinstance(outcome, Ask):
            flow_name = conv.flow
            if flow_name is None or flow_name not in self.router.flows:
                raise RuntimeError("Ask outside a flow: start flows with Dispatcher.begin")
            timeout = self.router.flows[flow_name].timeout
            conv.step = outcome.step
            conv.data = dict(ctx.flow_data)
            conv.expires_at = ctx.now + timeout
            conv.updated_at = ctx.now
            replies = outcome.replies
        else:
            replies = outcome.replies if isinstance(outcome, Done) else outcome
            if isinstance(outcome, Done):
                self._clear(conv, ctx.now)
        if not (conv.flow and isinstance(outcome, list)):
            offered = [[c.label, c.payload] for c in choices_of(replies)]
            if offered != conv.choices:  # the same menu again is no write
                conv.choices = offered
                conv.updated_at = ctx.now
        return replies


# Intents offered in a clarifying question only to the roles that can use them.
_OFFERED_TO: dict[str, Callable[[Context], bool]] = {
    "broadcast": lambda ctx: ctx.is_staff,
    "tasks": lambda ctx: ctx.has_role("volunteer") or ctx.has_role("grid_leader"),
}


def may_offer(ctx: Context, intent: str) -> bool:
    """Whether a clarifying question may offer this intent to this person."""
    allowed = _OFFERED_TO.get(intent)
    return allowed is None or allowed(ctx)


class ClarifyFlow(Flow):
    """'您是想： 1 上报问题 2 查询进度 3 其他': the top guesses for an unsure free text."""

    name = "clarify"
    timeout = timedelta(minutes=30)

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    async def start(self, ctx: Context, arg: str) -> StepResult:
        """Offer the likely intents of `arg` as buttons, and 'other'."""
        understood = self.dispatcher.understand(arg)
        options = [o for o in understood.options if may_offer(ctx, o)]
        ctx.flow_data.update(text=arg[:500], options=options)
        choices = [Choice(ctx.t(f"clarify.opt_{o}"), f"pick:{o}") for o in options]
        choices.append(Choice(ctx.t("clarify.other"), "pick:other"))
        return Ask("pick", [Reply(ctx.t("clarify.ask"), choices)])

    async def step_pick(self, ctx: Context, answer: Answer) -> StepResult:
        """Run the chosen intent with the original text; typed text is a new message."""
        text = str(ctx.flow_data.get("text", ""))
        options = list(ctx.flow_data.get("options", []))
        Dispatcher._clear(ctx.conversation, ctx.now)
        ctx.flow_data = {}
        if answer.payload is None:
            return _as_step(await self.dispatcher._free_text(ctx, answer.text.strip()))
        name = answer.payload.removeprefix("pick:")
        handler = self.dispatcher.router.intents.get(name)
        if name in options and handler is not None:
            return _as_step(await handler(ctx, text))
        return Done([Reply(ctx.t("clarify.menu"), menu=self.dispatcher.main_menu(ctx))])


def _as_step(outcome: Outcome) -> StepResult:
    """An intent's answer as the end of the clarifying question (a flow it starts goes on)."""
    return outcome if isinstance(outcome, Ask | Done) else Done(outcome)
