"""Every setting is documented in .env.example, and nothing there is unknown."""

from __future__ import annotations

import re
from pathlib import Path

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_env_example_documents_every_setting() -> None:
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^([A-Z_]+)=", text, re.M))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_settings_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("TELEGRAM_TOKEN", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://x@127.0.0.1/y")
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", "http://127.0.0.1:8081/bot")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.database_url == "postgresql://x@127.0.0.1/y"
    assert settings.telegram_api_base_url == "http://127.0.0.1:8081/bot"
    assert Settings(_env_file=None, database_url="sqlite:///a.db").telegram_token is None  # type: ignore[call-arg]
