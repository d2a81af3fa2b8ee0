"""The one-hop aiosqlite cursor (models/sqlite_driver.py) answers as SQLAlchemy's own did."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from models.db import Database


async def test_rows_counts_ids_and_errors_come_back_as_before(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path}/driver.db")
    try:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
            inserted = await conn.execute(text("INSERT INTO t (name) VALUES ('王芳')"))
            assert inserted.lastrowid == 1
            await conn.execute(
                text("INSERT INTO t (name) VALUES (:n)"), [{"n": "李明"}, {"n": "张伟"}]
            )
            changed = await conn.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
            assert changed.rowcount == 2
            returned = await conn.execute(
                text("INSERT INTO t (name) VALUES ('赵丽') ON CONFLICT DO NOTHING RETURNING id")
            )
            assert returned.scalars().all() == [4]
            rows = (await conn.execute(text("SELECT id, name FROM t ORDER BY id"))).all()
            assert [tuple(r) for r in rows] == [
                (1, "王芳"),
                (2, "李明!"),
                (3, "张伟!"),
                (4, "赵丽"),
            ]
            streamed = await conn.stream(text("SELECT name FROM t ORDER BY id"))
            assert [r[0] async for r in streamed] == ["王芳", "李明!", "张伟!", "赵丽"]
        with pytest.raises(IntegrityError):
            async with db.engine.begin() as conn:
                await conn.execute(text("INSERT INTO t (name) VALUES ('王芳')"))
        async with db.engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one()
        assert count == 4  # the failed transaction rolled back, the rest stayed
    finally:
        await db.dispose()
