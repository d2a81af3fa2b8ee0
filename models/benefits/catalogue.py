"""The programmes file: benefit programmes as data (age bands, amounts, questions, documents).

Programmes are a TOML file read once at start (`load_catalogue`), so age bands and amounts are
configuration, and a second programme needs no code.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from models.tables import Role

DEFAULT_PROGRAMMES = Path(__file__).parent.parent / "data" / "benefits.toml"
CODE_RE = re.compile(r"^[a-z0-9_]{1,12}$")


@dataclass(frozen=True)
class Band:
    """An age band and its monthly amount (yuan); max_age None: no upper limit."""

    min_age: int
    max_age: int | None
    monthly_yuan: int

    def covers(self, age: int) -> bool:
        return age >= self.min_age and (self.max_age is None or age <= self.max_age)


@dataclass(frozen=True)
class Worded:
    """Something of a programme that people read, in Chinese and English."""

    code: str
    zh: str
    en: str

    def text(self, locale: str) -> str:
        return self.en if locale == "en" else self.zh


@dataclass(frozen=True)
class Question(Worded):
    """A yes/no condition; `eligible_answer` is the answer that qualifies."""

    eligible_answer: bool = True


@dataclass(frozen=True)
class DocumentKind(Worded):
    """A document to bring, as a photo; a sensitive one (the ID card) is shown to fewer people."""

    sensitive: bool = False


@dataclass(frozen=True)
class Programme:
    """Who is eligible, for how much, from when, with what documents, reviewed by whom."""

    code: str
    name_zh: str
    name_en: str
    keywords: tuple[str, ...]
    bands: tuple[Band, ...]
    questions: tuple[Question, ...] = ()
    documents: tuple[DocumentKind, ...] = ()
    residency: bool = True
    starts: str = "birthday"
    outreach_days: int = 30
    answer_days: int = 7
    recertify_months: int = 0
    reviewer: str = Role.MANAGER
    illustrative: bool = False

    def name(self, locale: str) -> str:
        return self.name_en if locale == "en" else self.name_zh

    @property
    def first_age(self) -> int:
        return min(b.min_age for b in self.bands)

    def band_for(self, age: int) -> Band | None:
        return next((b for b in self.bands if b.covers(age)), None)

    def question(self, code: str) -> Question | None:
        return next((q for q in self.questions if q.code == code), None)

    def document(self, code: str) -> DocumentKind | None:
        return next((d for d in self.documents if d.code == code), None)

    def paid_from(self, reached: date) -> date:
        """The first day paid for someone who reaches the age on `reached`."""
        if self.starts == "next_month":
            return date(reached.year + reached.month // 12, reached.month % 12 + 1, 1)
        return reached


@dataclass(frozen=True)
class Catalogue:
    """The programmes of this installation, loaded at start."""

    programmes: tuple[Programme, ...]
    source: str = ""

    def get(self, code: str) -> Programme | None:
        return next((p for p in self.programmes if p.code == code), None)

    def find(self, text: str) -> Programme | None:
        """The programme a message names ('我能领尊老金吗'), if exactly one does."""
        lowered = text.lower()
        hits = [p for p in self.programmes if any(k.lower() in lowered for k in p.keywords)]
        return hits[0] if len(hits) == 1 else None


def _need(table: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = table.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{where}: '{key}' must be a {kind.__name__}")
    return value


def _wording(table: dict[str, Any], where: str) -> tuple[str, str, str]:
    """A worded item's code, Chinese and English, each required."""
    return (
        _need(table, "code", str, where),
        _need(table, "zh", str, where),
        _need(table, "en", str, where),
    )


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Read and check the programmes file (the shipped illustrative one when no path is given)."""
    source = Path(path) if path else DEFAULT_PROGRAMMES
    with source.open("rb") as fh:
        data = tomllib.load(fh)
    programmes = []
    for i, raw in enumerate(data.get("programme", []), 1):
        where = f"{source}: programme {i}"
        code = _need(raw, "code", str, where)
        if not CODE_RE.match(code):
            raise ValueError(f"{where}: code must be 1-12 of a-z 0-9 _")
        bands = tuple(
            Band(
                _need(b, "min_age", int, where),
                b.get("max_age"),
                _need(b, "monthly_yuan", int, where),
            )
            for b in raw.get("band", [])
        )
        if not bands:
            raise ValueError(f"{where}: at least one [[programme.band]]")
        starts = raw.get("starts", "birthday")
        if starts not in ("birthday", "next_month"):
            raise ValueError(f"{where}: starts must be 'birthday' or 'next_month'")
        programmes.append(
            Programme(
                code=code,
                name_zh=_need(raw, "name_zh", str, where),
                name_en=_need(raw, "name_en", str, where),
                keywords=tuple(raw.get("keywords", [])),
                bands=bands,
                questions=tuple(
                    Question(*_wording(q, where), bool(q.get("eligible_answer", True)))
                    for q in raw.get("question", [])
                ),
                documents=tuple(
                    DocumentKind(*_wording(d, where), bool(d.get("sensitive", False)))
                    for d in raw.get("document", [])
                ),
                residency=bool(raw.get("residency", True)),
                starts=starts,
                outreach_days=int(raw.get("outreach_days", 30)),
                answer_days=int(raw.get("answer_days", 7)),
                recertify_months=int(raw.get("recertify_months", 0)),
                reviewer=str(raw.get("reviewer", Role.MANAGER)),
                illustrative=bool(raw.get("illustrative", False)),
            )
        )
    if len({p.code for p in programmes}) != len(programmes):
        raise ValueError(f"{source}: two programmes with the same code")
    return Catalogue(tuple(programmes), str(source))
