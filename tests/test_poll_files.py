"""A poll from a file: `linli import poll` reads a two-column .csv or .xlsx (name, value) and opens
the poll; a file that describes none is refused with the line, and nothing is written."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select
from sqlmodel import col
from typer.testing import CliRunner

from models.db import Database
from models.errors import DomainError
from models.people import community_zone
from models.poll_files import read_poll_file
from models.polls import Poll, PollOption
from models.tables import Grid
from tests.conftest import FakeClock

CSV = """问题,虹桥南村外墙改造，选哪一款设计？
选项,方案一 青瓦白墙
选项,方案二 暖色彩绘
选项,方案三 简约灰
截止,7 天
对象,乐清网格
小区,虹桥南村
每户一票,是
匿名,否
提醒,是
"""


async def _read(db: Database, data: bytes, clock: FakeClock):  # type: ignore[no-untyped-def]
    async with db.session() as s:
        grid = (await s.execute(select(Grid).where(col(Grid.name) == "乐清网格"))).scalar_one()
        return grid.id, await read_poll_file(
            s, data, grid.community_id, clock(), await community_zone(s, grid.community_id)
        )


async def test_a_csv_and_an_xlsx_describe_the_same_poll(demo: Database, clock: FakeClock) -> None:
    grid, from_csv = await _read(demo, CSV.encode("gb18030"), clock)
    assert from_csv.question == "虹桥南村外墙改造，选哪一款设计？"
    assert [label for label, _ in from_csv.options] == ["方案一 青瓦白墙", "方案二 暖色彩绘",
                                                        "方案三 简约灰"]  # fmt: skip
    assert from_csv.grid_id == grid and from_csv.estate == "虹桥南村"
    assert from_csv.per_household and not from_csv.anonymous and from_csv.remind
    assert from_csv.closes_at - clock() == timedelta(days=7)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for line in CSV.strip().splitlines():
        sheet.append(line.split(","))
    out = io.BytesIO()
    book.save(out)
    _grid, from_xlsx = await _read(demo, out.getvalue(), clock)
    assert from_xlsx == from_csv


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("问题,只有问题\n截止,3 天\n颜色,红\n", "pollfile.unknown_name"),
        ("选项,甲\n选项,乙\n截止,3 天\n", "pollfile.no_question"),
        ("问题,没有截止\n选项,甲\n选项,乙\n", "pollfile.no_deadline"),
        ("问题,坏日期\n截止,下周\n", "pollfile.bad_value"),
        ("问题,坏网格\n截止,3 天\n对象,火星网格\n", "pollfile.bad_value"),
    ],
)
async def test_a_file_that_describes_no_poll_is_refused(
    demo: Database, clock: FakeClock, text: str, key: str
) -> None:
    with pytest.raises(DomainError) as err:
        await _read(demo, text.encode(), clock)
    assert err.value.key == key


def test_linli_import_poll_opens_it(
    demo: Database, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from bot import cli

    path = tmp_path / "外墙投票.csv"
    path.write_text(CSV, encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli.app, ["import", "poll", str(path)])
    assert result.exit_code == 0, result.output
    assert "已发起：虹桥南村外墙改造" in result.output
    bad = tmp_path / "坏.csv"
    bad.write_text("问题,一个选项\n选项,甲\n截止,3 天\n", encoding="utf-8")
    refused = CliRunner().invoke(cli.app, ["import", "poll", str(bad)])
    assert refused.exit_code != 0 and "2 到 9 个选项" in f"{refused.exception} {refused.output}"

    async def count() -> tuple[int, int]:
        db = Database(database_url)  # this loop's own engine (the fixture's is another loop's)
        try:
            async with db.session() as s:
                polls = (await s.execute(select(func.count()).select_from(Poll))).scalar_one()
                options = (
                    await s.execute(select(func.count()).select_from(PollOption))
                ).scalar_one()
                return int(polls), int(options)
        finally:
            await db.dispose()

    assert asyncio.run(count()) == (1, 3)
    out = tmp_path / "结果.xlsx"
    exported = CliRunner().invoke(cli.app, ["export", "poll", "1", str(out)])
    assert exported.exit_code == 0, exported.output
    assert out.read_bytes()[:2] == b"PK"
