"""The intent model: character n-grams and a Complement Naive Bayes linear scorer, trained at start.

Pure Python, no dependency and nothing persisted: the model is rebuilt from the labelled data in
``data/train.txt`` (plus the generated variants in ``data/variants.txt``) the first time it is
needed in a process, which takes about a tenth of a second; ``bench/intents.py`` measures it.

Features of a text (after NFKC, 繁→简, lowercase, digits → 0, punctuation → space):
character 1-, 2- and 3-grams over the whole text (with start and end marks, so 你好 alone differs
from 你好我家漏水), whole English words, and 4-grams inside English words (typos keep most of
them). Weights are log(1 + count) × idf, L2-normalised per text.

Complement Naive Bayes (Rennie et al. 2003) estimates, for every intent, how likely each feature
is in texts of *other* intents; a text scores high for an intent when its features are rare
elsewhere. It is linear in the features, robust with few examples per class and trains by
counting. The scores are turned into probabilities with a softmax whose temperature was chosen by
cross-validation on the training set (``bench/intents.py --calibrate``), never on the held-apart
set.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from handlers.nlu.text import fold

_RAW_CAP = 300  # characters of a message looked at
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[a-z]+")
ALPHA = 0.3  # additive smoothing
TEMPERATURE = 3.0  # softmax sharpness of the scores (bench/intents.py --calibrate)


def clean(text: str) -> str:
    """NFKC, simplified Chinese, lowercase, digits as 0, punctuation as single spaces."""
    folded = _DIGITS.sub("0", fold(text[:_RAW_CAP]))
    kept = "".join(ch if unicodedata.category(ch)[0] in "LNS" else " " for ch in folded)
    return " ".join(kept.split())


def features(text: str) -> list[str]:
    """The n-gram features of a text (with repeats)."""
    cleaned = clean(text)
    padded = "^" + cleaned.replace(" ", "_") + "$"
    out = [ch for ch in cleaned if ch != " "]
    out += [padded[i : i + 2] for i in range(len(padded) - 1)]
    out += [padded[i : i + 3] for i in range(len(padded) - 2)]
    for word in _WORD.findall(cleaned):
        out.append("w:" + word)
        if len(word) > 3:
            marked = "<" + word + ">"
            out += ["e:" + marked[i : i + 4] for i in range(len(marked) - 3)]
    return out


def read_labelled(text: str) -> list[tuple[str, str]]:
    """Parse the data format: '## intent' starts a section, then one utterance a line."""
    out: list[tuple[str, str]] = []
    intent = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("# ") or line == "#":
            continue
        if line.startswith("## "):
            intent = line[3:].strip()
            continue
        if not intent:
            raise ValueError(f"utterance before any '## intent' header: {line!r}")
        out.append((intent, line))
    return out


def data_file(name: str) -> list[tuple[str, str]]:
    """A labelled file from handlers/nlu/data."""
    return read_labelled(resources.files("handlers.nlu").joinpath("data", name).read_text("utf-8"))


def training_data() -> list[tuple[str, str]]:
    """The training set: the written utterances and their generated variants."""
    return data_file("train.txt") + data_file("variants.txt")


@dataclass(frozen=True)
class IntentModel:
    """Complement Naive Bayes, stored sparsely.

    The weight of feature f for intent c is -log P(f | not c). Split it as g(f) + log D(c) +
    k(f, c), where g(f) = -log(total(f) + alpha) is the same for every intent, D(c) is the
    intent's complement mass, and k(f, c) is non-zero only where f occurs in intent c's examples.
    The g part shifts every score by the same amount, which changes neither the ranking nor the
    softmax, so a score needs only log D(c) times the weight sum and the few k(f, c) of the
    text's features: about as many additions as the text has n-grams.
    """

    intents: tuple[str, ...]
    idf: dict[str, float]
    log_mass: tuple[float, ...]  # log D(c)
    corrections: dict[str, tuple[tuple[int, float], ...]]  # f → ((c, k(f, c)), ...)

    def vector(self, text: str) -> dict[str, float]:
        """The normalised tf-idf weights of the known features of a text."""
        idf = self.idf
        counts = Counter(f for f in features(text) if f in idf)
        vec = {f: math.log1p(c) * idf[f] for f, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {f: v / norm for f, v in vec.items()}

    def scores(self, text: str) -> dict[str, float]:
        """Linear scores, one per intent, up to a shift common to all (higher: more likely)."""
        vec = self.vector(text)
        mass = sum(vec.values())
        totals = [mass * m for m in self.log_mass]
        corrections = self.corrections
        for f, v in vec.items():
            for c, k in corrections.get(f, ()):
                totals[c] += v * k
        return dict(zip(self.intents, totals, strict=True))

    def probabilities(self, text: str) -> list[tuple[str, float]]:
        """Intents with softmax probabilities, most likely first."""
        raw = self.scores(text)
        top = max(raw.values())
        exp = {k: math.exp(TEMPERATURE * (s - top)) for k, s in raw.items()}
        total = sum(exp.values())
        return sorted(((k, e / total) for k, e in exp.items()), key=lambda kv: -kv[1])


def train(examples: Iterable[tuple[str, str]]) -> IntentModel:
    """Fit the model to (intent, text) pairs."""
    docs = [(intent, Counter(features(text))) for intent, text in examples]
    intents = tuple(sorted({i for i, _ in docs}))
    column = {intent: i for i, intent in enumerate(intents)}
    df: Counter[str] = Counter()
    for _, counts in docs:
        df.update(counts.keys())
    n = len(docs)
    idf = {f: math.log((1 + n) / (1 + d)) + 1.0 for f, d in df.items()}
    per_class: list[dict[str, float]] = [{} for _ in intents]
    total: dict[str, float] = dict.fromkeys(idf, 0.0)
    for intent, counts in docs:
        vec = {f: math.log1p(c) * idf[f] for f, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        mine = per_class[column[intent]]
        for f, v in vec.items():
            mine[f] = mine.get(f, 0.0) + v / norm
            total[f] += v / norm
    grand = sum(total.values()) + ALPHA * len(idf)
    log_mass = tuple(math.log(grand - sum(mine.values())) for mine in per_class)
    corrections: dict[str, list[tuple[int, float]]] = {}
    for c, mine in enumerate(per_class):
        for f, x in mine.items():
            k = math.log(total[f] + ALPHA) - math.log(total[f] - x + ALPHA)
            corrections.setdefault(f, []).append((c, k))
    return IntentModel(intents, idf, log_mass, {f: tuple(ks) for f, ks in corrections.items()})


@lru_cache(maxsize=1)
def default_model() -> IntentModel:
    """The model trained on the project's data set (built once per process)."""
    return train(training_data())
