"""A wrong set-up gets one sentence and exit status 2, never a traceback; `linli doctor` (issue 16).

The commands run in-process through `bot.cli.main` (what the `linli` script calls), from an
empty folder (no `.env`) with none of Linli's settings in the environment but those a test
sets; one runs as a real process to show that no traceback reaches the terminal. Databases are
SQLite files of the test's own; Telegram is the fake Bot API on a real local socket.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
import uvicorn

from bot import cli
from bot.config import Settings
from bot.doctor import FIX, OFF, READY, code_revisions, require_database, run_doctor
from models.db import Database, utcnow
from models.demo import seed_demo
from models.idcard import IdCipher, new_keys
from models.migrations import upgrade
from tests.conftest import TEST_ID_ENCRYPTION_KEY, TEST_ID_HASH_KEY
from tests.fakes.telegram import TOKEN, FakeBotApi, RecordingRequest
from tests.fakes.telegram_server import FakeTelegramServer
from tests.fakes.wechat_server import APP_ID, APP_SECRET, FakeWeChatServer
from tests.test_readme_commands import clean_env, fresh_copy, make_demo_data

ROOT = Path(__file__).resolve().parent.parent
HEAD = ", ".join(code_revisions("sqlite://")[0])
SETTING_NAMES = [name.upper() for name in Settings.model_fields]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working folder (no .env) and an environment without Linli's settings."""
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def linli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `linli ARGS` in-process: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as ended:
        cli.main(list(args))
    out = capsys.readouterr()
    code = ended.value.code
    return (code if isinstance(code, int) else 1), out.out, out.err


def one_sentence(err: str) -> str:
    """The error output, checked to be exactly one line and no traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def migrated(path: Path, revision: str = "head") -> str:
    url = f"sqlite:///{path}"
    upgrade(url, revision)
    return url


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite file with the demo community, its ID numbers under the test keys."""
    url = migrated(tmp_path_factory.mktemp("demo") / "demo.db")

    async def seed() -> None:
        db = Database(url)
        try:
            async with db.session() as s:
                await seed_demo(s, utcnow(), IdCipher(TEST_ID_ENCRYPTION_KEY, TEST_ID_HASH_KEY))
        finally:
            await db.dispose()

    asyncio.run(seed())
    return url


# ---- the database ----------------------------------------------------------------------------


def test_a_missing_database_file_is_one_sentence_and_is_not_created(here: Path, capsys) -> None:
    code, _, err = linli(capsys, "jobs", "run", "eligibility")
    assert code == 2
    line = one_sentence(err)
    assert line.startswith("数据库还没有初始化")
    assert "linli.db" in line and "run linli db upgrade" in line
    assert not (here / "linli.db").exists()


def test_a_database_never_migrated_is_one_sentence(here: Path, capsys) -> None:
    sqlite3.connect(here / "linli.db").close()  # an empty file: what a first connect leaves
    for command in (["console"], ["seed", "demo"], ["jobs", "run", "eligibility"]):
        code, _, err = linli(capsys, *command)
        assert code == 2, command
        assert one_sentence(err) == (
            "数据库还没有初始化：请先运行 linli db upgrade"
            " / the database is not set up yet: run linli db upgrade first"
        )


