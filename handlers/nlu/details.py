"""Details picked out of a resident's sentence: building, unit, report category, day, service, age.

One pure function, :func:`extract_details`, returns a typed :class:`Details`; flows use it to
skip questions whose answer the first sentence already gave ("3幢后面堆了好多杂物" gives the
building and the category). Nothing here touches the database: a building number is the number
the person wrote, which the flow then looks up in the person's estate.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from handlers.nlu.text import fold

_CAP = 300

# --- numbers written in Chinese -------------------------------------------------------------

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}  # fmt: skip
_NUM = r"(?:\d{1,3}|[零〇一二两三四五六七八九十百]{1,5})"


def cn_number(text: str) -> int | None:
    """'84' / '八十四' / '十二' / '一百零二' → the number; anything else → None."""
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for ch in text:
        if ch in _CN_DIGITS:
            current = _CN_DIGITS[ch]
        elif ch == "十":
            total += (current or 1) * 10
            current = 0
        elif ch == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return total + current if text else None


# --- building and unit ----------------------------------------------------------------------

# 5楼 is more often a floor and 5号 a day: only 号楼 / 幢 / 栋 / 座 name a building.
_BUILDING = re.compile(rf"({_NUM})\s*(?:号楼|号栋|号幢|幢|栋|座)")
_BUILDING_EN = re.compile(r"\b(?:building|block|bldg)\s*(?:no\.?\s*)?(\d{1,3})\b", re.I)
_UNIT = re.compile(rf"({_NUM})\s*单元")
_UNIT_EN = re.compile(r"\bunit\s*(\d{1,2})\b", re.I)

# --- report categories (the report flow's CATEGORIES) ---------------------------------------


def _words(table: dict[str, str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """{name: 'word word …'} → ((name, words), …); English phrases use '_' for a space."""
    return tuple((k, tuple(w.replace("_", " ") for w in v.split())) for k, v in table.items())


# First match wins, so the order matters: an e-bike charging in a hallway is a safety matter.
_CATEGORY_WORDS = _words(
    {
        "safety": "隐患 漏电 飞线 私拉 电线 充电 电瓶 电动车 消防 井盖 煤气 燃气 着火 烧焦 "
        "高空抛物 扔东西 栏杆 扶手 护栏 倒了 塌 掉下来 砸 危险 fire gas railing handrail "
        "manhole e-bike danger fell threw",
        "dispute": "纠纷 吵架 吵起来 邻居 噪音 扰民 太吵 吵死 装修 电钻 敲墙 广场舞 音响 半夜 "
        "一大早 狗叫 noise noisy loud drilling neighbour neighbor renovation fighting",
        "clutter": "杂物 堆 乱放 沙发 床垫 柜子 衣柜 纸箱 破烂 旧家具 占道 占用 clutter junk "
        "sofa mattress fridge piled",
        "hygiene": "垃圾 脏 臭 异味 卫生 狗屎 狗粑粑 粪 老鼠 蟑螂 苍蝇 蚊子 种菜 菜地 rubbish "
        "garbage trash bins smell dog_mess poop foul rats vegetable",
        "facility": "坏 电梯 路灯 灯 漏水 渗水 滴水 水管 爆管 堵 门禁 锁 不亮 裂 积水 淹 broken "
        "lift elevator light leak pipe blocked flooded not_working",
    }
)

# --- days -----------------------------------------------------------------------------------

_WEEKDAY_NAMES = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6,
                  "七": 6, "1": 0, "2": 1, "3": 2, "4": 3, "5": 4, "6": 5, "7": 6}  # fmt: skip
_WEEKDAY = re.compile(r"(下下|下个?|这个?|本|上个?)?(?:星期|礼拜|周)([一二三四五六日天七1-7])")
_WEEKDAY_EN = re.compile(r"\b(next |this )?(mon|tues|wednes|thurs|fri|satur|sun)day\b", re.I)
_EN_DAYS = {"mon": 0, "tues": 1, "wednes": 2, "thurs": 3, "fri": 4, "satur": 5, "sun": 6}
_RELATIVE = (("大后天", 3), ("后天", 2), ("明天", 1), ("明儿", 1), ("今天", 0), ("今儿", 0),
             ("day after tomorrow", 2), ("tomorrow", 1), ("today", 0), ("tonight", 0))  # fmt: skip
_MONTH_DAY = re.compile(rf"({_NUM})\s*月\s*({_NUM})\s*[日号]")
_DAY_ONLY = re.compile(rf"(?<![月\d])({_NUM})\s*号(?!楼|栋|幢)")
_WEEKEND = re.compile(r"周末|礼拜天|weekend", re.I)
_PARTS = (("上午", "morning"), ("早上", "morning"), ("中午", "noon"), ("下午", "afternoon"),
          ("晚上", "evening"), ("今晚", "evening"), ("morning", "morning"),
          ("afternoon", "afternoon"), ("evening", "evening"), ("tonight", "evening"))  # fmt: skip

# --- services of the service points (booking) -----------------------------------------------

SERVICES = _words(
    {
        "haircut": "理发 剪头 剪发 剃头 剪个头 理个发 haircut barber hair_cut",
        "clinic": "义诊 量血压 测血压 血糖 体检 看病 中医 clinic health_check check_up checkup "
        "blood_pressure doctor",
        "legal": "普法 律师 法律 合同 lawyer legal",
        "social_card": "社保卡 医保卡 社保 social_security",
        "bank": "银行 开户 银行卡 存折 bank",
        "repair": "修家电 磨剪刀 磨刀 修伞 修鞋 家电维修 修电动车 appliance knife_sharpening",
    }
)

# --- age ------------------------------------------------------------------------------------

_AGE = (
    re.compile(rf"({_NUM})\s*(?:多|几)?\s*(?:岁|周岁)"),
    re.compile(rf"(?:都|已经|今年|满|过|快|刚满|年满)\s*({_NUM})\s*(?:多|几)?\s*(?:了|啦|岁)"),
    re.compile(rf"(?:都|已经|今年|满|刚满|年满)\s*({_NUM})(?![\d号楼栋幢单元])"),
    re.compile(r"\b(?:i'?m|i am|is|turned|aged?|she's|he's)\s+(\d{2,3})\b", re.I),
    re.compile(r"\b(\d{2,3})\s*(?:years? old|yo)\b", re.I),
    re.compile(r"\bover\s+(\d{2,3})\b", re.I),
)
_AGE_DECADE = re.compile(r"([七八九])十多|in (?:her|his|their|my) (seventies|eighties|nineties)")
_DECADES = {"七": 70, "八": 80, "九": 90, "seventies": 70, "eighties": 80, "nineties": 90}

_CASE = re.compile(r"(?<![a-z0-9])r\s?0*(\d{1,7})(?![0-9])", re.I)
_STARS = re.compile(r"([1-5一二三四五])\s*(?:颗星|个星|星|stars?|分)", re.I)


@dataclass(frozen=True)
class Details:
    """What a sentence says besides its intent (None: not said)."""

    building: str | None = None  # the number written: "3" for 3幢 / 3号楼 / building 3
    unit: str | None = None
    category: str | None = None  # a report category
    day: date | None = None  # a date, when `today` was given
    weekday: int | None = None  # 0 = Monday
    part_of_day: str | None = None  # morning / noon / afternoon / evening
    service: str | None = None  # a service point's service (SERVICES)
    age: int | None = None
    case: int | None = None  # a case number R0012 → 12
    stars: int | None = None  # a rating 1-5
    found: tuple[str, ...] = field(default=())  # names of the fields above that were set

    def as_dict(self) -> dict[str, object]:
        """The details found, for --explain and logs."""
        return {name: getattr(self, name) for name in self.found}


def _building(text: str) -> tuple[str | None, str | None]:
    unit = _UNIT.search(text) or _UNIT_EN.search(text)
    unit_no = cn_number(unit.group(1)) if unit else None
    m = _BUILDING.search(text) or _BUILDING_EN.search(text)
    number = cn_number(m.group(1)) if m else None
    if number is not None and not 0 < number < 1000:
        number = None
    return (str(number) if number is not None else None,
            str(unit_no) if unit_no is not None else None)  # fmt: skip


def _category(low: str) -> str | None:
    for category, words in _CATEGORY_WORDS:
        if any(w in low for w in words):
            return category
    return None


def _day(low: str, today: date | None) -> tuple[date | None, int | None]:
    m = _WEEKDAY.search(low)
    en = _WEEKDAY_EN.search(low)
    weekday: int | None = None
    weeks = 0
    if m:
        weekday = _WEEKDAY_NAMES[m.group(2)]
        prefix = m.group(1) or ""
        weeks = 2 if prefix == "下下" else 1 if prefix.startswith("下") else 0
        weeks = -1 if prefix.startswith("上") else weeks
    elif en:
        weekday = _EN_DAYS[en.group(2).lower()]
        weeks = 1 if (en.group(1) or "").lower().startswith("next") else 0
    elif _WEEKEND.search(low):
        weekday = 5
    if weekday is not None:
        if today is None:
            return None, weekday
        monday = today - timedelta(days=today.weekday())
        day = monday + timedelta(days=7 * weeks + weekday)
        if weeks == 0 and day < today:  # 礼拜六 said on a Sunday: the coming one
            day += timedelta(days=7)
        return day, weekday
    for word, offset in _RELATIVE:
        if word in low:
            if today is None:
                return None, None
            day = today + timedelta(days=offset)
            return day, day.weekday()
    md = _MONTH_DAY.search(low)
    if md and today is not None:
        month, dom = cn_number(md.group(1)), cn_number(md.group(2))
        if month and dom:
            for year in (today.year, today.year + 1):
                try:
                    day = date(year, month, dom)
                except ValueError:
                    return None, None
                if day >= today - timedelta(days=1) or year > today.year:
                    return day, day.weekday()
    d = _DAY_ONLY.search(low)
    if d and today is not None:
        dom = cn_number(d.group(1))
        if dom and 1 <= dom <= 31:
            for months in (0, 1):
                y, mo = divmod(today.month - 1 + months, 12)
                try:
                    day = date(today.year + y, mo + 1, dom)
                except ValueError:
                    continue
                if day >= today:
                    return day, day.weekday()
    return None, None


def _age(low: str) -> int | None:
    for pattern in _AGE:
        m = pattern.search(low)
        if m:
            age = cn_number(m.group(1))
            if age is not None and 50 <= age <= 120:
                return age
    m = _AGE_DECADE.search(low)
    if m:
        return _DECADES[m.group(1) or m.group(2)]
    return None


def _stars(text: str, low: str) -> int | None:
    count = text.count("⭐") + text.count("★")
    if 1 <= count <= 5:
        return count
    m = _STARS.search(low)
    if m:
        n = cn_number(m.group(1))
        return n if n is not None and 1 <= n <= 5 else None
    return None


def extract_details(text: str, today: date | None = None) -> Details:
    """The details a sentence gives; `today` turns weekdays and 明天 into dates."""
    low = fold(text[:_CAP])
    building, unit = _building(low)
    day, weekday = _day(low, today)
    part = next((p for word, p in _PARTS if word in low), None)
    service = next((s for s, words in SERVICES if any(w in low for w in words)), None)
    case = _CASE.search(low)
    values: dict[str, object] = {
        "building": building,
        "unit": unit,
        "category": _category(low),
        "day": day,
        "weekday": weekday,
        "part_of_day": part,
        "service": service,
        "age": _age(low),
        "case": int(case.group(1)) if case else None,
        "stars": _stars(text, low),
    }
    found = tuple(k for k, v in values.items() if v is not None)
    return Details(**values, found=found)  # type: ignore[arg-type]
