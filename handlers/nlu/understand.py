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
from dataclasses import dataclass, field
from datetime import date

from handlers.intents import detect_intent
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

_CASE_ONLY = re.compile(r"(?<![a-z0-9])r\s?\d{3,7}(?![0-9])", re.I)
_STAR_ONLY = re.compile(r"^[⭐★☆\s!！.。]+$")
_GREETING = re.compile(
    r"^(?:(?:你们?|您|大家|各位)好[呀啊哇吗]?|早上?好?[呀啊]?|早安|午安|晚安|(?:上午|中午|下午|晚上)好[呀啊]?"
    r"|大家早|哈喽|哈啰|嗨|嘿|喂|在吗|在不在|有人吗|(?:老师|阿姨|叔叔|师傅|小助手|机器人)[您你]?好"
    r"|侬好|hi|hello|hey|hiya|helo|hallo|good (?:morning|afternoon|evening|day)|morning"
    r"|gd morning|yo)(?:[\s,，!！.。~～]*(?:(?:你们?|您|大家|各位)好|在吗|there|everyone|all"
    r"|啊|呀|哇|[!！.。~～]))*$",
    re.I,
)


@dataclass(frozen=True)
class Understanding:
    """What a message most likely asks for, how sure that is, and the details it gives."""

    intent: str  # one of handlers.intents.INTENTS
    sure: bool  # act on it without asking
    options: tuple[str, ...]  # the intents to offer when not sure (best first)
    top: tuple[tuple[str, float], ...]  # the three best intents with their probabilities
    details: Details
    greeting: bool = False
    rule: str | None = None  # the certain rule that decided, if one did
    reasons: tuple[str, ...] = field(default=())

    @property
    def clarify(self) -> bool:
        """Whether to ask which of `options` the person means."""
        return not self.sure and len(self.options) >= 2


def _certain(intent: str, details: Details, rule: str, *, greeting: bool = False) -> Understanding:
    return Understanding(intent, True, (intent,), ((intent, 1.0),), details, greeting, rule)


def _blend(ranked: list[tuple[str, float]], keyword: str) -> list[tuple[str, float]]:
    """Add the keyword matcher's vote (handlers/intents.py) to the model's probabilities."""
    if keyword == "unknown":
        return ranked
    mixed = {name: p for name, p in ranked}
    mixed[keyword] = mixed.get(keyword, 0.0) + KEYWORD_VOTE
    total = 1.0 + KEYWORD_VOTE
    return sorted(((k, p / total) for k, p in mixed.items()), key=lambda kv: -kv[1])


def is_greeting(text: str) -> bool:
    """A greeting and nothing else: 你好 / 早上好 / 在吗 / hello / good morning."""
    return bool(_GREETING.match(fold(text.strip()[:40])))


def understand(text: str, today: date | None = None) -> Understanding:
    """Intent, confidence and details of one free-text message."""
    details = extract_details(text, today)
    if not clean(text):
        if details.stars is not None:
            return _certain("rate", details, "stars")
        return Understanding("unknown", True, (), (("unknown", 1.0),), details, rule="empty")
    if details.case is not None and _CASE_ONLY.search(text):
        return _certain("status", details, "case number")
    if _STAR_ONLY.match(text.strip()):
        return _certain("rate", details, "stars")
    if is_greeting(text):
        return _certain("help", details, "greeting", greeting=True)
    ranked = _blend(default_model().probabilities(text), detect_intent(text))
    top = tuple(ranked[:3])
    best, p = ranked[0]
    options = tuple(name for name, q in ranked[:MAX_OPTIONS] if q >= OPTION and name != "unknown")
    if best == "unknown" or p < LIKELY:
        return Understanding("unknown", True, (), top, details)
    return Understanding(best, p >= SURE, options, top, details)
