"""Register files for tests: rows of the import format as .xlsx or CSV bytes, valid ID numbers."""

from __future__ import annotations

import io
from datetime import date, timedelta

from openpyxl import Workbook

from models.idcard import check_char, compose_id_number

HEADER = [
    "姓名",
    "身份证号",
    "手机号",
    "小区",
    "楼栋",
    "单元",
    "室",
    "网格",
    "与户主关系",
    "独居",
    "行动不便",
    "备注",
]


def id_for(born: date, seq: int = 1, *, female: bool = True) -> str:
    """A valid ID number (right check digit) of a Nantong resident born that day."""
    return compose_id_number("320602", born, seq, female=female)


def wrong_check_digit(number: str) -> str:
    """The same number with its check character changed."""
    last = number[17]
    return number[:17] + ("1" if last != "1" else "2")


def feb_30(seq: int = 3) -> str:
    """A well-formed number (check digit right) whose birth date, 30 February, does not exist."""
    first17 = f"32060219460230{seq * 10 % 1000:03d}"
    return first17 + check_char(first17)


def xlsx(rows: list[list[object]], title: str | None = "虹南社区居民底册") -> bytes:
    """A workbook: an optional title line, the header, the rows; ID cells as text."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    if title:
        sheet.append([title])
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(rows: list[list[object]], encoding: str = "utf-8-sig") -> bytes:
    """A CSV file as Excel in China writes it."""
    lines = [",".join(HEADER)] + [",".join(str(c) for c in row) for row in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def png() -> bytes:
    """A small real picture (what a manager might send by mistake, named register.xlsx)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def many_rows(count: int, start: int = 0) -> list[list[object]]:
    """`count` valid rows of distinct people, three to a flat, in the demo's 乐清 buildings."""
    rows: list[list[object]] = []
    for i in range(start, start + count):
        born = date(1940, 1, 1) + timedelta(days=i // 50)
        flat = i // 3
        rows.append(
            [f"居民{'甲乙丙丁戊己庚辛壬癸'[i % 10]}{'子丑寅卯辰巳午未申酉戌亥'[i // 10 % 12]}",
             id_for(born, i % 50 + 1, female=i % 2 == 0), "", "虹桥南村", str(1 + flat % 4),
             str(1 + flat // 4 % 6), str(101 + flat // 24), "乐清网格", "", "否", "否", ""]
        )  # fmt: skip
    return rows
