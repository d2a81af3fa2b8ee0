"""Settings, read once from the environment or `.env` (pydantic-settings)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of the service; `.env.example` documents each one."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(default="sqlite:///linli.db")
    log_level: str = "INFO"

    telegram_token: str | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_api_file_url: str = "https://api.telegram.org/file/bot"
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_webhook_path: str = "/webhook/telegram"
    telegram_bot_username: str | None = None
    telegram_concurrent_updates: int = 64
    telegram_poll_interval: float = 0.05

    processed_update_retention_days: int = 7
    clock_tick_seconds: float = 2.0

    telegram_per_second: float = 30.0
    telegram_per_chat_seconds: float = 1.0
    telegram_group_per_minute: float = 20.0

    delivery_batch: int = 500
    delivery_concurrency: int = 32
    delivery_lease_seconds: int = 60
    delivery_flush_every: int = 50


def load_settings() -> Settings:
    """Read the settings now (environment first, then `.env`)."""
    return Settings()
