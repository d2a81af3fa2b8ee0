"""Eligibility from age bands and yes/no conditions, on the community's calendar."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from models.benefits import Catalogue, assess, load_catalogue, local_today

CATALOGUE = load_catalogue()
ZLJ = CATALOGUE.get("zlj")
assert ZLJ is not None
YES = {"hukou": True, "other_allowance": False}
BORN = date(1946, 3, 21)


def check(today: date, born: date | None = BORN, answers: dict[str, bool] | None = None, **kw):
    return assess(ZLJ, today=today, birth_date=born, resident=kw.get("resident", True),
                  answers=YES if answers is None else answers)  # fmt: skip


def test_the_day_before_the_80th_birthday_is_soon_the_day_itself_eligible() -> None:
    before = check(date(2026, 3, 20))
    assert (before.status, before.age, before.reached_on) == ("soon", 79, date(2026, 3, 21))
    on = check(date(2026, 3, 21))
    assert (on.status, on.age, on.band and on.band.monthly_yuan) == ("eligible", 80, 50)
    assert on.paid_from == date(2026, 4, 1)  # the shipped rule: from the following month


def test_a_birthday_further_away_than_the_outreach_window_is_too_young() -> None:
    result = check(date(2026, 2, 1))
    assert result.status == "too_young" and result.reached_on == date(2026, 3, 21)
    assert not result.may_apply


def test_midnight_in_shanghai_is_when_the_day_turns() -> None:
    late = datetime(2026, 3, 20, 15, 59, tzinfo=UTC)  # 23:59 in Shanghai
    midnight = datetime(2026, 3, 20, 16, 0, tzinfo=UTC)  # 00:00 on the 21st in Shanghai
    assert local_today(late, "Asia/Shanghai") == date(2026, 3, 20)
    assert local_today(midnight, "Asia/Shanghai") == date(2026, 3, 21)
    assert check(local_today(late, "Asia/Shanghai")).status == "soon"
    assert check(local_today(midnight, "Asia/Shanghai")).status == "eligible"
    assert midnight.date() == date(2026, 3, 20)  # UTC would still say the 20th


def test_leap_day_birthdays_change_band_on_the_first_of_march_in_a_common_year() -> None:
    born = date(1936, 2, 29)  # 90 in 2026, a common year
    assert check(date(2026, 2, 28), born).band.monthly_yuan == 50  # type: ignore[union-attr]
    after = check(date(2026, 3, 1), born)
    assert after.age == 90 and after.band.monthly_yuan == 100  # type: ignore[union-attr]


def test_leap_day_birthday_in_a_leap_year_is_the_day_itself() -> None:
    born = date(1948, 2, 29)  # 80 on 29 February 2028
    assert check(date(2028, 2, 28), born).status == "soon"
    assert check(date(2028, 2, 29), born).status == "eligible"


def test_only_what_is_unknown_is_asked() -> None:
    unknown = check(date(2026, 3, 21), answers={"hukou": True})
    assert unknown.status == "unknown" and unknown.missing == ("other_allowance",)
    no_birth = check(date(2026, 3, 21), born=None, answers={})
    assert no_birth.missing == ("birth_date", "hukou", "other_allowance")
    nobody = check(date(2026, 3, 21), resident=None)
    assert nobody.missing == ("resident",)


def test_a_failed_condition_or_residency_says_which() -> None:
    assert check(date(2026, 3, 21), answers={**YES, "hukou": False}).failed == "hukou"
    assert check(date(2026, 3, 21), answers={**YES, "other_allowance": True}).failed == (
        "other_allowance"
    )
    assert check(date(2026, 3, 21), resident=False).failed == "resident"


def test_a_programme_paid_from_the_birthday_and_a_capped_band() -> None:
    capped = replace(ZLJ, starts="birthday", bands=(replace(ZLJ.bands[0]),))
    on = assess(capped, today=date(2026, 3, 21), birth_date=BORN, resident=True, answers=YES)
    assert on.paid_from == date(2026, 3, 21)
    old = assess(capped, today=date(2036, 3, 21), birth_date=BORN, resident=True, answers=YES)
    assert (old.status, old.failed) == ("ineligible", "age")


def test_a_second_programme_is_data_only(tmp_path: Path) -> None:
    extra = tmp_path / "p.toml"
    extra.write_text(
        (Path(CATALOGUE.source).read_text(encoding="utf-8"))
        + """
[[programme]]
code = "centenarian"
name_zh = "百岁老人长寿补贴"
name_en = "Centenarian allowance"
keywords = ["百岁"]

[[programme.band]]
min_age = 100
monthly_yuan = 500
""",
        encoding="utf-8",
    )
    catalogue = load_catalogue(extra)
    assert [p.code for p in catalogue.programmes] == ["zlj", "centenarian"]
    assert catalogue.find("百岁老人怎么申请") is catalogue.get("centenarian")
    assert catalogue.find("我能领尊老金吗") is catalogue.get("zlj")


def test_a_broken_programmes_file_is_refused_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[programme]]\ncode = "X Y"\nname_zh = "a"\nname_en = "a"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="code"):
        load_catalogue(bad)
    assert isinstance(CATALOGUE, Catalogue) and ZLJ.illustrative
