"""Importing the resident register: good and bad rows, idempotence, files that are no register."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from models.db import Database
from models.errors import DomainError
from models.idcard import IdCipher
from models.register import (
    RegisterImport,
    ResidentRecord,
    find_by_id_number,
    import_register,
    record_of,
    register_rows,
    write_register,
)
from models.tables import Building, Community, Household, Person
from tests.conftest import TEST_ID_ENCRYPTION_KEY, TEST_ID_HASH_KEY, FakeClock
from tests.register_files import csv_bytes, feb_30, id_for, png, wrong_check_digit, xlsx

CIPHER = IdCipher(TEST_ID_ENCRYPTION_KEY, TEST_ID_HASH_KEY)
TODAY = date(2026, 3, 7)

GU = id_for(date(1945, 5, 1), 21)
XU = id_for(date(1950, 8, 8), 22, female=False)
HE = id_for(date(1990, 1, 9), 23)


async def _community(db: Database) -> int:
    async with db.session() as s:
        return (await s.execute(select(Community.id))).scalar_one()


async def _import(db: Database, data: bytes, clock: FakeClock, name: str = "底册.xlsx"):
    cid = await _community(db)
    return await import_register(
        db, CIPHER, community_id=cid, data=data, filename=name, now=clock(), today=TODAY,
        source="cli",
    )  # fmt: skip


async def _people(db: Database) -> int:
    async with db.session() as s:
        return (await s.execute(select(func.count()).select_from(Person))).scalar_one()


GOOD_AND_BAD = [
    ["顾桂兰", GU, "13900000011", "虹桥南村", "2", "1", "101", "乐清网格", "户主", "是", "是", ""],
    ["徐国平", XU, "0513-85551234", "虹桥南村", "9幢", "1", "201", "乐美", "户主", "", "", "卧床"],
    ["何静", HE, "", "", "", "", "", "乐清网格", "", "", "", ""],
    [
        "钱多",
        wrong_check_digit(id_for(date(1950, 1, 1), 24)),
        "",
        "",
        "",
        "",
        "",
        "乐清网格",
        "",
        "",
        "",
        "",
    ],
    ["孙二月", feb_30(), "", "", "", "", "", "乐清网格", "", "", "", ""],
    ["周边", id_for(date(1960, 2, 2), 25), "", "", "", "", "", "东方网格", "", "", "", ""],
    ["吴重", id_for(date(1955, 3, 3), 26), "", "", "", "", "", "乐清网格", "", "", "", ""],
    ["吴重复", id_for(date(1955, 3, 3), 26), "", "", "", "", "", "乐清网格", "", "", "", ""],
    ["郑楼", id_for(date(1956, 4, 4), 27), "", "虹桥南村", "2", "", "", "", "", "", "", ""],
    [
        "王错格",
        id_for(date(1957, 5, 5), 28),
        "",
        "虹桥南村",
        "5",
        "1",
        "101",
        "乐清网格",
        "",
        "",
        "",
        "",
    ],
]


async def test_good_rows_are_added_and_bad_rows_say_why(demo: Database, clock: FakeClock) -> None:
    before = await _people(demo)
    report = await _import(demo, xlsx(GOOD_AND_BAD), clock)
    by_name = {r.name: r for r in report.rows}
    assert [by_name[n].status for n in ("顾桂兰", "徐国平", "何静")] == ["added"] * 3
    reasons = {r.name: r.reason for r in report.rejected}
    assert reasons == {
        "钱多": "idcard.bad_check_digit",
        "孙二月": "idcard.bad_birth_date",
        "周边": "roster.unknown_grid",
        "吴重": "roster.duplicate",
        "吴重复": "roster.duplicate",
        "郑楼": "roster.incomplete_address",
        "王错格": "roster.other_grid",
    }
    assert by_name["吴重"].values == {"lines": "10"} and by_name["吴重"].line == 9
    assert by_name["钱多"].line == 6  # the spreadsheet's own row number (title + header above)
    assert await _people(demo) == before + 3

    cid = await _community(demo)
    async with demo.session() as s:
        gu = await find_by_id_number(s, CIPHER, cid, GU)
        assert gu is not None and gu.name == "顾桂兰" and gu.birth_date == date(1945, 5, 1)
        assert gu.verified and gu.household_id is not None
        record = await s.get(ResidentRecord, gu.id)
        assert record is not None and record.lives_alone and record.limited_mobility
        assert record.id_masked == GU[:4] + "*" * 10 + GU[-4:]
        xu = await find_by_id_number(s, CIPHER, cid, XU)
        assert xu is not None and xu.phone == "0513-85551234"
        xu_record = await s.get(ResidentRecord, xu.id)
        assert xu_record is not None and xu_record.limited_mobility  # "卧床" in the notes
        new_building = (
            await s.execute(
                select(Building).where(Building.estate == "虹桥南村", Building.number == "9")
            )
        ).scalar_one()  # created in the grid the row named
        assert new_building.grid_id == xu.grid_id
        audit = (await s.execute(select(RegisterImport))).scalar_one()
        assert (audit.added, audit.rejected, audit.source) == (3, 7, "cli")


async def test_the_same_file_twice_changes_nothing_and_a_change_is_an_update(
    demo: Database, clock: FakeClock
) -> None:
    rows = GOOD_AND_BAD[:3]
    await _import(demo, xlsx(rows), clock)
    people = await _people(demo)
    again = await _import(demo, xlsx(rows), clock)
    assert [r.status for r in again.rows] == ["unchanged"] * 3
    moved = [list(rows[0])]
    moved[0][2] = "13900000099"
    changed = await _import(demo, csv_bytes(moved), clock, "底册.csv")
    assert [r.status for r in changed.rows] == ["updated"]
    assert await _people(demo) == people
    cid = await _community(demo)
    async with demo.session() as s:
        gu = await find_by_id_number(s, CIPHER, cid, GU)
        assert gu is not None and gu.phone == "13900000099"


async def test_a_known_person_without_an_id_is_completed_not_duplicated(
    demo: Database, clock: FakeClock
) -> None:
    # 王建国 of the demo (虹桥南村2幢2单元402) is in the register with no ID number yet.
    wang = id_for(date(1959, 1, 1), 30, female=False)
    row = ["王建国", wang, "", "虹桥南村", "2", "2", "402", "", "", "", "", ""]
    before = await _people(demo)
    report = await _import(demo, xlsx([row]), clock)
    assert report.rows[0].status == "updated"
    assert await _people(demo) == before
    # His record now carries the number, encrypted with the chunk's others (encrypt_many).
    async with demo.session() as s:
        cid = (await s.execute(select(Community.id))).scalar_one()
        person = await find_by_id_number(s, CIPHER, cid, wang)
        assert person is not None and person.name == "王建国"
        record = await record_of(s, person.id)
        assert record is not None and record.id_cipher is not None
        assert CIPHER.decrypt(record.id_cipher) == wang


async def test_gbk_csv_from_excel_is_read(demo: Database, clock: FakeClock) -> None:
    report = await _import(demo, csv_bytes(GOOD_AND_BAD[:1], "gb18030"), clock, "底册.csv")
    assert report.rows[0].status == "added"


@pytest.mark.parametrize(
    "data",
    [
        png(),  # a picture named .xlsx
        b"PK\x03\x04broken zip",
        "这不是底册\n随便写点什么\n".encode(),
        b"\x00\x01\x02\x03",
    ],
    ids=["picture", "broken-xlsx", "text", "binary"],
)
async def test_a_file_that_is_no_register_changes_nothing(
    demo: Database, clock: FakeClock, data: bytes
) -> None:
    before = await _people(demo)
    with pytest.raises(DomainError) as err:
        await _import(demo, data, clock)
    assert err.value.key == "roster.not_a_register"
    assert await _people(demo) == before
    async with demo.session() as s:
        assert (await s.execute(select(func.count()).select_from(RegisterImport))).scalar_one() == 0


async def test_a_spreadsheet_without_the_register_columns_is_no_register(
    demo: Database, clock: FakeClock
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["商品", "数量", "单价"])
    sheet.append(["大米", 2, 5.5])
    out = io.BytesIO()
    book.save(out)
    with pytest.raises(DomainError) as err:
        await _import(demo, out.getvalue(), clock)
    assert err.value.key == "roster.not_a_register"


async def test_an_id_typed_as_a_number_in_excel_is_rejected(
    demo: Database, clock: FakeClock
) -> None:
    row: list[object] = [
        "顾桂兰",
        float(GU[:17] + "0"),
        "",
        "",
        "",
        "",
        "",
        "乐清网格",
        "",
        "",
        "",
        "",
    ]
    report = await _import(demo, xlsx([row]), clock)
    assert report.rows[0].reason == "roster.id_as_number"


async def test_export_gives_the_same_format_back(demo: Database, clock: FakeClock) -> None:
    await _import(demo, xlsx(GOOD_AND_BAD[:3]), clock)
    cid = await _community(demo)
    async with demo.session() as s:
        rows = await register_rows(s, CIPHER, cid)
    data = write_register(rows, "out.xlsx")
    sheet = load_workbook(io.BytesIO(data)).worksheets[0]
    values = [[c or "" for c in r] for r in sheet.iter_rows(values_only=True)]
    assert values[0][:2] == ["姓名", "身份证号"]
    assert {r[1] for r in values[1:]} == {GU, XU, HE}
    again = await _import(demo, data, clock, "out.xlsx")
    assert {r.status for r in again.rows} == {"unchanged"}
    again_csv = await _import(demo, write_register(rows, "out.csv"), clock, "out.csv")
    assert {r.status for r in again_csv.rows} == {"unchanged"}
    async with demo.session() as s:
        assert (await s.execute(select(func.count()).select_from(Household))).scalar_one() > 0


async def test_an_empty_name_says_the_name_is_missing(demo: Database, clock: FakeClock) -> None:
    rows = [
        ["", GU, "", "", "", "", "", "乐清网格", "", "", "", ""],
        ["王2", XU, "", "", "", "", "", "乐清网格", "", "", "", ""],
    ]
    report = await _import(demo, xlsx(rows), clock)
    assert [r.reason for r in report.rows] == ["roster.no_name", "roster.bad_name"]
    from bot.i18n import translate

    assert translate("zh", "roster.no_name") == "姓名为空"


async def test_a_row_without_address_cannot_move_someone_out_of_her_building_grid(
    demo: Database, clock: FakeClock
) -> None:
    # 顾桂兰 lives in 虹桥南村2幢 (乐清); a later file names only a grid, 乐美: that would put
    # her in a grid her home is not in, so the row is refused, saying why.
    await _import(demo, xlsx(GOOD_AND_BAD[:1]), clock)
    moved = [["顾桂兰", GU, "", "", "", "", "", "乐美网格", "", "", "", ""]]
    report = await _import(demo, xlsx(moved), clock)
    assert report.rows[0].reason == "roster.home_in_other_grid"
    assert report.rows[0].values == {"grid": "乐清网格", "estate": "虹桥南村", "number": "2"}
    same = [["顾桂兰", GU, "", "", "", "", "", "乐清", "户主", "是", "是", ""]]
    assert (await _import(demo, xlsx(same), clock)).rows[0].status == "unchanged"


async def test_the_demo_people_live_in_the_grid_of_their_building(demo: Database) -> None:
    async with demo.session() as s:
        rows = (
            await s.execute(
                select(Person.name, Person.grid_id, Household.grid_id, Building.grid_id)
                .join(Household, Household.id == Person.household_id)
                .join(Building, Building.id == Household.building_id)
            )
        ).all()
    assert rows and all(p == h == b for _, p, h, b in rows), rows
    assert "刘芳" in {r[0] for r in rows}


async def test_statements_per_chunk_do_not_grow_with_the_rows(
    demo: Database, clock: FakeClock
) -> None:
    from sqlalchemy import event

    from tests.register_files import many_rows

    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(demo.engine.sync_engine, "before_cursor_execute", count)
    try:
        cid = await _community(demo)
        per_size = []
        for start, size in ((0, 200), (200, 1200)):
            statements.clear()
            await import_register(
                demo, CIPHER, community_id=cid, data=xlsx(many_rows(size, start)),
                filename="x.xlsx", now=clock(), today=TODAY, chunk_rows=200,
            )  # fmt: skip
            per_size.append(len(statements))
    finally:
        event.remove(demo.engine.sync_engine, "before_cursor_execute", count)
    # A fixed handful a chunk (households, lookup, bulk writes), never one per row.
    one_chunk, six_chunks = per_size
    assert one_chunk < 25 and six_chunks <= 6 * one_chunk, per_size


def _grid_row(name: str, number: str) -> list[object]:
    return [name, number, "", "", "", "", "", "乐清网格", "", "", "", ""]


async def test_rows_sharing_an_id_in_different_chunks_are_all_rejected(
    demo: Database, clock: FakeClock
) -> None:
    """The rows are checked and written two at a time; twins far apart are still caught."""
    twin, triple, lone = (id_for(date(1950, 1, 1), n) for n in (31, 32, 33))
    rows = [
        _grid_row("甲一", twin),  # line 3
        _grid_row("乙", id_for(date(1951, 1, 1), 34)),
        _grid_row("丙一", triple),
        _grid_row("丁", id_for(date(1952, 1, 1), 35)),
        _grid_row("", lone),  # line 7: no name, so rejected; its number's twin stands alone
        _grid_row("甲二", twin),
        _grid_row("丙二", triple),
        _grid_row("戊", lone),  # line 10
        _grid_row("丙三", triple),
    ]
    before = await _people(demo)
    cid = await _community(demo)
    report = await import_register(
        demo, CIPHER, community_id=cid, data=xlsx(rows), filename="x.xlsx", now=clock(),
        today=TODAY, chunk_rows=2,
    )  # fmt: skip
    outcome = {r.line: (r.status, r.reason, r.values.get("lines")) for r in report.rows}
    assert outcome == {
        3: ("rejected", "roster.duplicate", "8"),
        4: ("added", None, None),
        5: ("rejected", "roster.duplicate", "9、11"),
        6: ("added", None, None),
        7: ("rejected", "roster.no_name", None),
        8: ("rejected", "roster.duplicate", "3"),
        9: ("rejected", "roster.duplicate", "5、11"),
        10: ("added", None, None),
        11: ("rejected", "roster.duplicate", "5、9"),
    }
    assert await _people(demo) == before + 3
    async with demo.session() as s:
        assert await find_by_id_number(s, CIPHER, cid, twin) is None
        assert await find_by_id_number(s, CIPHER, cid, triple) is None
        lone_person = await find_by_id_number(s, CIPHER, cid, lone)
        assert lone_person is not None and lone_person.name == "戊"


async def test_a_chunk_that_fails_keeps_the_chunks_before_and_a_second_import_completes(
    demo: Database, clock: FakeClock
) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    from tests.register_files import many_rows

    cid = await _community(demo)
    data = xlsx(many_rows(50))
    before = await _people(demo)

    async def fail_on_the_third(session: AsyncSession, done: int, total: int) -> None:
        if done == 30:
            raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError, match="went away"):
        await import_register(
            demo, CIPHER, community_id=cid, data=data, filename="x.xlsx", now=clock(),
            today=TODAY, chunk_rows=10, on_chunk=fail_on_the_third,
        )  # fmt: skip
    assert await _people(demo) == before + 20  # two chunks committed, the third rolled back
    again = await _import(demo, data, clock)
    assert (again.count("unchanged"), again.count("added")) == (20, 30)
    assert await _people(demo) == before + 50


async def test_a_flat_registered_by_someone_else_during_the_import_is_the_one_used(
    demo: Database, clock: FakeClock
) -> None:
    """Between two chunks someone registers a flat that the second chunk's rows live in:
    the import leaves its own insert of that flat out and puts the people in that one."""
    from tests.register_files import many_rows

    cid = await _community(demo)
    theirs: list[int] = []

    async def someone_registers_a_flat(done: int, total: int) -> None:
        if done != 10:
            return
        async with demo.session() as s:
            building = (
                await s.execute(
                    select(Building).where(Building.estate == "虹桥南村", Building.number == "1")
                )
            ).scalar_one()
            flat = Household(
                grid_id=building.grid_id, building_id=building.id, unit="2", room="101"
            )
            s.add(flat)
            await s.flush()
            assert flat.id is not None
            theirs.append(flat.id)

    rows = many_rows(20)  # rows 13-15 of the file (the 13th to 15th people): 1幢 2单元 101
    report = await import_register(
        demo, CIPHER, community_id=cid, data=xlsx(rows), filename="x.xlsx", now=clock(),
        today=TODAY, chunk_rows=10, committed=someone_registers_a_flat,
    )  # fmt: skip
    assert report.count("added") == 20 and theirs
    async with demo.session() as s:
        for row in rows[12:15]:
            person = await find_by_id_number(s, CIPHER, cid, str(row[1]))
            assert person is not None and person.household_id == theirs[0], row[0]
        flats = (
            await s.execute(
                select(func.count())
                .select_from(Household)
                .where(Household.unit == "2", Household.room == "101")
                .join(Building, Building.id == Household.building_id)
                .where(Building.estate == "虹桥南村", Building.number == "1")
            )
        ).scalar_one()
        assert flats == 1


@pytest.mark.parametrize("kind", ["shared-strings", "write-only", "sparse"])
def test_the_xlsx_reader_reads_what_openpyxl_reads(kind: str) -> None:
    from openpyxl import Workbook
    from openpyxl.cell.rich_text import CellRichText, TextBlock
    from openpyxl.cell.text import InlineFont

    from models.register.xlsx import xlsx_rows

    book = Workbook(write_only=kind == "write-only")
    sheet = book.create_sheet() if kind == "write-only" else book.active
    assert sheet is not None
    sheet.append(["虹南 & <底册>", None, "  spaces  "])
    sheet.append([])
    sheet.append(["姓名", "身份证号", 3.5, -2, True, False, 13900000011, "a\nb"])
    if kind == "sparse":
        sheet["F9"] = "far"
        sheet["A12"] = CellRichText(["顾", TextBlock(InlineFont(b=True), "桂兰")])
    out = io.BytesIO()
    book.save(out)
    data = out.getvalue()

    def trimmed(rows: Iterable[tuple[int, Iterable[object]]]) -> list[tuple[int, list[object]]]:
        result = []
        for number, row in rows:
            values = [str(v) if v.__class__.__name__ == "CellRichText" else v for v in row]
            while values and values[-1] is None:
                values.pop()
            if values:
                result.append((number, values))
        return result

    expected = trimmed(
        enumerate(load_workbook(io.BytesIO(data), read_only=True).worksheets[0].iter_rows(
            values_only=True), 1)
    )  # fmt: skip
    assert trimmed(xlsx_rows(data)) == expected


def test_the_xlsx_reader_takes_cells_in_any_form_a_spreadsheet_writes() -> None:
    """The fast forms (Excel's attribute order) and the general ones: other orders, namespace
    prefixes, formulas, rich text and phonetic guides, self-closing rows and cells."""
    import zipfile

    from models.register.xlsx import MAIN, PKG_REL, REL, xlsx_rows

    sheet = (
        f'<x:worksheet xmlns:x="{MAIN}"><x:sheetData>'
        '<x:row r="1"><x:c t="s" r="B1"><x:v>0</x:v></x:c><x:c r="A1" t="inlineStr">'
        "<x:is><x:t>甲 &amp; 乙</x:t></x:is></x:c></x:row>"
        f"</x:sheetData></x:worksheet>"
    )
    plain = (
        f'<worksheet xmlns="{MAIN}"><sheetData>'
        '<row r="2" spans="1:4"><c r="A2" s="3" t="s"><v>1</v></c><c r="B2" s="2"><v>42</v></c>'
        '<c r="C2" t="str"><f>A2&amp;"x"</f><v>顾x</v></c><c r="D2" s="1"/><c r="E2" t="b"><v>1</v></c>'
        '<c t="inlineStr" r="F2"><is><r><t>桂</t></r><r><t>兰</t></r><rPh><t>gui</t></rPh></is></c>'
        '</row><row r="4"/><row r="5" ht="15" customHeight="1"><c r="AB5"><v>-2.5</v></c></row>'
        "</sheetData></worksheet>"
    )
    shared = f'<sst xmlns="{MAIN}"><si><t>第二列</t></si><si><r><t>顾</t></r><r><t>桂兰</t></r></si></sst>'
    expected = {
        "prefixed": [(1, ["甲 & 乙", "第二列"])],
        "plain": [
            (2, ["顾桂兰", 42, "顾x", None, True, "桂兰"]),
            (4, []),
            (5, [None] * 27 + [-2.5]),
        ],
    }
    for kind, xml in (("prefixed", sheet), ("plain", plain)):
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as z:
            z.writestr(
                "xl/workbook.xml",
                f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
                '<sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>',
            )
            z.writestr(
                "xl/_rels/workbook.xml.rels",
                f'<Relationships xmlns="{PKG_REL}"><Relationship Id="rId1" '
                'Target="worksheets/sheet1.xml" Type="x"/></Relationships>',
            )
            z.writestr("xl/sharedStrings.xml", shared)
            z.writestr("xl/worksheets/sheet1.xml", xml)
        assert list(xlsx_rows(out.getvalue())) == expected[kind], kind
