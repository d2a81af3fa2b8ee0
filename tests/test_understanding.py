"""Understanding residents: the held-apart accuracy floor, the data set, details, the rules, and
the clarifying question and greeting played on Telegram, WeChat and the console."""

from __future__ import annotations

from collections import Counter
from datetime import date
from importlib import resources
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import FEATURES
from handlers.feature import FeatureSet
from handlers.nlu import Understanding, extract_details
from handlers.nlu import understand as understand_with
from handlers.nlu.model import clean, data_file, read_labelled, training_data
from handlers.nlu.variants import render
from models.db import Database
from models.notices import Notice
from models.reports import Report
from models.tables import Conversation
from tests.chat import Chat
from tests.telegram_chat import TelegramUser, link, menu_of, texts
from tests.test_console import run

DETECTOR = FeatureSet(FEATURES).detector
INTENTS = DETECTOR.intents


def understand(text: str) -> Understanding:
    """As the router understands free text: with the features' keyword matcher voting."""
    return understand_with(text, keywords=DETECTOR.detect)


ACCURACY_FLOOR = 0.95
PER_INTENT_FLOOR = 0.85
WANG = 51
# Sentences that leave the model between two or three intents; the first that does is used, so
# the conversation tests do not depend on one sentence's exact probabilities.
AMBIGUOUS = ("电梯的事怎么说", "我想问问电梯", "我家的事", "我的")


def ambiguous() -> str:
    """A sentence that gets a clarifying question offering 'report' (for a resident)."""
    for text in AMBIGUOUS:
        u = understand(text)
        if u.clarify and "report" in u.options:
            return text
    raise AssertionError(f"none of {AMBIGUOUS} is ambiguous any more: pick new examples")


# ---------------------------------------------------------------- the data set and the model


def test_held_apart_accuracy_is_above_the_floor() -> None:
    test = data_file("heldout.txt")
    routed = [(intent, understand(text).intent) for intent, text in test]
    right = sum(a == b for a, b in routed)
    assert right / len(routed) >= ACCURACY_FLOOR, f"{right}/{len(routed)}"
    per = Counter(a for a, _ in routed)
    hits = Counter(a for a, b in routed if a == b)
    low = {i: round(hits[i] / n, 2) for i, n in per.items() if hits[i] / n < PER_INTENT_FLOOR}
    assert not low, low


def test_the_held_apart_set_is_never_trained_on() -> None:
    trained = {clean(text) for _, text in training_data()}
    leaked = [text for _, text in data_file("heldout.txt") if clean(text) in trained]
    assert leaked == []


def test_every_intent_has_training_and_test_sentences_in_both_languages() -> None:
    train = data_file("train.txt")
    test = data_file("heldout.txt")
    assert {i for i, _ in train} == set(INTENTS) == {i for i, _ in test}
    counts = Counter(i for i, _ in train)
    assert min(counts.values()) >= 20, counts
    assert len(training_data()) >= 3000
    for intent in INTENTS:
        lines = [t for i, t in train if i == intent]
        assert any(t.isascii() for t in lines), intent
        assert any(not t.isascii() for t in lines), intent


def test_the_generated_variants_are_current() -> None:
    data = resources.files("handlers.nlu").joinpath("data")
    train = read_labelled(data.joinpath("train.txt").read_text("utf-8"))
    assert data.joinpath("variants.txt").read_text("utf-8") == render(train), (
        "run: python -m handlers.nlu.variants"
    )


def test_a_label_outside_the_intents_is_refused_by_the_format() -> None:
    with pytest.raises(ValueError):
        read_labelled("no header first\n")
    assert read_labelled("# comment\n## report\n漏水\n\n## help\nhi\n") == [
        ("report", "漏水"),
        ("help", "hi"),
    ]


# ---------------------------------------------------------------- rules and confidence


