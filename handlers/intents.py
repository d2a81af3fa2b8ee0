"""Free-text intent detection for Chinese and English messages, tolerant of typos.

Every incoming message that is not a button press goes through :func:`detect_intent`, so the
work per call is bounded: the text is cut to a fixed length before any analysis, keyword
tables (and their pinyin) are built once at import, and the per-character pinyin lookup
is cached.

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
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pypinyin import Style, lazy_pinyin, pinyin
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, Indel

INTENTS: tuple[str, ...] = (
    "report",
    "benefits",
    "booking",
    "vote",
    "events",
    "stations",
    "status",
    "rate",
    "tasks",
    "broadcast",
    "help",
    "language",
    "unknown",
)

_RAW_CAP = 400  # characters of raw input looked at, before normalisation
_TEXT_CAP = 200  # normalised characters looked at
_WORD_CAP = 60  # English words looked at
_MIN_SCORE = 0.75
_HOMOPHONE_FACTOR = 0.8
_FUZZY_FACTOR = 0.9
_SECONDARY_FACTOR = 0.3

# Per-intent weight factors: "wrapper" intents beat the subject they talk about
# (我的尊老金申请到哪一步了 is about status, not benefits); greetings lose to anything else.
_INTENT_FACTOR: dict[str, float] = {
    "status": 2.0,
    "rate": 2.0,
    "language": 2.0,
    "broadcast": 1.5,
    "help": 0.5,
}

# Chinese keywords (simplified; at least two characters each), separated by spaces.  A keyword
# may be written "keyword:weight" to override its default weight (its length).
_ZH: dict[str, str] = {
    "report": (
        "杂物 堆放 乱堆 乱放 乱堆乱放 堆满 堆着 垃圾 漏水 渗水 坏了 损坏 破损 随手拍 上报 "
        "问题上报 投诉 举报 路灯 噪音 扰民 隐患 安全隐患 纠纷 报修 维修 堵塞 堵了 占道 飞线充电 "
        "楼道充电 不亮 漏电 异味 脏乱 违建 积水 反映问题 有问题 太吵 私拉电线 乱停 消防通道 井盖 "
        "下水道 楼道:1.5 物业不管 水管 爆管 爆了 漏了"
    ),
    "benefits": (
        "尊老金 补贴 补助 办事 申请 高龄 低保 津贴 养老金 福利 救助 敬老 领钱 能领 怎么领 领取 "
        "残疾补贴 困难补助 政策 办理 老年卡 优待证 医保 社保 资格"
    ),
    "booking": (
        "预约 理发 义诊 法律咨询 微阵地 挂号 剪头发 剪头 剪发 量血压 测血压 体检 健康检查 律师 "
        "法律援助 预订 约个 约一下 订个 排个号 服务点 免费理发 修脚 修家电 磨剪刀 看病 法律问题 "
        "咨询律师"
    ),
    "vote": (
        "投票 表决 设计方案 方案 选方案 投一票 投个票 墙绘 外墙设计 设计图 民意 征求意见 选哪个 "
        "哪个方案 投赞成 投反对 赞成票"
    ),
    "events": (
        "活动 报名 讲座 议事会 参加 参加活动 聚会 培训 演出 议事 座谈 联欢 文艺 比赛 志愿活动 "
        "亲子 课堂 开会 会议"
    ),
    "stations": (
        "驿站 补给站 能量补给站 休息 歇脚 歇一下 充电 饮水 喝水 热水 厕所 卫生间 洗手间 休息点 "
        "爱心驿站 小蜜蜂 外卖小哥 快递员 网约车 微波炉 热饭 打水 避暑 取暖 乘凉 充电宝 歇歇 凉快"
    ),
    "status": (
        "我的事项 进度 办得怎么样 怎么样了 我的申请 到哪一步 哪一步 处理结果 有结果 处理了吗 "
        "查进度 办好了吗 到哪了 催办 催一下 还没处理 没人处理 我的上报 我的投诉 我的报修 我的预约 "
        "审核 批下来 批了吗 有回音 有消息吗 处理得怎么样 多久能 我上报的 我报的 我提交的 我反映的"
    ),
    "rate": (
        "评价 打分 打个分 打几分 满意 不满意 评议 评分 星级 几颗星 五星 好评 差评 满意度 点赞 "
        "给个评 吐槽一下服务 点个赞"
    ),
    "tasks": (
        "任务 接单 派单 我的时长 志愿服务 服务时长 志愿时长 抢单 工单 待办 巡逻 上门走访 走访 "
        "入户 红管家 我的任务 志愿积分 当志愿者 做志愿者 时长 志愿者:1.5"
    ),
    "broadcast": (
        "发通知 群发 公告 发公告 通知 广播 全体居民 通知大家 发布 推送 告知 告诉大家 发个通知"
    ),
    "help": (
        "帮助 菜单 怎么用 你好 您好 使用说明 功能 能做什么 会什么 在吗 哈喽 指南 帮忙 说明 "
        "怎么操作 有人吗"
    ),
    "language": "英文 英语 中文 切换语言 语言 汉语 普通话 说中文 说英语 换成英文 换成中文",
}

# English keywords, lowercase, separated by commas; a keyword may be several words
# ("keyword:weight" allowed).
_EN: dict[str, str] = {
    "report": (
        "report, broken, clutter, cluttered, junk, leak, leaking, garbage, trash, rubbish, noise, "
        "noisy, complain, complaint, streetlight, street light, hazard, dispute, damaged, "
        "blocked, litter, not working, repair, fix, problem:1.5, issue:1.5, mess, smell, flooded, "
        "dirty"
    ),
    "benefits": (
        "allowance, benefit, benefits, apply, application:1.5, subsidy, pension, welfare, "
        "elderly allowance, eligible, entitled, elderly"
    ),
    "booking": (
        "book, booking, appointment, haircut, health check, checkup, legal advice, lawyer, "
        "reserve, reservation, barber, clinic, blood pressure, slot"
    ),
    "vote": "vote, poll, ballot, wall design, design:1.5, designs:1.5",
    "events": (
        "event, events, sign up, activity, activities, lecture, workshop, register, party, "
        "meeting, join:1.5"
    ),
    "stations": (
        "rest station, station, rest, charge, charging, charge my phone, water, toilet, restroom, "
        "bathroom, drink, rest stop, power bank, break room"
    ),
    "status": (
        "status, progress, my cases, my case, my applications, my application, my reports, "
        "my report, my requests, my bookings, track, any news, what happened"
    ),
    "rate": (
        "rate, rating, review, feedback, stars, star, score, satisfied, satisfaction, evaluate, "
        "thumbs up"
    ),
    "tasks": (
        "tasks, task, my hours, hours, volunteer hours, assignment, assignments, my tasks, "
        "patrol, work order, orders, duty"
    ),
    "broadcast": (
        "notice, broadcast, announce, announcement, notify, notify everyone, all residents, "
        "send notice, send a notice, mass message"
    ),
    "help": (
        "help, menu, hello, hi, hey, start, how to use, commands, what can you do, usage, guide, "
        "instructions, good morning"
    ),
    "language": "language, english, chinese, switch language, lang, mandarin",
}

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


def _build_zh() -> tuple[_Keyword, ...]:
    out: list[_Keyword] = []
    for intent, entries in _ZH.items():
        factor = _INTENT_FACTOR.get(intent, 1.0)
        for entry in entries.split():
            text, weight = _split_weight(entry)
            if len(text) < 2:
                raise ValueError(f"single-character keyword {text!r} is too ambiguous")
            base = float(len(text)) if weight is None else weight
            out.append(_Keyword(intent, text, base * factor, tuple(lazy_pinyin(text))))
    # Longest first, then heaviest: the order in which overlapping matches are accepted.
    out.sort(key=lambda k: (-len(k.text), -k.weight))
    return tuple(out)


def _build_en() -> tuple[_Keyword, ...]:
    out: list[_Keyword] = []
    for intent, entries in _EN.items():
        factor = _INTENT_FACTOR.get(intent, 1.0)
        for entry in entries.split(","):
            text, weight = _split_weight(entry.strip())
            words = tuple(text.split())
            base = 2.0 * len(words) if weight is None else weight
            out.append(_Keyword(intent, text, base * factor, words))
    out.sort(key=lambda k: (-len(k.syllables), -k.weight))
    return tuple(out)


_ZH_KEYWORDS = _build_zh()
_EN_KEYWORDS = _build_en()
_EN_VOCAB: frozenset[str] = frozenset(w for k in _EN_KEYWORDS for w in k.syllables)
_EN_VOCAB_SORTED: tuple[str, ...] = tuple(sorted(_EN_VOCAB))
_INTENT_ORDER: dict[str, int] = {intent: i for i, intent in enumerate(INTENTS)}

# Homophone candidates are found by the first syllable of each keyword.
_ZH_BY_FIRST: dict[str, tuple[_Keyword, ...]] = {}
for _kw in _ZH_KEYWORDS:
    _ZH_BY_FIRST[_kw.syllables[0]] = (*_ZH_BY_FIRST.get(_kw.syllables[0], ()), _kw)
del _kw


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


def _zh_matches(text: str) -> list[tuple[int, _Match]]:
    """Candidate matches in Chinese text, each with its keyword length for ordering."""
    found: dict[tuple[int, int, str], float] = {}
    for kw in _ZH_KEYWORDS:
        start = text.find(kw.text)
        while start != -1:
            key = (start, start + len(kw.text), kw.intent)
            found[key] = max(found.get(key, 0.0), kw.weight)
            start = text.find(kw.text, start + 1)
    readings = [_readings(ch) for ch in text]
    for i, first in enumerate(readings):
        for syllable in first:
            for kw in _ZH_BY_FIRST.get(syllable, ()):
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


@lru_cache(maxsize=4096)
def _word_keys(word: str) -> tuple[tuple[str, bool], ...]:
    """Keyword words a typed word stands for, with whether each match is exact."""
    if word in _EN_VOCAB:
        return ((word, True),)
    forms = (word, word[:-1]) if word.endswith("s") and len(word) > 5 else (word,)
    return tuple(
        (key, False) for key in _EN_VOCAB_SORTED if any(_word_similar(form, key) for form in forms)
    )


def _en_matches(words: list[str]) -> list[tuple[int, _Match]]:
    """Candidate matches among English words, each with its keyword length for ordering."""
    keys = [dict(_word_keys(w)) for w in words]
    out: list[tuple[int, _Match]] = []
    for kw in _EN_KEYWORDS:
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


def detect_intent(text: str) -> str:
    """Return the intent (one of INTENTS) of a free-text message in Chinese or English."""
    if not text:
        return "unknown"
    folded = _fold(text[:_RAW_CAP])
    chinese = "".join(ch for ch in folded if _keep(ch))[:_TEXT_CAP]
    words = _WORD_RE.findall(folded)[:_WORD_CAP]
    matches = _accept(_zh_matches(chinese)) + _accept(_en_matches(words))
    scores = _score(matches)
    if not scores:
        return "unknown"
    best = max(scores, key=lambda intent: (scores[intent], -_INTENT_ORDER[intent]))
    return best if scores[best] >= _MIN_SCORE else "unknown"
