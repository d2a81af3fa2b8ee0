"""Helpers every `linli` command module shares: the event loop, the checks before a command
runs, logging, the ID keys, the community a command is for, a refusal as one sentence."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from bot.config import Settings, SetupError, id_cipher

T = TypeVar("T")


def run_async(main: Coroutine[Any, Any, T]) -> T:
    """Run the service's event loop: uvloop where it is installed (about 10 % less CPU per
    message in bench/inbound.py), else asyncio's own."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows, where uvloop does not exist
        return asyncio.run(main)
    return uvloop.run(main)


def _ready(settings: Settings, *, keys: bool = False) -> None:
    """Stop with one sentence unless the database is at the newest revision and the keys fit."""
    from bot.doctor import require_database

    asyncio.run(require_database(settings, keys_required=keys))


def _telegram_refused(err: Exception) -> SetupError:
    from bot.doctor import telegram_token_problem

    return SetupError(telegram_token_problem(err) or f"Telegram: {type(err).__name__}")


def _need_telegram_token(settings: Settings) -> None:
    if not settings.telegram_token:
        raise SetupError(
            "TELEGRAM_TOKEN 没有设置：请把 @BotFather 给的 token 写进 .env"
            " / TELEGRAM_TOKEN is not set: put the token @BotFather gave you into .env"
        )


def _setup_logging(settings: Settings, quiet: bool = False) -> None:
    logging.basicConfig(
        level=logging.WARNING if quiet else settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _cipher_or_exit(settings: Settings) -> Any:
    from bot.doctor import key_settings_problem

    problem = key_settings_problem(settings, required=True)
    if problem:
        raise SetupError(problem)
    return id_cipher(settings)


async def _community_id(session: Any, name: str | None) -> int:
    from sqlalchemy import select
    from sqlmodel import col

    from models.tables import Community

    rows = (await session.execute(select(Community).order_by(col(Community.id)))).scalars().all()
    if name:
        rows = [c for c in rows if c.name == name]
    if len(rows) != 1:
        names = "、".join(c.name for c in rows) or "-"
        raise SetupError(
            f"请用 --community 指明社区（现有：{names}） / name the community with --community "
            f"(found: {names})"
        )
    return int(rows[0].id)


def _input_file(file: str) -> tuple[Path, bytes]:
    """A file named on the command line, read whole; a clear refusal when it is not there."""
    path = Path(file)
    if not path.is_file():
        raise SetupError(f"找不到文件 {file} / there is no file {file}")
    return path, path.read_bytes()


def _both_languages(key: str, **values: Any) -> str:
    """A catalog text in Chinese, then English (what the CLI prints)."""
    from bot.i18n import translate

    zh, en = translate("zh", key), translate("en", key)
    if values:
        zh, en = zh.format(**values), en.format(**values)
    return f"{zh} / {en}"


def _refusal(err: Any) -> SetupError:
    return SetupError(_both_languages(err.key, **err.values))


def _file_refusal(file: str, err: Any) -> SetupError:
    """A rejected poll or survey file: every bad line (FileRejected), or the one error."""
    problems = getattr(err, "problems", None)
    if not problems:
        return _refusal(err)
    lines = [f"{file}: 没有导入 / not imported"]
    lines += [f"  {_both_languages(p.key, **p.values)}" for p in problems]
    return SetupError("\n".join(lines))
