"""Free-text intent detection for Chinese and English messages, tolerant of typos.

The keyword tables are declared by the features (`Keywords` in each `Feature`); the
composition root builds one :class:`IntentDetector` from them at start. Every incoming message
that is not a button press goes through :meth:`IntentDetector.detect`, so the work per call is
bounded: the text is cut to a fixed length before any analysis, keyword tables (and their
pinyin) are built once, and the per-character pinyin lookup is cached.

How a message is scored:

* Chinese: the text is normalised (NFKC, traditional to simplified, lowercase, no
  punctuation) and every keyword is looked up as a substring.  A keyword also matches when
  the text has a homophone of it at the same place (pinyin input typos such as 尊老今 for
  尊老金): the pinyin of each keyword syllable must be one of the readings of the text
  character, at least one character must be the exact keyword character, and a stand-in
  must be a common character (GB2312 level 1) other than a function word (的, 了, 一 …).
* English: the text is split into words and every keyword word is compared with rapidfuzz
  (exact for words under four letters; otherwise a swap of neighbouring letters, one
  insertion or deletion for mid-length words, a ratio threshold for long words, and a
  plural "s" ignored).  Multi-word keywords must match consecutive words.
* Overlapping matches are resolved longest first, so 我的申请 (status) hides 申请
  (benefits).  Each keyword carries a weight (its length, times a per-intent factor that
  favours "wrapper" intents such as status or rate over the subject they wrap, and that
  makes greetings lose to anything concrete).  An intent scores its best match plus a
  fraction of its other matches; the best intent wins if it clears a small threshold.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pypinyin import Style, lazy_pinyin, pinyin
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, Indel

_RAW_CAP = 400  # characters of raw input looked at, before normalisation
_TEXT_CAP = 200  # normalised characters looked at
_WORD_CAP = 60  # English words looked at
_MIN_SCORE = 0.75
_HOMOPHONE_FACTOR = 0.8
_FUZZY_FACTOR = 0.9
_SECONDARY_FACTOR = 0.3

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Keywords:
    """The words that route free text to one intent, as a feature declares them.

    `zh`: simplified Chinese keywords of at least two characters, separated by spaces; `en`:
    lowercase English keywords (a keyword may be several words), separated by commas. Either
    may write "keyword:weight" to override the default weight (its length). `factor` multiplies
    every weight: "wrapper" intents (status, rate) beat the subject they wrap (我的尊老金申请到哪一步了
    is about status, not benefits) and greetings (help, 0.5) lose to anything concrete. `rank`
    breaks a tie between two intents scoring the same: the lower rank wins.
    """

    intent: str
    zh: str = ""
    en: str = ""
    factor: float = 1.0
    rank: int = 100


# Very common characters that never stand in for a keyword character in a homophone match.
_NO_SUBSTITUTE = frozenset("的了是一不我你他她它在有这那个吗呢吧啊么们和就也都要会")
# Pinyin input methods offer common characters first, so a homophone typo is a common
# character: GB2312 level 1 (lead bytes 0xB0-0xD7, the 3755 most used).  Requiring this keeps
# rare-character noise (or random text) from matching keywords by sound.
_COMMON_LEAD_BYTES = range(0xB0, 0xD8)

_WORD_RE = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class _Keyword:
    intent: str
    text: str
    weight: float
    syllables: tuple[str, ...]  # Chinese: lazy_pinyin of the keyword; English: its words


def _split_weight(entry: str) -> tuple[str, float | None]:
    if ":" in entry:
        text, weight = entry.rsplit(":", 1)
        return text, float(weight)
    return entry, None


def _build_zh(tables: Sequence[Keywords]) -> tuple[_Keyword, ...]:
    out: list[_Keyword] = []
    for table in tables:
        for entry in table.zh.split():
            text, weight = _split_weight(entry)
            if len(text) < 2:
                raise ValueError(f"single-character keyword {text!r} is too ambiguous")
            base = float(len(text)) if weight is None else weight
            out.append(_Keyword(table.intent, text, base * table.factor, tuple(lazy_pinyin(text))))
    # Longest first, then heaviest: the order in which overlapping matches are accepted.
    out.sort(key=lambda k: (-len(k.text), -k.weight))
    return tuple(out)


def _build_en(tables: Sequence[Keywords]) -> tuple[_Keyword, ...]:
    out: list[_Keyword] = []
    for table in tables:
        for entry in table.en.split(","):
            if not entry.strip():
                continue
            text, weight = _split_weight(entry.strip())
            words = tuple(text.split())
            base = 2.0 * len(words) if weight is None else weight
            out.append(_Keyword(table.intent, text, base * table.factor, words))
    out.sort(key=lambda k: (-len(k.syllables), -k.weight))
    return tuple(out)


@lru_cache(maxsize=1)
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def _fold(text: str) -> str:
    """NFKC, traditional to simplified, lowercase; punctuation and spaces still present."""
    text = unicodedata.normalize("NFKC", text)
    if any(ord(ch) >= 0x2E80 for ch in text):
        text = _converter().convert(text)
    return text.lower()


def _keep(ch: str) -> bool:
    return unicodedata.category(ch)[0] in "LN"


@lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """Return text as NFKC, simplified Chinese, lowercase, without spaces, punctuation or emoji."""
    # Cached: menu labels and common words are normalized on every message.
    return "".join(ch for ch in _fold(text) if _keep(ch))


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


@lru_cache(maxsize=8192)
def _readings(ch: str) -> frozenset[str]:
    if not _is_cjk(ch):
        return frozenset()
    found = pinyin(ch, style=Style.NORMAL, heteronym=True, errors="ignore")
    return frozenset(found[0]) if found else frozenset()


@lru_cache(maxsize=8192)
def _can_substitute(ch: str) -> bool:
    if ch in _NO_SUBSTITUTE or not _is_cjk(ch):
        return False
    try:
        encoded = ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return encoded[0] in _COMMON_LEAD_BYTES


# A match: (start, end, weight, intent); positions index the Chinese text or the word list.
_Match = tuple[int, int, float, str]


def _word_similar(word: str, key: str) -> bool:
    """Whether a typed English word is the keyword word, allowing for a typo."""
    if word == key:
        return True
    if len(word) < 4 or len(key) < 4 or word[0] != key[0]:
        return False
    if sorted(word) == sorted(key) and OSA.distance(word, key, score_cutoff=1) <= 1:
        return True  # one swap of neighbouring letters: "hepl", "reprot"
    if len(word) < 5:
        return False
    longest = max(len(word), len(key))
    if longest <= 7:
        return Indel.distance(word, key, score_cutoff=1) <= 1
    return fuzz.ratio(word, key, score_cutoff=85) >= 85


def _accept(candidates: list[tuple[int, _Match]]) -> list[_Match]:
    """Keep non-overlapping matches, longest first, then heaviest."""
    candidates.sort(key=lambda c: (-c[0], -c[1][2], c[1][0]))
    taken: set[int] = set()
    kept: list[_Match] = []
    for _, match in candidates:
        span = range(match[0], match[1])
        if any(p in taken for p in span):
            continue
        taken.update(span)
        kept.append(match)
    return kept


def _score(matches: list[_Match]) -> dict[str, float]:
    weights: dict[str, list[float]] = {}
    for _, _, weight, intent in matches:
        weights.setdefault(intent, []).append(weight)
    return {
        intent: max(ws) + _SECONDARY_FACTOR * (sum(ws) - max(ws)) for intent, ws in weights.items()
    }


class IntentDetector:
    """Free text → intent, over the keyword tables the features declare (built once)."""

    def __init__(self, tables: Sequence[Keywords]) -> None:
        seen = [t.intent for t in tables]
        if len(set(seen)) != len(seen) or UNKNOWN in seen:
            raise ValueError(f"keywords declared twice, or for {UNKNOWN!r}: {sorted(seen)}")
        ordered = sorted(tables, key=lambda t: t.rank)
        self.intents: tuple[str, ...] = (*(t.intent for t in ordered), UNKNOWN)
        self._order = {intent: i for i, intent in enumerate(self.intents)}
        # Built in rank order: equal candidates are then met in the same order every time.
        self._zh = _build_zh(ordered)
        self._en = _build_en(ordered)
        self._en_vocab: frozenset[str] = frozenset(w for k in self._en for w in k.syllables)
        self._en_vocab_sorted: tuple[str, ...] = tuple(sorted(self._en_vocab))
        # Homophone candidates are found by the first syllable of each keyword.
        by_first: dict[str, tuple[_Keyword, ...]] = {}
        for kw in self._zh:
            by_first[kw.syllables[0]] = (*by_first.get(kw.syllables[0], ()), kw)
        self._zh_by_first = by_first
        # Per detector (the vocabulary is the detector's): typed words repeat a lot.
        self._word_keys = lru_cache(maxsize=4096)(self._word_keys_uncached)

    def _zh_matches(self, text: str) -> list[tuple[int, _Match]]:
        """Candidate matches in Chinese text, each with its keyword length for ordering."""
        found: dict[tuple[int, int, str], float] = {}
        for kw in self._zh:
            start = text.find(kw.text)
            while start != -1:
                key = (start, start + len(kw.text), kw.intent)
                found[key] = max(found.get(key, 0.0), kw.weight)
                start = text.find(kw.text, start + 1)
        readings = [_readings(ch) for ch in text]
        for i, first in enumerate(readings):
            for syllable in first:
                for kw in self._zh_by_first.get(syllable, ()):
                    end = i + len(kw.text)
                    if end > len(text) or (i, end, kw.intent) in found:
                        continue
                    exact = 0
                    ok = True
                    for j, (want, ch) in enumerate(zip(kw.syllables, text[i:end], strict=True)):
                        if ch == kw.text[j]:
                            exact += 1
                        elif want not in readings[i + j] or not _can_substitute(ch):
                            ok = False
                            break
                    if ok and exact >= 1:
                        found[(i, end, kw.intent)] = kw.weight * _HOMOPHONE_FACTOR
        return [((e - s), (s, e, w, intent)) for (s, e, intent), w in found.items()]

    def _word_keys_uncached(self, word: str) -> tuple[tuple[str, bool], ...]:
        """Keyword words a typed word stands for, with whether each match is exact."""
        if word in self._en_vocab:
            return ((word, True),)
        forms = (word, word[:-1]) if word.endswith("s") and len(word) > 5 else (word,)
        return tuple(
            (key, False)
            for key in self._en_vocab_sorted
            if any(_word_similar(form, key) for form in forms)
        )

    def _en_matches(self, words: list[str]) -> list[tuple[int, _Match]]:
        """Candidate matches among English words, each with its keyword length for ordering."""
        keys = [dict(self._word_keys(w)) for w in words]
        out: list[tuple[int, _Match]] = []
        for kw in self._en:
            n = len(kw.syllables)
            for i in range(len(words) - n + 1):
                exact = True
                for j, part in enumerate(kw.syllables):
                    hit = keys[i + j].get(part)
                    if hit is None:
                        break
                    exact = exact and hit
                else:
                    weight = kw.weight if exact else kw.weight * _FUZZY_FACTOR
                    out.append((n, (i, i + n, weight, kw.intent)))
        return out

    def detect(self, text: str) -> str:
        """The intent (one of `intents`) of a free-text message in Chinese or English."""
        if not text:
            return UNKNOWN
        folded = _fold(text[:_RAW_CAP])
        chinese = "".join(ch for ch in folded if _keep(ch))[:_TEXT_CAP]
        words = _WORD_RE.findall(folded)[:_WORD_CAP]
        matches = _accept(self._zh_matches(chinese)) + _accept(self._en_matches(words))
        scores = _score(matches)
        if not scores:
            return UNKNOWN
        best = max(scores, key=lambda intent: (scores[intent], -self._order[intent]))
        return best if scores[best] >= _MIN_SCORE else UNKNOWN
