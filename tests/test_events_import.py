"""Events from a file: `linli import events FILE --as 刘芳` (the real CLI on a .csv) and the same
use case on an .xlsx: one report line per row, a bad row changes nothing, a second import of the
same file creates nothing."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import func, select
from sqlmodel import col

from models.db import Database
from models.event_import import import_events
from models.events import Event, EventDuty
from models.signups import Slot
from models.tables import Person
from tests.conftest import FakeClock
from tests.test_console import run

CSV = """标题,类型,开始,结束,地点,名额,对象,可带人数,志愿者岗位
学雷锋便民摊位,活动,2030-03-05 09:00,11:30,社区广场,40,全体居民,0,布置场地×2；引导×2
童心向阳 亲子读书会,活动,2030-03-14 14:00,2030-03-14 16:00,社区图书室,12,有孩子的家庭,1,
环保徒步,活动,明天上午,12:00,狼山,20,全体居民,0,
舞蹈队进敬老院,活动,2030-03-20 09:00,08:00,敬老院,10,志愿者,0,2
议事协商会：垃圾分类点位,议事协商会,2030-03-21 19:00,20:30,社区议事厅,15,,,
"""


async def _events(db: Database) -> dict[str, tuple[int, int, str, int]]:
    async with db.session() as s:
        rows = await s.execute(
            select(Event.title, Event.kind, Slot.capacity, Slot.max_party, Event.audience).join(
                Slot, col(Slot.id) == Event.slot_id
            )
        )
        return {t: (cap, party, aud, 1 if k == "meeting" else 0) for t, k, cap, party, aud in rows}


async def test_the_cli_imports_a_csv_with_a_report_per_row(
    demo: Database, database_url: str, project_root: Path, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(CSV, encoding="utf-8")
    first = run(["import", "events", str(path), "--as", "刘芳"], "", database_url, project_root)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "第 2 行：✅ 已创建 学雷锋便民摊位（2030-03-05 09:00，40 个名额，4 个志愿者岗位）" in out
    assert "第 3 行：✅ 已创建 童心向阳 亲子读书会" in out
    assert "第 4 行：时间看不懂：明天上午" in out
    assert "第 5 行：时间不对：结束要晚于开始。" in out
    assert "第 6 行：✅ 已创建 议事协商会：垃圾分类点位" in out
    assert "新建 3，已存在 0，出错 2" in out
    made = await _events(demo)
    assert made == {
        "学雷锋便民摊位": (40, 1, "all", 0),
        "童心向阳 亲子读书会": (12, 2, "families", 0),
        "议事协商会：垃圾分类点位": (15, 1, "all", 1),
    }
    async with demo.session() as s:
        duties = (
            await s.execute(select(EventDuty.title, func.count()).group_by(EventDuty.title))
        ).all()
    assert dict(duties) == {"布置场地": 2, "引导": 2}

    again = run(["import", "events", str(path), "--as", "刘芳"], "", database_url, project_root)
    assert again.returncode == 0, again.stderr
    assert "第 2 行：⏭ 已经有了：学雷锋便民摊位" in again.stdout
    assert "新建 0，已存在 3，出错 2" in again.stdout
    assert await _events(demo) == made

    resident = run(
        ["import", "events", str(path), "--as", "王建国"], "", database_url, project_root
    )
    assert resident.returncode != 0 and "没有权限" in resident.stderr
    assert await _events(demo) == made


async def test_an_xlsx_with_spreadsheet_times(demo: Database, clock: FakeClock) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["title", "start", "end", "place", "capacity", "audience", "duties"])
    sheet.append(["Lei Feng day stalls", datetime(2026, 3, 5, 9), datetime(2026, 3, 5, 11, 30),
                  "Square", 30, "volunteers", 4])  # fmt: skip
    sheet.append(["", datetime(2026, 3, 6, 9), "10:00", "Hall", 5, "", ""])
    data = io.BytesIO()
    book.save(data)
    async with demo.session() as s:
        liu = (await s.execute(select(Person.id).where(col(Person.name) == "刘芳"))).scalar_one()
    clock.now = datetime(2026, 3, 1, 2, 0, tzinfo=clock.now.tzinfo)
    report = await import_events(
        demo, organiser_id=liu, data=data.getvalue(), filename="events.xlsx", now=clock()
    )
    assert [(r.row, r.status, r.key) for r in report.rows] == [
        (2, "created", "events.import_created"),
        (3, "error", "events.import_missing"),
    ]
    assert report.rows[0].values["when"] == "2026-03-05 09:00"  # the community's time
    assert await _events(demo) == {"Lei Feng day stalls": (30, 1, "volunteers", 0)}
