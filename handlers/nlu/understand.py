"""Understanding a free-text message: certain rules first, then the model, with a confidence.

Order: an empty text is ``unknown``; a case number (R0012) is ``status`` for that case; a bare
star rating (⭐⭐⭐⭐) is ``rate``; a greeting with nothing else (早上好, hello) is ``help`` with
``greeting`` set; everything else goes to the model. The model's best intent is *sure* at
probability ≥ ``SURE``; between ``LIKELY`` and ``SURE`` the bot asks which of the top two or
three the person means; below ``LIKELY`` (or when the best guess is ``unknown``) nothing is
likely and the person gets the menu. The keyword matcher of handlers/intents.py votes too
(``KEYWORD_VOTE``): its tables know single words and pinyin typos that the model has seen
little of. Commands, menu labels and numbers of offered choices are
matched before this, by the router.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from handlers.nlu.details import Details, extract_details
from handlers.nlu.model import clean, default_model
from handlers.nlu.text import fold

SURE = 0.6
LIKELY = 0.3
OPTION = 0.08  # an alternative worth offering in a clarifying question
MAX_OPTIONS = 3
# The keyword matcher's intent gets this much probability mass on top of the model's (then all
# is renormalised): cross-validation on the training set, 0.81 → 0.83 (bench/intents.py).
KEYWORD_VOTE = 0.3
# Above this the vote cannot change the decision (the best stays best and sure), so the keyword
# matcher, the dearer half of the work, is not asked.
CLEAR = 0.95

_CASE_ONLY = re.compile(r"(?<![a-z0-9])r\s?\d{3,7}(?![0-9])", re.I)
_STAR_ONLY = re.compile(r"^[\s!！.。]*[⭐★][⭐★☆\s!！.。]*$")
_GREETING = re.compile(
    r"^(?:(?:你们?|您|大家|各位)好[呀啊哇吗]?|早上?好?[呀啊]?|早安|午安|晚安|(?:上午|中午|下午|晚上)好[呀啊]?"
    r"|大家早|哈喽|哈啰|嗨|嘿|喂|在吗|在不在|有人吗|(?:老师|阿姨|叔叔|师傅|小助手|机器人)[您你]?好"
    r"|侬好|hi|hello|hey|hiya|helo|hallo|good (?:morning|afternoon|evening|day)|morning"
    r"|gd morning|yo)(?:[\s,，!！.。~～]*(?:(?:你们?|您|大家|各位)好|在吗|there|everyone|all"
    r"|啊|呀|哇|[!！.。~～]))*$",
    re.I,
)


@dataclass
class Understanding:
    """What a message most likely asks for, how sure that is, and the details it gives."""

    intent: str  # an intent of the data set (the features' intents)
    sure: bool  # act on it without asking
    options: tuple[str, ...]  # the intents to offer when not sure (best first)
    top: tuple[tuple[str, float], ...]  # the three best intents with their probabilities
    text: str = field(repr=False, default="")
    today: date | None = field(repr=False, default=None)
    greeting: bool = False
    rule: str | None = None  # the certain rule that decided, if one did

    @property
    def clarify(self) -> bool:
        """Whether to ask which of `options` the person means."""
        return not self.sure and len(self.options) >= 2

    @cached_property
    def details(self) -> Details:
        """The details of the text, worked out when first asked for (routing does not need them)."""
        return extract_details(self.text, self.today)


def _certain(
    intent: str, text: str, today: date | None, rule: str, *, greeting: bool = False
) -> Understanding:
    return Understanding(intent, True, (intent,), ((intent, 1.0),), text, today, greeting, rule)


def _blend(ranked: list[tuple[str, float]], keyword: str) -> list[tuple[str, float]]:
    """Add the keyword matcher's vote (the features' IntentDetector) to the model's probabilities."""
    if keyword == "unknown":
        return ranked
    mixed = {name: p for name, p in ranked}
    mixed[keyword] = mixed.get(keyword, 0.0) + KEYWORD_VOTE
    total = 1.0 + KEYWORD_VOTE
    return sorted(((k, p / total) for k, p in mixed.items()), key=lambda kv: -kv[1])


def is_greeting(text: str) -> bool:
    """A greeting and nothing else: 你好 / 早上好 / 在吗 / hello / good morning."""
    return bool(_GREETING.match(fold(text.strip()[:40])))


def understand(
    text: str,
    today: date | None = None,
    keywords: Callable[[str], str] | None = None,
    new_intents: frozenset[str] = frozenset(),
) -> Understanding:
    """Intent, confidence and details of one free-text message; `keywords`: the keyword matcher."""
    stripped = text.strip()
    if not clean(text):
        if _STAR_ONLY.match(stripped):
            return _certain("rate", text, today, "stars")
        return Understanding("unknown", True, (), (("unknown", 1.0),), text, today, rule="empty")
    if _CASE_ONLY.search(text[:300]):
        return _certain("status", text, today, "case number")
    if _STAR_ONLY.match(stripped):
        return _certain("rate", text, today, "stars")
    if is_greeting(text):
        return _certain("help", text, today, "greeting", greeting=True)
    if keywords is not None and new_intents:
        # A feature newer than the data set: its declared keywords are all there is to go on.
        keyword = keywords(text)
        if keyword in new_intents:
            return _certain(keyword, text, today, "keywords (no training data yet)")
    ranked = default_model().probabilities(text)
    if keywords is not None and ranked[0][1] < CLEAR:
        ranked = _blend(ranked, keywords(text))
    top = tuple(ranked[:3])
    best, p = ranked[0]
    options = tuple(name for name, q in ranked[:MAX_OPTIONS] if q >= OPTION and name != "unknown")
    if best == "unknown" or p < LIKELY:
        return Understanding("unknown", True, (), top, text, today)
    return Understanding(best, p >= SURE, options, top, text, today)
