"""Fixtures: a migrated database per run, emptied after every test; an injected clock; the bot."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel
from telegram.ext import Application

from bot.app import Linli
from bot.channels.telegram_channel import build_application
from bot.config import Settings
from models import load_all
from models.db import Database
from models.demo import seed_demo
from models.migrations import upgrade
from tests.chat import chat_fixture  # noqa: F401  (the cross-channel `chat` fixture, every module)
from tests.fakes.telegram import TOKEN, FakeBotApi, RecordingRequest

load_all()  # every table on the metadata (emptied after each test), without a hand-kept list

WEBHOOK_SECRET = "s3cret-token_for-tests"
# Test-only ID-number keys (models/idcard.py); real ones come from `linli keys new`.
TEST_ID_ENCRYPTION_KEY = "xrmwKexO7SrIzIIDyHhK-A_hc8LH23zkGvlh2qCRbvA="
TEST_ID_HASH_KEY = "lXepVR_KfIwMe8cRcojt_fwn6adsFaG-np0UroG2Q6w="


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DATABASE_URL when it is set (CI runs PostgreSQL this way), else a SQLite file; migrated."""
    url = (
        os.environ.get("DATABASE_URL") or f"sqlite:///{tmp_path_factory.mktemp('db') / 'linli.db'}"
    )
    upgrade(url)
    yield url


@dataclass
class FakeClock:
    """A clock tests move by hand."""

    now: datetime = datetime(2026, 3, 7, 2, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def _empty(db: Database) -> None:
    tables = [t.name for t in reversed(SQLModel.metadata.sorted_tables)]
    async with db.session() as s:
        if db.is_sqlite:
            for name in tables:
                await s.execute(text(f'DELETE FROM "{name}"'))
        else:
            await s.execute(
                text(
                    "TRUNCATE " + ", ".join(f'"{n}"' for n in tables) + " RESTART IDENTITY CASCADE"
                )
            )


async def _count_rows(db: Database) -> int:
    total = 0
    async with db.session() as s:
        for t in SQLModel.metadata.sorted_tables:
            total += (await s.execute(text(f'SELECT COUNT(*) FROM "{t.name}"'))).scalar_one()
    return total


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The migrated database, empty at the start of the test and emptied again after it."""
    database = Database(database_url)
    assert await _count_rows(database) == 0, "an earlier test left rows behind"
    try:
        yield database
    finally:
        await _empty(database)
        await database.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        media_store=str(tmp_path / "media"),
        telegram_token=TOKEN,
        telegram_api_base_url="https://api.telegram.invalid/bot",
        telegram_webhook_secret=WEBHOOK_SECRET,
        telegram_bot_username="linli_test_bot",
        id_encryption_keys=TEST_ID_ENCRYPTION_KEY,
        id_hash_key=TEST_ID_HASH_KEY,
        files_dir=str(tmp_path / "files"),
    )


@pytest.fixture
async def demo(db: Database, clock: FakeClock) -> Database:
    """The demo community loaded."""
    async with db.session() as s:
        assert await seed_demo(s, clock())
    return db


@pytest.fixture
def linli(settings: Settings, db: Database, clock: FakeClock) -> Linli:
    return Linli(settings, db=db, clock=clock)


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture
def api() -> FakeBotApi:
    return FakeBotApi()


@pytest.fixture
async def telegram(
    settings: Settings, demo: Database, clock: FakeClock, api: FakeBotApi
) -> AsyncIterator[Callable[[], Awaitable[Application]]]:
    """Builds (and later shuts down) Telegram applications over one database: a 'restart' is a new one."""
    apps: list[Application] = []  # type: ignore[type-arg]

    async def make() -> Application:  # type: ignore[type-arg]
        linli = Linli(settings, db=demo, clock=clock)
        app = build_application(linli, settings, request=RecordingRequest(api), with_updater=False)
        await app.initialize()
        apps.append(app)
        return app

    yield make
    for app in apps:
        await app.shutdown()