def test_an_older_revision_names_both_and_the_fix_and_upgrading_fixes_it(
    here: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", migrated(here / "old.db", "0003"))
    code, _, err = linli(capsys, "seed", "demo")
    assert code == 2
    assert one_sentence(err) == (
        f"数据库在版本 0003，代码需要 {HEAD}：请运行 linli db upgrade"
        f" / the database is at revision 0003, the code needs {HEAD}: run linli db upgrade"
    )
    assert linli(capsys, "db", "upgrade")[0] == 0
    code, out, err = linli(capsys, "seed", "demo")
    assert code == 0, err
    assert "demo community loaded" in out


def test_a_revision_the_code_does_not_know_says_update_the_code(
    here: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = migrated(here / "newer.db")
    with sqlite3.connect(here / "newer.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    monkeypatch.setenv("DATABASE_URL", url)
    code, _, err = linli(capsys, "console")
    assert code == 2
    line = one_sentence(err)
    assert "0099_from_the_future" in line and "update the code" in line


def test_an_unreachable_postgresql_is_one_sentence(
    here: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Port 1 on the loopback: nothing listens, the connection is refused at once.
    monkeypatch.setenv("DATABASE_URL", "postgresql://linli:secret-pw@127.0.0.1:1/linli")
    for command in (["jobs", "run", "eligibility"], ["db", "upgrade"]):
        code, _, err = linli(capsys, *command)
        assert code == 2, command
        line = one_sentence(err)
        assert "cannot reach PostgreSQL at 127.0.0.1:1/linli" in line
        assert "secret-pw" not in line


def test_a_subprocess_shows_the_sentence_and_no_traceback(here: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k.upper() not in SETTING_NAMES}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "jobs", "run", "eligibility"],
        cwd=here,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert one_sentence(done.stderr).startswith("数据库还没有初始化")
    assert done.stdout == ""


# ---- settings and keys -----------------------------------------------------------------------


def test_a_setting_of_the_wrong_type_is_named(here: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("TELEGRAM_CONCURRENT_UPDATES", "many")
    code, _, err = linli(capsys, "doctor")
    assert code == 2
    assert "TELEGRAM_CONCURRENT_UPDATES" in one_sentence(err)


@pytest.mark.parametrize(
    ("env", "sentence"),
    [
        (
            {"ID_ENCRYPTION_KEYS": TEST_ID_ENCRYPTION_KEY},
            "ID_HASH_KEY 没有设置：请运行 linli keys new，把那两行写进 .env"
            " / ID_HASH_KEY is not set: run linli keys new and put the two lines into .env",
        ),
        (
            {"ID_HASH_KEY": TEST_ID_HASH_KEY},
            "ID_ENCRYPTION_KEYS 没有设置：请运行 linli keys new，把那两行写进 .env"
            " / ID_ENCRYPTION_KEYS is not set: run linli keys new and put the two lines into .env",
        ),
        (
            {"ID_ENCRYPTION_KEYS": "not-a-key", "ID_HASH_KEY": TEST_ID_HASH_KEY},
            "ID_ENCRYPTION_KEYS holds a key that is not a Fernet key",
        ),
        (
            {"ID_ENCRYPTION_KEYS": TEST_ID_ENCRYPTION_KEY, "ID_HASH_KEY": "short"},
            "ID_HASH_KEY is too short",
        ),
    ],
)
def test_a_missing_or_malformed_key_is_one_sentence(
    here: Path, capsys, monkeypatch, demo_file: str, env: dict[str, str], sentence: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", demo_file)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for command in (["console"], ["export", "residents", "out.csv"], ["intent", "报修"]):
        code, _, err = linli(capsys, *command)
        assert code == 2, command
        assert sentence in one_sentence(err)
    assert not (here / "out.csv").exists()


def test_import_without_keys_says_how_to_make_them(here: Path, capsys, monkeypatch, demo_file):
    monkeypatch.setenv("DATABASE_URL", demo_file)
    code, _, err = linli(capsys, "import", "residents", "register.xlsx")
    assert code == 2
    assert "ID_ENCRYPTION_KEYS and ID_HASH_KEY are not set: run linli keys new" in one_sentence(err)


def test_keys_that_are_not_the_databases_are_refused(
    here: Path, capsys, monkeypatch: pytest.MonkeyPatch, demo_file: str
) -> None:
    other_encryption, other_hash = new_keys()
    monkeypatch.setenv("DATABASE_URL", demo_file)
    monkeypatch.setenv("ID_ENCRYPTION_KEYS", other_encryption)
    monkeypatch.setenv("ID_HASH_KEY", TEST_ID_HASH_KEY)
    code, _, err = linli(capsys, "export", "residents", "out.csv")
    assert code == 2
    assert "ID_ENCRYPTION_KEYS cannot decrypt the ID numbers in this database" in one_sentence(err)
    # The old key still decrypts (a rotation: new key first), but the hash key is another one.
    monkeypatch.setenv("ID_ENCRYPTION_KEYS", f"{other_encryption},{TEST_ID_ENCRYPTION_KEY}")
    monkeypatch.setenv("ID_HASH_KEY", other_hash)
    code, _, err = linli(capsys, "import", "residents", "register.xlsx")
    assert code == 2
    assert "ID_HASH_KEY is not the one this database was made with" in one_sentence(err)
    # The right pair: the export works.
    monkeypatch.setenv("ID_HASH_KEY", TEST_ID_HASH_KEY)
    code, out, err = linli(capsys, "export", "residents", "out.csv")
    assert code == 0, err
    assert "residents written to out.csv" in out


# ---- Telegram and the port -------------------------------------------------------------------


@asynccontextmanager
async def telegram_on_a_socket() -> AsyncIterator[str]:
    """The fake Bot API over HTTP on 127.0.0.1; yields the TELEGRAM_API_BASE_URL for it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    app = FakeTelegramServer(FakeBotApi()).app
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/bot"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_a_token_telegram_refuses_is_one_sentence(
    here: Path, capsys, monkeypatch: pytest.MonkeyPatch, demo_file: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", demo_file)
    monkeypatch.setenv("TELEGRAM_TOKEN", "999:WRONG-TOKEN")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free_port = probe.getsockname()[1]
    async with telegram_on_a_socket() as base_url:
        monkeypatch.setenv("TELEGRAM_API_BASE_URL", base_url)
        for command in (["run"], ["serve", "--port", str(free_port)], ["deliver"]):
            code, _, err = await asyncio.to_thread(linli, capsys, *command)
            assert code == 2, command
            line = one_sentence(err)
            assert line.startswith("Telegram 不认这个 TELEGRAM_TOKEN（getMe 返回 401）")
            assert "401 from getMe" in line and "WRONG-TOKEN" not in line
        code, out, _ = await asyncio.to_thread(linli, capsys, "doctor")
        assert code == 2
        assert "FIX  Telegram" in out and "401 from getMe" in out


def test_run_without_a_token_says_where_to_put_one(here: Path, capsys, monkeypatch, demo_file):
    monkeypatch.setenv("DATABASE_URL", demo_file)
    code, _, err = linli(capsys, "run")
    assert code == 2
    assert "TELEGRAM_TOKEN is not set" in one_sentence(err)


def test_a_port_in_use_is_one_sentence(
    here: Path, capsys, monkeypatch: pytest.MonkeyPatch, demo_file: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", demo_file)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, _, err = linli(capsys, "serve", "--port", str(port))
    assert code == 2
    assert one_sentence(err) == (
        f"端口 {port} 已被占用：请停掉占用它的程序，或换一个 --port"
        f" / port {port} on 127.0.0.1 is already in use: stop the program using it or "
        "choose another --port"
    )


# ---- linli doctor ----------------------------------------------------------------------------


def test_doctor_on_a_fresh_folder_says_what_to_fix(here: Path, capsys) -> None:
    code, out, _ = linli(capsys, "doctor")
    assert code == 2
    rows = {line.split()[1]: line.split()[0] for line in out.splitlines()}
    assert rows["settings"] == READY
    assert rows["database"] == FIX and "run linli db upgrade" in out
    assert rows["Telegram"] == OFF and rows["WeChat"] == OFF and rows["clock"] == OFF


async def test_doctor_checks_every_configured_channel_and_the_clock(demo_file: str) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=demo_file,
        telegram_token=TOKEN,
        id_encryption_keys=TEST_ID_ENCRYPTION_KEY,
        id_hash_key=TEST_ID_HASH_KEY,
        wechat_api_base_url="http://wechat.fake",
        wechat_app_id=APP_ID,
        wechat_app_secret=APP_SECRET,
        wecom_api_base_url="http://wechat.fake",
        wecom_corp_id="ww-wrong-corp",
        wecom_corp_secret="nope",
    )
    wechat = FakeWeChatServer()
    rows = await run_doctor(
        settings,
        telegram_request=RecordingRequest(FakeBotApi()),
        wechat_transport=httpx.ASGITransport(app=wechat.app),
    )
    table = {row.what: row for row in rows}
    assert table["database"].status == READY and HEAD in table["database"].detail
    assert table["ID keys"] == table["ID keys"].__class__(
        READY, "ID keys", "set and open the stored ID numbers"
    )
    assert table["Telegram"].status == READY and "@linli_test_bot" in table["Telegram"].detail
    assert table["WeChat"].status == READY
    assert table["WeCom"].status == FIX and "errcode" in table["WeCom"].detail
    assert table["clock"].status == READY and "free" in table["clock"].detail


async def test_doctor_and_the_checks_pass_on_the_test_database(
    db: Database, database_url: str, settings: Settings
) -> None:
    """SQLite or, with DATABASE_URL, PostgreSQL: migrated by conftest, so ready."""
    await require_database(settings, keys_required=True)
    rows = await run_doctor(settings, telegram_request=RecordingRequest(FakeBotApi()))
    assert all(row.status != FIX for row in rows), rows


# ---- help ------------------------------------------------------------------------------------


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path of a click group (typer's groups have `commands` too)."""
    yield path
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


def test_every_command_has_help_in_plain_words_with_an_example(capsys) -> None:
    root = typer.main.get_command(cli.app)
    paths = list(_commands(root))
    assert len(paths) >= 20
    for path in paths:
        code, out, _ = linli(capsys, *path, "--help")
        assert code == 0, path
        assert "Example: " in out, path
        assert "linli" in out.split("Example: ", 1)[1].splitlines()[0], path


# ---- make demo and .env ----------------------------------------------------------------------


def test_make_demo_never_overwrites_a_users_own_env(tmp_path: Path) -> None:
    if not (ROOT / ".venv" / "bin" / "linli").exists():
        pytest.skip("no .venv in the project: run `make install` first")
    project = fresh_copy(tmp_path / "linli")
    mine = "# my own settings\nDATABASE_URL=sqlite:///mine.db\nTELEGRAM_TOKEN=123:mine\n"
    (project / ".env").write_text(mine, encoding="utf-8")
    made = make_demo_data(project)
    assert made.returncode == 0, made.stdout + made.stderr
    assert "note: .env is your own and was left as it is" in made.stdout
    assert (project / ".env").read_text(encoding="utf-8") == mine
    assert (project / "linli-demo.db").exists() and not (project / "mine.db").exists()
    # The user's settings are what the commands then use: their database is not there yet.
    done = subprocess.run(
        [".venv/bin/linli", "seed", "demo"],
        cwd=project,
        env=clean_env(project),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "mine.db" in one_sentence(done.stderr)
