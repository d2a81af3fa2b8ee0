"""Managers without code: rest stations from a .csv / .xlsx file and a session series from the
command line (`linli import stations`, `linli sessions add`), through the real CLI."""

from __future__ import annotations

import io
import re
from pathlib import Path
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlmodel import col

from models.booking_demo import seed_demo_bookings
from models.bookings import ServicePoint
from models.db import Database, utcnow
from models.signups import Slot
from models.stations import RestStation
from models.tables import Team
from tests.test_console import run

HEADER = ["编号", "名称", "地址", "纬度", "经度", "开放时间", "设施", "电话", "管理团队"]
ROWS = [
    ["hq-library", "小蜜蜂驿站（虹桥图书馆）", "虹桥图书馆一楼", "28.1390", "120.9650",
     "8:00-21:00", "饮水、充电、书报", "", "图书馆志愿队"],
    ["bad", "坏行", "", "abc", "120", "24小时", "饮水", "", ""],
    ["no-such", "设施不对", "某地", "28.1", "120.9", "24小时", "桑拿", "", ""],
]  # fmt: skip


def _csv(rows: list[list[str]]) -> str:
    return "\n".join(",".join(r) for r in [HEADER, *rows]) + "\n"


async def test_stations_from_a_csv_and_an_xlsx_file(
    demo: Database, database_url: str, project_root: Path, tmp_path: Path
) -> None:
    path = tmp_path / "stations.csv"
    path.write_text(_csv(ROWS), encoding="utf-8-sig")
    result = run(["import", "stations", str(path)], "", database_url, project_root)
    assert result.returncode == 0, result.stderr
    assert "新增 1，更新 0，未导入 2" in result.stdout
    assert (
        "第 3 行" in result.stdout
        and "第 4 行" in result.stdout
        and "没有这种设施" in result.stdout
    )
    again = run(["import", "stations", str(path)], "", database_url, project_root)
    assert "新增 0，更新 1，未导入 2" in again.stdout  # the same file again changes nothing new

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [HEADER, ["wanda-gate3", "小蜜蜂能量补给站（万达广场3号门）", "万达广场3号门东侧",
                         28.1466, 120.9808, "24小时", "饮水,微波炉,toilet", "", ""]]:  # fmt: skip
        sheet.append(row)
    data = io.BytesIO()
    book.save(data)
    xlsx = tmp_path / "stations.xlsx"
    xlsx.write_bytes(data.getvalue())
    result = run(["import", "stations", str(xlsx)], "", database_url, project_root)
    assert result.returncode == 0, result.stderr
    assert "新增 1" in result.stdout
    async with demo.session() as s:
        library = (
            await s.execute(select(RestStation).where(col(RestStation.key) == "hq-library"))
        ).scalar_one()
        assert not library.open_24h and f"{library.opens:%H:%M}" == "08:00"
        assert library.facilities == ["water", "charger", "books"]
        team = await s.get(Team, library.team_id)
        assert team is not None and team.name == "图书馆志愿队"
        wanda = (
            await s.execute(select(RestStation).where(col(RestStation.key) == "wanda-gate3"))
        ).scalar_one()
        assert wanda.open_24h and wanda.facilities == ["water", "microwave", "toilet"]
        assert (await s.execute(select(func.count()).select_from(RestStation))).scalar_one() == 2


async def test_a_session_series_from_the_command_line(
    demo: Database, database_url: str, project_root: Path
) -> None:
    async with demo.session() as s:
        await seed_demo_bookings(s, utcnow())
    series = "每周日 9:00–10:00，每 30 分钟一场，每场 2 人"
    result = run(["sessions", "add", "haircut", series], "", database_url, project_root)
    assert result.returncode == 0, result.stderr
    made = re.search(r"志愿理发：新增 (\d+) 场", result.stdout)
    assert made is not None and int(made.group(1)) >= 4  # Sundays within the 14 days ahead
    async with demo.session() as s:
        point = (
            await s.execute(select(ServicePoint).where(col(ServicePoint.key) == "haircut"))
        ).scalar_one()
        sundays = (
            await s.execute(
                select(Slot).where(col(Slot.owner_id) == point.id, col(Slot.capacity) == 2)
            )
        ).scalars()
        shanghai = ZoneInfo("Asia/Shanghai")
        on_sundays = [x for x in sundays if x.starts_at.astimezone(shanghai).weekday() == 6]
        assert len(on_sundays) == int(made.group(1))
    wrong = run(["sessions", "add", "nothing", series], "", database_url, project_root)
    assert wrong.returncode != 0 and "没有这个服务点" in wrong.stderr + wrong.stdout
    bad = run(["sessions", "add", "haircut", "每周日"], "", database_url, project_root)
    assert bad.returncode != 0 and "没看懂时间安排" in bad.stderr + bad.stdout