@pytest.mark.parametrize(
    ("text", "intent", "rule"),
    [
        ("R0012怎么样了", "status", "case number"),
        ("r0003 有进展吗", "status", "case number"),
        ("⭐⭐⭐⭐", "rate", "stars"),
        ("早上好", "help", "greeting"),
        ("你好！", "help", "greeting"),
        ("Good morning", "help", "greeting"),
        ("", "unknown", "empty"),
        ("。。。", "unknown", "empty"),
    ],
)
def test_certain_rules(text: str, intent: str, rule: str) -> None:
    u = understand(text)
    assert (u.intent, u.rule, u.sure) == (intent, rule, True)


def test_a_greeting_with_a_problem_is_the_problem() -> None:
    u = understand("你好，我家楼上漏水了")
    assert (u.intent, u.greeting) == ("report", False)


def test_nothing_likely_is_unknown_and_an_unsure_guess_offers_options() -> None:
    assert understand("asdfgh qwerty").intent == "unknown"
    u = understand(ambiguous())
    assert u.clarify and not u.sure
    assert 2 <= len(u.options) <= 3 and "unknown" not in u.options
    assert u.intent == u.options[0] == u.top[0][0]


def test_odd_and_long_input_gives_a_known_name() -> None:
    for text in ("\x00\u200b", "🙂" * 500, "漏" * 5000, "a" * 10000, "R" + "9" * 50):
        assert understand(text).intent in INTENTS


# ---------------------------------------------------------------- details

TODAY = date(2026, 12, 2)  # a Wednesday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3幢后面堆了好多杂物", {"building": "3", "category": "clutter"}),
        ("6栋电梯坏了", {"building": "6", "category": "facility"}),
        ("12号楼门口有人在楼道里给电动车充电", {"building": "12", "category": "safety"}),
        ("2单元3号楼漏水", {"building": "3", "unit": "2", "category": "facility"}),
        ("building 8: the lift is broken", {"building": "8", "category": "facility"}),
        ("住在5楼，楼上装修太吵", {"category": "dispute"}),
        ("礼拜六可以理发吗", {"service": "haircut", "weekday": 5, "day": date(2026, 12, 5)}),
        ("下周三有没有义诊", {"service": "clinic", "weekday": 2, "day": date(2026, 12, 9)}),
        ("周一办社保卡", {"service": "social_card", "weekday": 0, "day": date(2026, 12, 7)}),
        ("明天下午剪头", {"service": "haircut", "weekday": 3, "day": date(2026, 12, 3),
                        "part_of_day": "afternoon"}),
        ("12月5号去银行开户", {"service": "bank", "weekday": 5, "day": date(2026, 12, 5)}),
        ("book a lawyer for next friday", {"service": "legal", "weekday": 4,
                                          "day": date(2026, 12, 11)}),
        ("我都84了", {"age": 84}),
        ("我妈今年八十五了能领什么", {"age": 85}),
        ("my father is 90, any allowance", {"age": 90}),
        ("R0012怎么样了", {"case": 12}),
        ("給個五顆星", {"stars": 5}),
        ("⭐⭐⭐", {"stars": 3}),
        ("你好", {}),
    ],
)  # fmt: skip
def test_details(text: str, expected: dict[str, object]) -> None:
    assert extract_details(text, TODAY).as_dict() == expected


def test_without_today_a_weekday_has_no_date() -> None:
    d = extract_details("礼拜六理发")
    assert (d.weekday, d.day, d.service) == (5, None, "haircut")


# ---------------------------------------------------------------- conversations


async def test_a_greeting_gets_a_greeting_and_the_menu(chat: Chat) -> None:
    await chat.link(WANG, "王建国")
    said = await chat.user(WANG).send("早上好！")
    assert "王建国，您好" in texts(said)
    assert "没听懂" not in texts(said)
    shown = said[-1].keyboard if chat.channel == "wechat" else menu_of(said)
    assert any("随手拍" in label for label in shown)


