"""Settings, read once from the environment or `.env` (pydantic-settings)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.idcard import IdCipher


class SetupError(Exception):
    """A wrong set-up: its message is one line for the operator (Chinese, then English)."""


class Settings(BaseSettings):
    """Every setting of the service; `.env.example` documents each one."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(default="sqlite:///linli.db")
    # PostgreSQL connections a bot process keeps (SQLite always has one): messages in flight
    # beyond it wait for a connection; on a loaded server each round trip waits for it, so
    # throughput is about connections / latency (bench/README.md).
    database_pool_size: int = Field(default=32, ge=1)
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
    # Sent (or dead, blocked, cancelled) outbox rows older than this are deleted by housekeeping.
    outbox_retention_days: int = Field(default=90, ge=1)
    clock_tick_seconds: float = 2.0

    telegram_per_second: float = 30.0
    telegram_per_chat_seconds: float = 1.0
    telegram_group_per_minute: float = 20.0

    # WeChat official account (公众号) and WeCom (企业微信): see README and .env.example.
    wechat_token: str | None = None
    wechat_app_id: str | None = None
    wechat_app_secret: str | None = None
    wechat_encoding_aes_key: str | None = None
    wechat_path: str = "/wechat"
    wechat_api_base_url: str = "https://api.weixin.qq.com"
    wechat_template_id: str | None = None
    wechat_template_field: str = "thing1"
    wechat_template_max_chars: int = 20
    # Outside the 48-hour window the template (its first line in WECHAT_TEMPLATE_FIELD) links
    # back: a page (the staff/resident page) or a mini-program page, where configured.
    wechat_template_url: str = ""
    wechat_miniprogram_appid: str = ""
    wechat_miniprogram_path: str = ""
    wechat_per_second: float = 20.0
    wechat_per_chat_seconds: float = 1.0
    wecom_token: str | None = None
    wecom_corp_id: str | None = None
    wecom_corp_secret: str | None = None
    wecom_agent_id: int | None = None
    wecom_encoding_aes_key: str | None = None
    wecom_path: str = "/wecom"
    wecom_api_base_url: str = "https://qyapi.weixin.qq.com"
    wecom_per_second: float = 20.0
    wecom_per_person_per_minute: float = 30.0
    wechat_reply_budget_seconds: float = 4.0
    wechat_max_clock_skew_seconds: int = 300

    # Pictures and voice notes people send are kept when they arrive: a folder, or
    # s3://bucket/prefix (S3-compatible storage, the `s3` extra) with the endpoint and keys below.
    media_store: str = "linli-media"
    media_endpoint_url: str | None = None
    media_access_key: str | None = None
    media_secret_key: str | None = None
    media_region: str | None = None
    media_max_photo_bytes: int = 5 * 1024 * 1024
    media_max_voice_bytes: int = 2 * 1024 * 1024

    delivery_batch: int = 500
    delivery_concurrency: int = 32
    delivery_lease_seconds: int = 60
    delivery_flush_every: int = 50

    # Resident ID numbers (身份证号): the Fernet key(s) that encrypt them (comma-separated, the
    # first encrypts) and the secret of their lookup hash. Empty: ID numbers cannot be stored.
    id_encryption_keys: str = ""
    id_hash_key: str = ""
    # Benefit programmes (age bands, amounts, questions, documents): a TOML file; empty: the
    # shipped, illustrative models/data/benefits.toml.
    benefit_programmes_file: str = ""
    # The daily eligibility scan runs at this hour, community time (Asia/Shanghai).
    eligibility_scan_hour: int = 9
    # Where the bot writes files (the console's QR posters and charts, `linli wechat qr`):
    # a folder of its own, relative to where linli runs unless absolute; made when first used.
    files_dir: str = "data/files"
    # Where staff reach `linli serve` (the staff desk's one-time links point here; https in
    # production, behind the TLS proxy).
    console_base_url: str = "http://127.0.0.1:8080"


def files_dir(settings: Settings, *parts: str) -> Path:
    """The configured folder for written files (or a subfolder of it), created if missing."""
    path = Path(settings.files_dir).expanduser().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def id_cipher(settings: Settings) -> IdCipher | None:
    """The ID-number cipher from the settings; None when no keys are set (half set: an error)."""
    if not settings.id_encryption_keys and not settings.id_hash_key:
        return None
    return IdCipher(settings.id_encryption_keys, settings.id_hash_key)


def load_settings() -> Settings:
    """Read the settings now (environment first, then `.env`); SetupError names a bad value."""
    try:
        return Settings()
    except ValidationError as err:
        first = err.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "?"
        raise SetupError(
            f"设置 {name} 的值不对（{first['msg']}）：请改正 .env 或环境变量"
            f" / the setting {name} is wrong ({first['msg']}): fix it in .env or the environment"
        ) from None
