"""Settings: `config/digestbot.toml` (or `$DIGESTBOT_CONFIG`), then `DIGESTBOT_*` variables."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as SourceError

if TYPE_CHECKING:
    from bot.categorising.table import CategoryTable

DEFAULT_CONFIG = Path("config/digestbot.toml")
_CHANNEL_NAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{3,31}$")
PREFIX = "DIGESTBOT_"
# Not settings, but read by digestbot (the config file's path) or its test suite.
OTHER_VARIABLES = frozenset({"DIGESTBOT_CONFIG", "DIGESTBOT_TEST_POSTGRES"})


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

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    chat: Annotated[int | str, BeforeValidator(_chat_ref)]
    categories: list[str] = Field(default_factory=list)


class PaidBroadcastSettings(BaseModel):
    """Paid broadcasts, an operator's opt-in: above the free overall rate, deliveries are sent
    with `allow_paid_broadcast`, which Telegram lets through up to 1,000 messages/s and charges
    0.1 Star each from the bot's balance (see the README)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    enabled: bool = False
    per_second: float = Field(1000.0, gt=0, le=1000)  # the ceiling, paid and free sends together


class TelegramSettings(BaseModel):
    """The bot: its token (a secret), where the Bot API is, who it delivers to and how fast."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

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
    paid_broadcast: PaidBroadcastSettings = Field(default_factory=PaidBroadcastSettings)

    @model_validator(mode="after")
    def _paid_above_free(self) -> TelegramSettings:
        paid = self.paid_broadcast
        if paid.enabled and paid.per_second <= self.global_per_second:
            raise ValueError(
                f"paid_broadcast.per_second ({paid.per_second:g}) must be above "
                f"global_per_second ({self.global_per_second:g}), the free rate"
            )
        return self

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

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # Clients waiting for their request headers at once (fewer when file descriptors are short);
    # beyond it the longest-waiting one is dropped.
    max_connections: int = Field(1000, ge=4)
    header_timeout: float = Field(10.0, gt=0, le=300)  # seconds to send the request headers


class FeedsSettings(BaseModel):
    """The published feeds and site beyond their address: push and search."""

    model_config = ConfigDict(extra="forbid")

    # A WebSub hub (e.g. https://pubsubhubbub.appspot.com/) announced in every feed and told
    # after each build which feeds changed; off when unset.
    websub_hub: str | None = None
    search_per_minute: int = Field(30, ge=1, le=10_000)  # searches per client IP and minute

    @field_validator("websub_hub")
    @classmethod
    def _hub(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL")
        return value or None


class Settings(BaseSettings):
    """Every setting of digestbot; see `config/digestbot.toml` for each one explained."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        allow_inf_nan=False,  # `inf` seconds or messages per second is a typo, never a wish
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
    # days a finished digest's deliveries and delivered items are kept (bounded storage)
    retention_days: int = Field(30, ge=1, le=36_500)
    log_level: str = "INFO"
    http: HttpSettings = Field(default_factory=HttpSettings)
    feeds: FeedsSettings = Field(default_factory=FeedsSettings)
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
        raise SettingsError(_one_line(error, path)) from None
    except SourceError as error:  # a variable that is not valid JSON where JSON is needed
        raise SettingsError(_unreadable_variable(error)) from None
    except (ValueError, OSError) as error:  # TOML syntax, unreadable file
        raise SettingsError(f"{path}: {_first_line(str(error))}") from None


def _one_line(error: ValidationError, path: Path) -> str:
    """`key (WHERE): why`, WHERE being the variable that gave the value if one is set, else
    the settings file."""
    first = error.errors()[0]
    names = [str(part) for part in first["loc"] if not isinstance(part, int)]
    key = ".".join(str(part) for part in first["loc"]) or "settings"
    where = _variable_for(names) or (str(path) if path.is_file() else _variable_name(names))
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "is not a known setting"
    more = f" (and {len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
    return f"{key} ({where}): {message}{more}"


def _variable_name(names: list[str]) -> str:
    return PREFIX + "__".join(name.upper() for name in names)


def _variable_for(names: list[str]) -> str | None:
    """The set variable that holds the value at `names` (`DIGESTBOT_HTTP__PORT`, or the
    `DIGESTBOT_HTTP` JSON object holding it), or None."""
    set_names = {name.upper() for name in os.environ}
    for end in range(len(names), 0, -1):
        name = _variable_name(names[:end])
        if name in set_names:
            return name
    return None


def _unreadable_variable(error: SourceError) -> str:
    field = re.search(r'field "(\w+)"', str(error))
    name = field.group(1) if field else ""
    given = sorted(
        variable
        for variable in os.environ
        if variable.upper() == _variable_name([name])
        or variable.upper().startswith(_variable_name([name]) + "__")
    )
    cause = error.__cause__
    why = _first_line(str(cause)) if cause else "cannot be read"
    where = ", ".join(given) or _variable_name([name])
    return f"{name or 'settings'} ({where}): is not valid JSON: {why}"


def known_variables() -> frozenset[str]:
    """Every DIGESTBOT_* variable that sets something."""
    names = set(OTHER_VARIABLES)
    for name, field in Settings.model_fields.items():
        names.add(_variable_name([name]))
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            names.update(_variable_name([name, inner]) for inner in model.model_fields)
    return frozenset(names)


def unknown_variables(environ: dict[str, str] | None = None) -> list[str]:
    """A warning for each DIGESTBOT_* variable that sets nothing (a typo is otherwise silently
    ignored), with the likeliest intended name."""
    environ = dict(os.environ) if environ is None else environ
    known = known_variables()
    warnings = []
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(PREFIX) or upper in known:
            continue
        bare = {name.removeprefix(PREFIX): name for name in known}
        guess = difflib.get_close_matches(upper.removeprefix(PREFIX), sorted(bare), n=1)
        hint = f"; did you mean {bare[guess[0]]}?" if guess else ""
        warnings.append(f"{variable} is not a setting and is ignored{hint}")
    return warnings


def unknown_channel_categories(settings: Settings, table: CategoryTable) -> list[str]:
    """A line for each channel filter naming no known category (it would match nothing),
    located in the variable or the settings file that holds it."""
    known = ", ".join(c.name for c in table.categories)
    if "DIGESTBOT_TELEGRAM__CHANNELS" in os.environ:
        where = "DIGESTBOT_TELEGRAM__CHANNELS:0"
        lines: list[str] = []
    else:
        path = config_path()
        lines = path.read_text("utf-8").splitlines() if path.is_file() else []
        where = f"{path}:{{line}}"
    problems = []
    for channel in settings.telegram.channels:
        for name in channel.categories:
            if table.known(name):
                continue
            line = next((n for n, text in enumerate(lines, 1) if name in text), 1)
            problems.append(
                f"{where.format(line=line)}: channel {channel.chat}: unknown category "
                f"{name!r} (known: {known})"
            )
    return problems


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unreadable"
