"""Tests for free-text intent detection (handlers.intents, over the keywords the features declare)."""

from __future__ import annotations

import random

import pytest

from bot.app import FEATURES
from handlers.feature import FeatureSet
from handlers.intents import normalize

_DETECTOR = FeatureSet(FEATURES).detector
INTENTS = _DETECTOR.intents
detect_intent = _DETECTOR.detect

_RNG = random.Random(20240601)
RANDOM_CJK = "".join(chr(_RNG.randint(0x4E00, 0x9FFF)) for _ in range(5000))
RANDOM_MIXED = "".join(chr(_RNG.randint(0x20, 0x2FFF)) for _ in range(5000))

CHINESE: list[tuple[str, str]] = [
    # report
    ("樓道裡堆滿了雜物", "report"),
    ("楼道里堆满了杂物，没人管", "report"),
    ("我要随手拍", "report"),
    ("路灯坏了，晚上很黑", "report"),
    ("我家楼上漏水了", "report"),
    ("隔壁装修噪音太大了", "report"),
    ("有人在楼道里飞线充电，有安全隐患", "report"),
    ("小区门口的垃圾桶满了", "report"),
    ("电动车乱停乱放", "report"),
    ("我要头诉", "report"),
    ("鄰居之間有糾紛，想請人調解", "report"),
    # benefits
    ("你好，我想问一下我能领尊老金吗", "benefits"),
    ("尊老今怎么申请", "benefits"),
    ("我奶奶今年八十岁了，有高龄补贴吗", "benefits"),
    ("請問怎麼申請尊老金", "benefits"),
    ("低保怎么办理", "benefits"),
    ("尊老斤", "benefits"),
    # booking
    ("我想预约理发", "booking"),
    ("下周六有义诊吗，我想预约", "booking"),
    ("我想找律师做个法律咨询", "booking"),
    ("預約理髮", "booking"),
    ("我想预越一下", "booking"),
    ("义珍什么时候开始", "booking"),
    ("量血压要预约吗", "booking"),
    # vote
    ("头票", "vote"),
    ("我要投票", "vote"),
    ("外墙设计方案怎么表决", "vote"),
    ("三個設計方案我選第二個", "vote"),
    # events
    ("报名参加活动", "events"),
    ("这周末有什么活动", "events"),
    ("我想报铭参加讲座", "events"),
    ("居民议事会几点开", "events"),
    ("有什么活洞", "events"),
    ("我的活动", "my_events"),
    ("我报名的活动", "my_events"),
    ("show my events", "my_events"),
    ("今天的活動怎麼報名", "events"),
    # stations
    ("附近哪里有驿站可以休息", "stations"),
    ("外卖小哥在哪里能充电喝水", "stations"),
    ("能量补给站在哪", "stations"),
    ("哪裡可以給手機充電", "stations"),
    ("驿占在哪", "stations"),
    # status
    ("我的事项", "status"),
    ("我的尊老金申请到哪一步了", "status"),
    ("我上次报修的问题处理得怎么样了", "status"),
    ("查一下申请进度", "status"),
    ("我的申請辦得怎麼樣了", "status"),
    ("进渡", "status"),
    # rate
    ("给志愿者打个分", "rate"),
    ("我想评价一下理发服务", "rate"),
    ("对这次服务很满意", "rate"),
    ("平价一下上次的义诊", "rate"),
    # tasks
    ("我的任务", "tasks"),
    ("我想接单", "tasks"),
    ("查一下我的志愿服务时长", "tasks"),
    ("网格长派单了吗", "tasks"),
    # broadcast
    ("发通知给全体居民", "broadcast"),
    ("群发一条公告", "broadcast"),
    ("發通知給全體居民", "broadcast"),
    # help
    ("帮助", "help"),
    ("菜单", "help"),
    ("你好", "help"),
    ("这个怎么用", "help"),
    ("彩单", "help"),
    # language
    ("切换语言", "language"),
    ("我想用英文", "language"),
    ("換成中文", "language"),
    # more extra words and overlaps
    ("帮我查一下我上报的问题", "status"),
    ("给网格员点个赞", "rate"),
    ("我想咨询一下法律问题", "booking"),
    ("附近有沒有可以喝水的地方", "stations"),
]

