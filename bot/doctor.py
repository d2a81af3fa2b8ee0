"""First-run checks: the settings, the database revision, the ID keys, each channel, the clock.

Every command of `linli` calls the checks it needs before it starts (`require_database`,
`require_keys`, `require_telegram`, `require_port`); a wrong set-up raises `SetupError`, whose
message is one line, Chinese first then English, naming the fix. `linli doctor` runs them all
and prints a table (`run_doctor`). `explain` turns the few platform exceptions that can still
escape a command (a 401 from Telegram, a port taken, a missing table) into the same kind of
sentence; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.pool import NullPool

from bot.config import Settings, SetupError
from models.db import async_url

UPGRADE = "linli db upgrade"
CONNECT_TIMEOUT = 5.0  # seconds: an unreachable PostgreSQL is reported, not waited for


# ---- the database ----------------------------------------------------------------------------


def _where(url: str) -> str:
    """host:port/name of a PostgreSQL URL, never its password."""
    u = make_url(url)
    return f"{u.host or 'localhost'}:{u.port or 5432}/{u.database or ''}"


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None: not SQLite, or in memory)."""
    u = make_url(url)
    if not u.drivername.startswith("sqlite") or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def code_revisions(url: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """(the newest revision(s), every revision) of the code's Alembic migrations."""
    from alembic.script import ScriptDirectory

    from models.migrations import alembic_config

    script = ScriptDirectory.from_config(alembic_config(url))
    known = frozenset(r.revision for r in script.walk_revisions())
    return tuple(sorted(script.get_heads())), known


def _causes(err: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps (SQLAlchemy's `orig`, `__cause__`, `__context__`)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        todo += [getattr(e, "orig", None), e.__cause__, e.__context__]


def connection_problem(url: str, err: BaseException) -> str:
    """One sentence for a database that cannot be opened."""
    names = {type(e).__name__ for e in _causes(err)}
    if url.startswith(("postgres", "postgresql")):
        where = _where(url)
        name = make_url(url).database or ""
        if "InvalidCatalogNameError" in names:
            return (
                f"PostgreSQL 上没有数据库 {name}：请先创建它（createdb {name}），再运行 {UPGRADE}"
                f" / PostgreSQL at {where} has no database {name}: create it "
                f"(createdb {name}), then run {UPGRADE}"
            )
        if names & {"InvalidPasswordError", "InvalidAuthorizationSpecificationError"}:
            return (
                f"PostgreSQL（{where}）拒绝了登录：请核对 DATABASE_URL 里的用户名和密码"
                f" / PostgreSQL at {where} refused the login: check the user and password "
                "in DATABASE_URL"
            )
        return (
            f"连不上 PostgreSQL（{where}）：请确认它在运行、DATABASE_URL 写得对"
            f" / cannot reach PostgreSQL at {where}: is it running, and is DATABASE_URL right?"
        )
    path = sqlite_path(url)
    shown = str(path) if path else url
    if any("file is not a database" in str(e) for e in _causes(err)):
        return (
            f"{shown} 不是 SQLite 数据库文件：请检查 DATABASE_URL"
            f" / {shown} is not a SQLite database: check DATABASE_URL"
        )
    return f"打不开数据库 {shown}：请检查 DATABASE_URL / cannot open the database {shown}: check DATABASE_URL"


@dataclass(frozen=True)
class DatabaseState:
    """What the database holds: its Alembic revision(s), and the code's."""

    revisions: tuple[str, ...]  # empty: never migrated
    heads: tuple[str, ...]
    known: frozenset[str]  # every revision the code has
    id_numbers: int  # stored encrypted ID numbers
    sample: tuple[str, str] | None  # (id_hash, id_cipher) of one of them

    @property
    def problem(self) -> str | None:
        """None when the database is at the code's newest revision, else the sentence."""
        if self.revisions == self.heads:
            return None
        need = ", ".join(self.heads)
        if not self.revisions:
            return (
                f"数据库还没有初始化：请先运行 {UPGRADE}"
                f" / the database is not set up yet: run {UPGRADE} first"
            )
        at = ", ".join(self.revisions)
        if not set(self.revisions) <= self.known:
            return (
                f"数据库在版本 {at}，这份代码不认识它（可能被更新的版本升级过）：请更新代码"
                f" / the database is at revision {at}, which this code does not know (a newer "
                "version migrated it): update the code"
            )
        return (
            f"数据库在版本 {at}，代码需要 {need}：请运行 {UPGRADE}"
            f" / the database is at revision {at}, the code needs {need}: run {UPGRADE}"
        )


async def _read_state(
    conn: AsyncConnection, heads: tuple[str, ...], known: frozenset[str]
) -> DatabaseState:
    tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    revisions: tuple[str, ...] = ()
    if "alembic_version" in tables:
        rows = await conn.execute(text("SELECT version_num FROM alembic_version"))
        revisions = tuple(sorted(str(r[0]) for r in rows))
    count, sample = 0, None
    if "residentrecord" in tables:
        where = " FROM residentrecord WHERE id_cipher IS NOT NULL AND id_hash IS NOT NULL"
        count = int((await conn.execute(text("SELECT COUNT(*)" + where))).scalar_one())
        row = (await conn.execute(text("SELECT id_hash, id_cipher" + where + " LIMIT 1"))).first()
        sample = (str(row[0]), str(row[1])) if row is not None else None
    return DatabaseState(revisions, heads, known, count, sample)


async def database_state(url: str) -> DatabaseState:
    """Open the database (without creating a SQLite file) and read its state; SetupError if
    it does not exist or cannot be reached."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise SetupError(
            f"数据库还没有初始化（{path} 不存在）：请先运行 {UPGRADE}（演示数据：make demo）"
            f" / the database {path} does not exist yet: run {UPGRADE} (or make demo for the demo)"
        )
    heads, known = code_revisions(url)
    engine = create_async_engine(
        async_url(url), poolclass=NullPool, connect_args={"timeout": CONNECT_TIMEOUT}
    )
    try:
        async with engine.connect() as conn:
            return await _read_state(conn, heads, known)
    except (SQLAlchemyError, OSError, TimeoutError) as err:
        raise SetupError(connection_problem(url, err)) from None
    finally:
        await engine.dispose()


async def check_reachable(url: str) -> None:
    """SetupError unless the database server answers (a SQLite file need not exist yet)."""
    if sqlite_path(url) is not None:
        return
    engine = create_async_engine(
        async_url(url), poolclass=NullPool, connect_args={"timeout": CONNECT_TIMEOUT}
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as err:
        raise SetupError(connection_problem(url, err)) from None
    finally:
        await engine.dispose()


# ---- the ID-number keys ----------------------------------------------------------------------


def _put_in_env(name: str) -> str:
    return (
        f"{name} 没有设置：请运行 linli keys new，把那两行写进 .env"
        f" / {name} is not set: run linli keys new and put the two lines into .env"
    )


def key_settings_problem(settings: Settings, *, required: bool = False) -> str | None:
    """The keys as set: one missing, malformed, or (when `required`) both missing."""
    from cryptography.fernet import Fernet

    enc, hashing = settings.id_encryption_keys.strip(), settings.id_hash_key.strip()
    if not enc and not hashing:
        if not required:
            return None
        return (
            "ID_ENCRYPTION_KEYS 和 ID_HASH_KEY 没有设置：请运行 linli keys new，把那两行写进 .env"
            " / ID_ENCRYPTION_KEYS and ID_HASH_KEY are not set: run linli keys new and put "
            "the two lines into .env"
        )
    if not enc:
        return _put_in_env("ID_ENCRYPTION_KEYS")
    if not hashing:
        return _put_in_env("ID_HASH_KEY")
    for key in (k.strip() for k in enc.split(",") if k.strip()):
        try:
            Fernet(key.encode())
        except ValueError:
            return (
                "ID_ENCRYPTION_KEYS 里有一个不是 Fernet 密钥：请用 linli keys new 生成的那一行"
                " / ID_ENCRYPTION_KEYS holds a key that is not a Fernet key: use the line "
                "linli keys new prints"
            )
    if len(hashing.encode()) < 32:
        return (
            "ID_HASH_KEY 太短（至少 32 个字符）：请用 linli keys new 生成的那一行"
            " / ID_HASH_KEY is too short (at least 32 characters): use the line linli keys new prints"
        )
    return None


def stored_keys_problem(settings: Settings, state: DatabaseState) -> str | None:
    """Keys that do not open (or do not find) the ID numbers already in the database."""
    from bot.config import id_cipher

    cipher = id_cipher(settings)
    if cipher is None or state.sample is None:
        return None
    stored_hash, token = state.sample
    try:
        number = cipher.decrypt(token)
    except ValueError:
        return (
            "ID_ENCRYPTION_KEYS 打不开数据库里的身份证号：这不是建库时用的密钥，请换回原来的那一对"
            " / ID_ENCRYPTION_KEYS cannot decrypt the ID numbers in this database: these are "
            "not the keys it was made with; put the original pair back into .env"
        )
    if cipher.lookup_hash(number) != stored_hash:
        return (
            "ID_HASH_KEY 与建库时的不同，已存的身份证号找不到了：请换回原来的 ID_HASH_KEY"
            " / ID_HASH_KEY is not the one this database was made with, so stored ID numbers "
            "cannot be found: put the original ID_HASH_KEY back into .env"
        )
    return None


# ---- what a command needs --------------------------------------------------------------------


async def require_database(settings: Settings, *, keys_required: bool = False) -> DatabaseState:
    """The database exists, is reachable and at the newest revision; the keys are well formed
    (and set, when `keys_required`) and open the ID numbers it holds. Else SetupError."""
    problem = key_settings_problem(settings, required=keys_required)
    if problem:
        raise SetupError(problem)
    state = await database_state(settings.database_url)
    problem = state.problem or stored_keys_problem(settings, state)
    if problem:
        raise SetupError(problem)
    return state


def telegram_token_problem(err: BaseException) -> str | None:
    """One sentence for Telegram's answer to a bad token (401/404 → InvalidToken)."""
    from telegram.error import InvalidToken, NetworkError

    if isinstance(err, InvalidToken):
        return (
            "Telegram 不认这个 TELEGRAM_TOKEN（getMe 返回 401）：请向 @BotFather 核对后写进 .env"
            " / Telegram refused TELEGRAM_TOKEN (401 from getMe): check it with @BotFather "
            "and put it into .env"
        )
    if isinstance(err, NetworkError):
        return (
            "连不上 Telegram：请检查网络或 TELEGRAM_API_BASE_URL"
            " / cannot reach the Telegram Bot API: check the network or TELEGRAM_API_BASE_URL"
        )
    return None


async def telegram_bot_name(settings: Settings, request: Any = None) -> str:
    """getMe with the configured token: the bot's @username, or SetupError."""
    from telegram import Bot
    from telegram.error import TelegramError

    if not settings.telegram_token:
        raise SetupError(
            "TELEGRAM_TOKEN 没有设置：请把 @BotFather 给的 token 写进 .env"
            " / TELEGRAM_TOKEN is not set: put the token @BotFather gave you into .env"
        )
    try:
        bot = Bot(
            settings.telegram_token,
            base_url=settings.telegram_api_base_url,
            base_file_url=settings.telegram_api_file_url,
            request=request,
        )
        async with bot:
            return f"@{bot.username}"
    except TelegramError as err:
        raise SetupError(telegram_token_problem(err) or f"Telegram: {type(err).__name__}") from None


def port_problem(host: str, port: int) -> str | None:
    """None if `linli serve` can listen on host:port, else the sentence."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # The same option uvicorn sets: a port in TIME_WAIT is free, one that listens is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as err:
            return _bind_problem(host, port, err)
    return None


def _bind_problem(host: str, port: int, err: OSError) -> str:
    if err.errno == errno.EADDRINUSE:
        return (
            f"端口 {port} 已被占用：请停掉占用它的程序，或换一个 --port"
            f" / port {port} on {host} is already in use: stop the program using it or "
            "choose another --port"
        )
    if err.errno == errno.EACCES:
        return (
            f"没有权限监听端口 {port}：请用 1024 以上的端口 / no permission to listen on "
            f"port {port}: choose a port above 1024"
        )
    return (
        f"不能监听 {host}:{port}（{err.strerror}）：请检查 --host 和 --port"
        f" / cannot listen on {host}:{port} ({err.strerror}): check --host and --port"
    )


def explain(err: BaseException) -> str | None:
    """The one-sentence reading of a set-up error that escaped a command; None for a bug."""
    if isinstance(err, SetupError):
        return str(err)
    telegram = telegram_token_problem(err)
    if telegram and type(err).__name__ == "InvalidToken":
        return telegram
    for cause in _causes(err):
        if isinstance(cause, OSError) and cause.errno == errno.EADDRINUSE:
            return (
                "端口已被占用：请停掉占用它的程序，或换一个 --port"
                " / the port is already in use: stop the program using it or choose another --port"
            )
        if "no such table" in str(cause) or type(cause).__name__ == "UndefinedTableError":
            return (
                f"数据库还没有初始化：请先运行 {UPGRADE}"
                f" / the database is not set up yet: run {UPGRADE} first"
            )
    return None


# ---- linli doctor ----------------------------------------------------------------------------

READY, FIX, OFF = "ok", "FIX", "--"


@dataclass(frozen=True)
class Row:
    """One line of the doctor's table."""

    status: str  # READY, FIX, OFF (not configured, optional)
    what: str
    detail: str


def _settings_row(settings: Settings) -> Row:
    env = Path(".env")
    source = f".env ({env.resolve()})" if env.is_file() else "the environment (no .env here)"
    shown = settings.database_url
    if not shown.startswith("sqlite"):
        shown = make_url(shown).render_as_string(hide_password=True)
    return Row(READY, "settings", f"read from {source}; DATABASE_URL={shown}")


async def _channel_token(settings: Settings, db: Any, which: str, transport: Any) -> Row:
    """The access token of the official account or the WeCom app (the stored one if valid)."""
    label = {"wechat": "WeChat", "wecom": "WeCom"}[which]
    configured = (
        settings.wechat_app_id and settings.wechat_app_secret
        if which == "wechat"
        else settings.wecom_corp_id and settings.wecom_corp_secret
    )
    if not configured:
        names = "WECHAT_APP_ID / WECHAT_APP_SECRET" if which == "wechat" else "WECOM_CORP_*"
        return Row(OFF, label, f"not configured ({names} empty)")
    from bot.channels.wechat import oa_api, wecom_api

    api = (oa_api if which == "wechat" else wecom_api)(settings, db, transport=transport)
    assert api is not None
    try:
        await api.access_token()
    except Exception as err:  # the platform's errcode, or the network
        code = getattr(err, "errcode", None)
        why = f"errcode {code} {getattr(err, 'errmsg', '')}".strip() if code else type(err).__name__
        return Row(
            FIX, label, f"no access token ({why}): check the app id, secret and IP whitelist"
        )
    finally:
        await api.aclose()
    return Row(READY, label, "access token ready")


async def run_doctor(
    settings: Settings, *, telegram_request: Any = None, wechat_transport: Any = None
) -> list[Row]:
    """Every check, as table rows (nothing is changed but a fetched access token, stored)."""
    from bot.leader import Leadership
    from models.db import Database

    rows = [_settings_row(settings)]
    state: DatabaseState | None = None
    try:
        state = await database_state(settings.database_url)
    except SetupError as err:
        rows.append(Row(FIX, "database", str(err)))
    else:
        at = ", ".join(state.revisions) or "-"
        rows.append(
            Row(FIX, "database", state.problem)
            if state.problem
            else Row(READY, "database", f"revision {at} (the newest)")
        )
    problem = key_settings_problem(settings) or (
        stored_keys_problem(settings, state) if state else None
    )
    if problem:
        rows.append(Row(FIX, "ID keys", problem))
    elif not settings.id_encryption_keys:
        held = (
            f"; but the database holds {state.id_numbers} encrypted ID numbers: set the keys "
            "they were made with"
            if state and state.id_numbers
            else ""
        )
        status = FIX if state and state.id_numbers else OFF
        rows.append(Row(status, "ID keys", f"not set: ID numbers cannot be imported{held}"))
    else:
        opened = " and open the stored ID numbers" if state and state.sample else ""
        rows.append(Row(READY, "ID keys", f"set{opened}"))

    if settings.telegram_token:
        try:
            name = await telegram_bot_name(settings, telegram_request)
            rows.append(Row(READY, "Telegram", f"getMe: {name}"))
        except SetupError as err:
            rows.append(Row(FIX, "Telegram", str(err)))
    else:
        rows.append(Row(OFF, "Telegram", "not configured (TELEGRAM_TOKEN empty)"))

    usable = state is not None and state.problem is None
    db = Database(settings.database_url) if usable else None
    try:
        for which in ("wechat", "wecom"):
            if db is None:
                label = {"wechat": "WeChat", "wecom": "WeCom"}[which]
                rows.append(Row(OFF, label, "not checked (database not ready)"))
            else:
                rows.append(await _channel_token(settings, db, which, wechat_transport))
        if db is None:
            rows.append(Row(OFF, "clock", "not checked (database not ready)"))
        else:
            leadership = Leadership(db)
            if await leadership.try_acquire():
                await leadership.release()
                rows.append(Row(READY, "clock", "leader lock free: no service runs the clock now"))
            else:
                rows.append(
                    Row(READY, "clock", "leader lock held: a running service runs the clock")
                )
    finally:
        if db is not None:
            await db.dispose()
    return rows


def render_table(rows: list[Row]) -> str:
    """The rows as a short aligned table."""
    width = max(len(r.what) for r in rows)
    return "\n".join(f"{r.status:<3}  {r.what:<{width}}  {r.detail}" for r in rows)


def doctor(settings: Settings) -> tuple[str, bool]:
    """(table, everything ready) for `linli doctor`."""
    rows = asyncio.run(run_doctor(settings))
    return render_table(rows), all(r.status != FIX for r in rows)
