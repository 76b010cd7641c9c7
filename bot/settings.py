"""Settings: `config/digestbot.toml` (or `$DIGESTBOT_CONFIG`), then `DIGESTBOT_*` variables."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG = Path("config/digestbot.toml")
_CHANNEL_NAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")


class SettingsError(Exception):
    """A setting that cannot be used; its message is one line naming the key and why."""


def _chat_ref(value: Any) -> int | str:
    if isinstance(value, bool):
        raise ValueError("must be an @channelname or a numeric chat id")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if _CHANNEL_NAME.match(text):
        return text
    raise ValueError("must be an @channelname or a numeric chat id")


class ChannelSettings(BaseModel):
    """A channel (or group) that receives every digest, filtered to some categories."""

    model_config = ConfigDict(extra="forbid")

    chat: Annotated[int | str, BeforeValidator(_chat_ref)]
    categories: list[str] = Field(default_factory=list)


class TelegramSettings(BaseModel):
    """The bot: its token (a secret), where the Bot API is, who it delivers to and how fast."""

    model_config = ConfigDict(extra="forbid")

    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"
    username: str | None = None
    channels: list[ChannelSettings] = Field(default_factory=list)
    admins: list[int] = Field(default_factory=list)
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    global_per_second: float = Field(30.0, gt=0)
    private_per_second: float = Field(1.0, gt=0)
    group_per_minute: float = Field(20.0, gt=0)
    max_attempts: int = Field(300, ge=1)  # about a day of retries, 5 minutes apart at most
    request_timeout: float = Field(20.0, gt=0)
    poll_timeout: int = Field(30, ge=0, le=60)

    @field_validator("token", mode="before")
    @classmethod
    def _token_shape(cls, value: Any) -> Any:
        if value in (None, ""):
            return None
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        # The value itself never goes into the message: errors are printed and logged.
        if not re.fullmatch(r"\d{1,20}:[A-Za-z0-9_-]{20,100}", text.strip()):
            raise ValueError("is not shaped like a bot token (digits:letters, from @BotFather)")
        return text.strip()

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("username")
    @classmethod
    def _username(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.lstrip("@")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{3,31}", value):
            raise ValueError("must be a Telegram username (letters, digits, underscore)")
        return value


class HttpSettings(BaseModel):
    """Where `digestbot run` serves the feeds."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # Clients waiting for their request headers at once (fewer when file descriptors are short);
    # beyond it the longest-waiting one is dropped.
    max_connections: int = Field(1000, ge=4)
    header_timeout: float = Field(10.0, gt=0, le=300)  # seconds to send the request headers


class Settings(BaseSettings):
    """Every setting of digestbot; see `config/digestbot.toml` for each one explained."""

    model_config = SettingsConfigDict(
        env_prefix="DIGESTBOT_",
        env_nested_delimiter="__",
        extra="forbid",
        toml_file=None,
    )

    digests_dir: Path = Path("seeds")
    feeds_dir: Path = Path("feeds")
    database_url: str = "sqlite:///state/digestbot.db"
    site_url: str = "http://localhost:8080/"
    site_title: str = "digestbot AI 资讯"
    timezone: str = "Asia/Shanghai"
    categories_file: Path = Path("config/categories.toml")
    feed_entries: int = Field(100, ge=1, le=1000)
    scan_interval: float = Field(30.0, gt=0)
    settle_seconds: float = Field(0.3, ge=0)
    log_level: str = "INFO"
    http: HttpSettings = Field(default_factory=HttpSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("is not a known IANA time zone (e.g. Asia/Shanghai)") from None
        return value

    @field_validator("site_url")
    @classmethod
    def _site_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL such as https://news.example.com/")
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def token(self) -> str | None:
        secret = self.telegram.token
        return secret.get_secret_value() if secret else None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = config_path()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def config_path() -> Path:
    return Path(os.environ.get("DIGESTBOT_CONFIG", str(DEFAULT_CONFIG)))


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; any problem becomes one `SettingsError` line naming the key."""
    path = config_path()
    if "DIGESTBOT_CONFIG" in os.environ and not path.is_file():
        raise SettingsError(f"DIGESTBOT_CONFIG: no such file {path}")
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(_one_line(error)) from None
    except (ValueError, OSError) as error:  # TOML syntax, unreadable file
        raise SettingsError(f"{path}: {_first_line(str(error))}") from None


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"]) or "settings"
    env = "DIGESTBOT_" + "__".join(str(p).upper() for p in first["loc"] if not isinstance(p, int))
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "is not a known setting"
    more = f" (and {len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
    return f"{key} ({env}): {message}{more}"


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unreadable"