ENGLISH: list[tuple[str, str]] = [
    ("I want to report a broken streetlight", "report"),
    ("reprot clutter in the hallway", "report"),
    ("There's a leak in my ceiling", "report"),
    ("junk piled up in the stairwell", "report"),
    ("HELP ME REPORT A LEAK", "report"),
    ("How do I apply for the elderly allowance?", "benefits"),
    ("benfits", "benefits"),
    ("am I eligible for the allowence", "benefits"),
    ("book a haircut", "booking"),
    ("I need an apointment for a health check", "booking"),
    ("can I get legal advice on saturday", "booking"),
    ("vote on the wall design", "vote"),
    ("poll", "vote"),
    ("evnts this weekend", "events"),
    ("sign up for the lecture", "events"),
    ("any activities for kids?", "events"),
    ("where is the nearest rest station", "stations"),
    ("where can I charge my phone", "stations"),
    ("I need some water", "stations"),
    ("what's the status of my application", "status"),
    ("show my cases", "status"),
    ("progres of my report", "status"),
    ("rate the haircut service", "rate"),
    ("I want to leave feedback", "rate"),
    ("5 stars", "rate"),
    ("my tasks", "tasks"),
    ("how many volunteer hours do I have", "tasks"),
    ("broadcast a notice to all residents", "broadcast"),
    ("anounce the meeting", "broadcast"),
    ("help", "help"),
    ("Hello!", "help"),
    ("hi", "help"),
    ("menu pls", "help"),
    ("switch to English", "language"),
    ("Chinese please", "language"),
    ("ｒｅｐｏｒｔ", "report"),
    ("hepl", "help"),
    ("benifits for seniors", "benefits"),
    ("the streetlight is brokn", "report"),
    ("switch languge", "language"),
]

UNKNOWN: list[tuple[str, str]] = [
    ("", "unknown"),
    ("   ", "unknown"),
    ("😀😀😀", "unknown"),
    ("\x00\x07abc", "unknown"),
    (RANDOM_CJK, "unknown"),
    ("今天天气不错", "unknown"),
    ("asdfgh", "unknown"),
    ("12345", "unknown"),
    ("。。。！！！", "unknown"),
    ("lorem ipsum dolor sit amet", "unknown"),
    ("ok", "unknown"),
]

CASES = CHINESE + ENGLISH + UNKNOWN


def _case_id(case: tuple[str, str]) -> str:
    text = case[0]
    return repr(text[:20] + ("…" if len(text) > 20 else ""))


def test_table_size() -> None:
    assert len(CHINESE) >= 40
    assert len(ENGLISH) >= 25
    assert len(UNKNOWN) >= 10
    assert len(CASES) >= 80


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[_case_id(c) for c in CASES])
def test_detect_intent(text: str, expected: str) -> None:
    assert expected in INTENTS
    assert detect_intent(text) == expected


@pytest.mark.parametrize(
    "text",
    [text for text, _ in CASES] + [RANDOM_MIXED, "\u200b\ufeff", "a" * 10000, "报" * 3000],
    ids=lambda t: repr(t[:10]),
)
def test_detect_intent_returns_member(text: str) -> None:
    assert detect_intent(text) in INTENTS


def test_intents_tuple() -> None:
    assert INTENTS[-1] == "unknown"
    assert (
        len(set(INTENTS)) == len(INTENTS) == 20
    )  # + my_bookings, today_list (10); link, survey (12); web (14)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("樓道裡 堆滿了，雜物！", "楼道里堆满了杂物"),
        ("Hello, World!", "helloworld"),
        ("ＡＢＣ１２３", "abc123"),
        ("😀 hi\x00\t\n", "hi"),
        ("", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_long_and_odd_input_gives_a_known_name() -> None:
    for text in (RANDOM_CJK, RANDOM_MIXED, "x" * 100_000):
        assert detect_intent(text) in INTENTS