async def test_an_unsure_message_gets_a_question_and_the_choice_keeps_the_sentence(
    chat: Chat, demo: Database
) -> None:
    await chat.link(WANG, "王建国")
    wang = chat.user(WANG)
    text = ambiguous()
    asked = await wang.send(text)
    assert "您是想" in texts(asked)
    assert "上报问题" in texts(asked) or chat.channel == "telegram"
    assert "没听懂" not in texts(asked)
    started = await wang.press("上报问题")
    assert "是什么问题" in texts(started)
    async with demo.session() as s:
        conv = (await s.execute(select(Conversation))).scalars().all()
    [mine] = [c for c in conv if c.flow]
    assert (mine.flow, mine.data.get("description")) == ("report", text)


async def test_other_in_the_question_shows_the_menu_and_nothing_starts(
    chat: Chat, demo: Database
) -> None:
    await chat.link(WANG, "王建国")
    wang = chat.user(WANG)
    await wang.send(ambiguous())
    said = await wang.press("其他")
    assert "选择您要办的事" in texts(said)
    async with demo.session() as s:
        assert all(c.flow is None for c in (await s.execute(select(Conversation))).scalars())
        assert (await s.execute(select(Report))).first() is None


async def test_typing_something_else_instead_of_choosing_routes_the_new_text(chat: Chat) -> None:
    await chat.link(WANG, "王建国")
    wang = chat.user(WANG)
    await wang.send(ambiguous())
    said = await wang.send("我能领尊老金吗")
    assert "您是想" not in texts(said)
    assert "尊老金" in texts(said)


async def test_nothing_likely_gets_the_menu(chat: Chat) -> None:
    await chat.link(WANG, "王建国")
    said = await chat.user(WANG).send("asdfgh qwerty")
    assert "没听懂" in texts(said)


async def test_a_case_number_in_a_sentence_opens_that_case(chat: Chat) -> None:
    await chat.link(WANG, "王建国")
    wang = chat.user(WANG)
    await wang.send("3幢后面堆了好多杂物")
    await wang.press("杂物堆放")
    await wang.press("没有照片")
    await wang.press("3幢")
    done = await wang.press("提交")
    assert "R0001" in texts(done)
    said = await wang.send("R0001 现在怎么样了？")
    assert "R0001 🧹 杂物堆放" in texts(said) and "状态：待接单" in texts(said)
    assert "没听懂" not in texts(said)


async def test_a_case_number_of_someone_else_reveals_nothing(chat: Chat) -> None:
    await chat.link(WANG, "王建国")
    said = await chat.user(WANG).send("R0042怎么样了")
    assert "地点" not in texts(said)


async def test_a_forged_choice_is_refused_and_does_nothing(
    telegram: object, api: object, demo: Database
) -> None:
    app = await telegram()  # type: ignore[operator]
    await link(demo, WANG, "王建国")
    wang = TelegramUser(app, api, WANG, "王建国")  # type: ignore[arg-type]
    await wang.send(ambiguous())
    said = await wang.press_payload("pick:broadcast")  # not offered to a resident
    assert "失效" in texts(said)
    async with demo.session() as s:
        assert (await s.execute(select(Notice))).first() is None


async def test_the_question_and_the_greeting_on_the_console(
    demo: Database, database_url: str, project_root: Path
) -> None:
    script = ["早上好", ambiguous(), "1"]
    result = run(["console", "--as", "王建国"], "\n".join(script) + "\n", database_url,
                 project_root)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "王建国，您好" in out
    assert "您是想" in out and "1. 上报问题" in out.replace("1 ", "1. ")
    assert "是什么问题" in out


def test_intent_explain_prints_the_name_then_scores_and_details(
    database_url: str, project_root: Path
) -> None:
    one = run(["intent", "--explain", "3幢后面堆了好多杂物"], "", database_url, project_root)
    lines = one.stdout.splitlines()
    assert lines[0] == "report"
    assert "top: report" in one.stdout and "building=3" in one.stdout
    assert "category=clutter" in one.stdout
    plain = run(["intent"], "早上好\nR0007怎么样了\n", database_url, project_root)
    assert plain.stdout.split() == ["help", "status"]
