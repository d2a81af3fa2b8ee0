"""`linli import residents FILE` in a terminal: the report as text, a long list also as a file.

The command runs in-process through `bot.cli.main` on a SQLite file of the test's own with the
demo community; the list of rejected rows is the same workbook the chat sends.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot import cli
from models.db import Database, utcnow
from models.demo import seed_demo
from models.idcard import IdCipher
from models.migrations import upgrade
from tests.conftest import TEST_ID_ENCRYPTION_KEY, TEST_ID_HASH_KEY
from tests.register_files import many_rows, wrong_check_digit, xlsx


@pytest.fixture
def office(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a demo database and the keys set, as an office's machine would have."""
    url = f"sqlite:///{tmp_path / 'linli.db'}"
    upgrade(url)

    async def seed() -> None:
        db = Database(url)
        try:
            async with db.session() as s:
                await seed_demo(s, utcnow(), IdCipher(TEST_ID_ENCRYPTION_KEY, TEST_ID_HASH_KEY))
        finally:
            await db.dispose()

    asyncio.run(seed())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ID_ENCRYPTION_KEYS", TEST_ID_ENCRYPTION_KEY)
    monkeypatch.setenv("ID_HASH_KEY", TEST_ID_HASH_KEY)
    return tmp_path


def import_residents(capsys: pytest.CaptureFixture[str], file: str) -> str:
    with pytest.raises(SystemExit) as ended:
        cli.main(["import", "residents", file])
    out = capsys.readouterr()
    assert ended.value.code in (0, None), out.err
    return out.out


def test_a_register_with_many_bad_rows_gets_the_whole_list_as_a_file(
    office: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = many_rows(60)
    for row in rows[::2]:  # 30 rows with a wrong check digit: more than a chat message lists
        row[1] = wrong_check_digit(str(row[1]))
    (office / "街道底册.xlsx").write_bytes(xlsx(rows))

    out = import_residents(capsys, "街道底册.xlsx")

    assert "新增 30 人" in out and "未导入 30 行" in out
    assert "……另有 10 行未导入。" in out  # the first 20 in the text, as in the chat
    listed = office / "未导入的行-1.xlsx"
    assert f"未导入的行已全部写入文件：{listed}" in out
    sheet = load_workbook(io.BytesIO(listed.read_bytes()), read_only=True).worksheets[0]
    table = [[c for c in row] for row in sheet.iter_rows(values_only=True)]
    assert table[0] == ["行号", "姓名", "身份证号", "栏目", "原因"]
    assert [r[0] for r in table[1:]] == [str(3 + 2 * i) for i in range(30)]  # title, header
    assert {r[3] for r in table[1:]} == {"身份证号"}
    raw = {str(row[1]) for row in rows[::2]}
    assert not raw & {str(r[2]) for r in table[1:]}  # masked IDs only


def test_a_short_report_is_text_only(office: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = many_rows(5)
    rows[0][1] = wrong_check_digit(str(rows[0][1]))
    (office / "底册.xlsx").write_bytes(xlsx(rows))

    out = import_residents(capsys, "底册.xlsx")

    assert "新增 4 人" in out and "未导入 1 行" in out and "第3行" in out
    assert "写入文件" not in out
    assert sorted(p.name for p in office.iterdir() if p.suffix == ".xlsx") == ["底册.xlsx"]
