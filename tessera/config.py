"""Configuration: read once from TOML into a frozen, validated object.

Nothing reads the environment or the file after start-up; every part of the program gets
the same ``Config`` value. Errors name the offending key so an operator can fix the file
without reading a traceback.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from tessera.errors import ConfigError

REGISTRATION_MODES = ("closed", "invite", "approval", "open")
DEFAULT_DB_URL = "sqlite+aiosqlite:///data/tessera.db"


@dataclass(frozen=True)
class InstanceConfig:
    domain: str = "localhost:8000"
    scheme: str = "http"
    name: str = "Tessera"
    description: str = "A gallery of AI-generated images."
    registrations: str = "approval"
    contact_email: str = ""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    secret_key_file: Path = Path("data/secret.key")
    session_days: int = 30
    login_attempts_per_window: int = 10
    login_window_seconds: int = 300
    signup_attempts_per_window: int = 5
    signup_window_seconds: int = 1800
    trusted_proxy: bool = False
    page_cache_seconds: int = 5
    processes: int = 1


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = DEFAULT_DB_URL
    echo: bool = False


@dataclass(frozen=True)
class MediaConfig:
    root: Path = Path("data/media")
    max_upload_bytes: int = 16 * 1024 * 1024
    max_pixels: int = 33_177_600
    max_attachments: int = 10
    max_alt_text: int = 1500


@dataclass(frozen=True)
class FederationConfig:
    allow_private_addresses: bool = False
    authorized_fetch: bool = False
    delivery_max_age_hours: int = 72
    delivery_concurrency: int = 64


@dataclass(frozen=True)
class Config:
    instance: InstanceConfig = field(default_factory=InstanceConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    media: MediaConfig = field(default_factory=MediaConfig)
    federation: FederationConfig = field(default_factory=FederationConfig)
    source: Path | None = None

    @property
    def base_url(self) -> str:
        return f"{self.instance.scheme}://{self.instance.domain}"


_SECTIONS: dict[str, type] = {
    "instance": InstanceConfig,
    "server": ServerConfig,
    "database": DatabaseConfig,
    "media": MediaConfig,
    "federation": FederationConfig,
}


def _coerce(section: str, key: str, expected: Any, value: Any, base: Path) -> Any:
    name = f"{section}.{key}"
    if expected is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: expected true or false, got {value!r}")
        return value
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}: expected a whole number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{name}: must not be negative, got {value}")
        return value
    if expected is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{name}: expected a path as a string, got {value!r}")
        path = Path(value)
        return path if path.is_absolute() else (base / path)
    if not isinstance(value, str):
        raise ConfigError(f"{name}: expected a string, got {value!r}")
    return value


def _resolve_defaults(section_obj: Any, base: Path) -> Any:
    """Make default relative paths absolute against the base folder."""
    changes = {}
    for f in fields(section_obj):
        value = getattr(section_obj, f.name)
        if isinstance(value, Path) and not value.is_absolute():
            changes[f.name] = base / value
    return replace(section_obj, **changes) if changes else section_obj


def _sqlite_path(url: str) -> str | None:
    match = re.match(r"^sqlite(\+\w+)?:///(.*)$", url)
    return match.group(2) if match else None


def _resolve_db_url(url: str, base: Path) -> str:
    """Relative SQLite paths resolve against the config folder, like every other path."""
    rel = _sqlite_path(url)
    if rel is None or rel in ("", ":memory:") or rel.startswith("/"):
        return url
    prefix = url[: len(url) - len(rel)]
    return prefix + str((base / rel).resolve())


def _check_processes(config: Config, name: str) -> None:
    count = config.server.processes
    if not 1 <= count <= 32:
        raise ConfigError(f"{name}: must be between 1 and 32, got {count}")
    if count > 1 and not hasattr(os, "fork"):
        raise ConfigError(f"{name}: several web processes need fork() (Linux, macOS, BSD)")
    if count > 1 and ":memory:" in config.database.url:
        raise ConfigError(
            f"{name}: several web processes need a database file or server, "
            "not an in-memory database"
        )


def with_processes(config: Config, count: int) -> Config:
    """``config`` with ``[server] processes`` overridden (``tessera serve --processes``),
    checked as the file's value is."""
    changed = replace(config, server=replace(config.server, processes=count))
    _check_processes(changed, "--processes")
    return changed


def _validate(config: Config, *, base: Path, default_base: bool) -> None:
    inst = config.instance
    if inst.registrations not in REGISTRATION_MODES:
        raise ConfigError(
            f"instance.registrations: must be one of {', '.join(REGISTRATION_MODES)}, "
            f"got {inst.registrations!r}"
        )
    if inst.scheme not in ("http", "https"):
        raise ConfigError(f"instance.scheme: must be http or https, got {inst.scheme!r}")
    if not re.fullmatch(r"[A-Za-z0-9.-]+(:\d{1,5})?", inst.domain):
        raise ConfigError(f"instance.domain: not a host name (with optional port): {inst.domain!r}")
    if not 0 < config.server.port < 65536:
        raise ConfigError(f"server.port: must be between 1 and 65535, got {config.server.port}")
    _check_processes(config, "server.processes")
    url = config.database.url
    if not (url.startswith("sqlite+aiosqlite://") or url.startswith("postgresql+asyncpg://")):
        raise ConfigError(
            "database.url: must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    if config.media.max_attachments < 1 or config.media.max_attachments > 20:
        raise ConfigError("media.max_attachments: must be between 1 and 20")
    if not 1 <= config.federation.delivery_concurrency <= 1000:
        raise ConfigError("federation.delivery_concurrency: must be between 1 and 1000")
    if config.media.max_pixels < 1 or config.media.max_upload_bytes < 1:
        raise ConfigError("media.max_pixels and media.max_upload_bytes: must be positive")
    # A folder outside the config's own folder must have an existing parent: a typo in
    # an absolute path is an error, not a surprise tree of folders somewhere else.
    # Folders under the config's folder (like the default ./data) are created.
    if default_base:
        return
    checks: list[tuple[str, Path]] = [
        ("media.root", config.media.root),
        ("server.secret_key_file", config.server.secret_key_file.parent),
    ]
    db_path = _sqlite_path(url)
    if db_path and db_path != ":memory:":
        checks.append(("database.url", Path(db_path).parent))
    for key, folder in checks:
        if folder.resolve().is_relative_to(base.resolve()):
            continue  # created on first start, like the default ./data
        if not folder.parent.is_dir():
            raise ConfigError(f"{key}: folder {folder.parent} does not exist")


def load_config(path: Path | None = None, *, env: dict[str, str] | None = None) -> Config:
    """Load the configuration: an explicit path, else $TESSERA_CONFIG, else ./config.toml,
    else the embedded defaults (data under ./data)."""
    env = dict(os.environ) if env is None else env
    if path is None and env.get("TESSERA_CONFIG"):
        path = Path(env["TESSERA_CONFIG"])
    if path is None and Path("config.toml").is_file():
        path = Path("config.toml")
    if path is None:
        base = Path.cwd()
        cfg = Config(**{name: _resolve_defaults(cls(), base) for name, cls in _SECTIONS.items()})
        cfg = replace(
            cfg, database=replace(cfg.database, url=_resolve_db_url(cfg.database.url, base))
        )
        _validate(cfg, base=base, default_base=True)
        return cfg
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    base = path.resolve().parent
    return config_from_dict(raw, base=base, source=path.resolve())


def config_from_dict(raw: dict[str, Any], *, base: Path, source: Path | None = None) -> Config:
    """Build a validated Config from parsed TOML (also used by tests)."""
    sections: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in _SECTIONS:
            raise ConfigError(f"{name}: unknown section (known: {', '.join(_SECTIONS)})")
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: must be a table ([{name}])")
    for name, cls in _SECTIONS.items():
        given = raw.get(name, {})
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in given.items():
            if key not in known:
                raise ConfigError(f"{name}.{key}: unknown key (known: {', '.join(known)})")
            default = getattr(cls(), key)
            expected = Path if isinstance(default, Path) else type(default)
            kwargs[key] = _coerce(name, key, expected, value, base)
        sections[name] = _resolve_defaults(cls(**kwargs), base)
    cfg = Config(**sections, source=source)
    cfg = replace(cfg, database=replace(cfg.database, url=_resolve_db_url(cfg.database.url, base)))
    _validate(cfg, base=base, default_base=False)
    return cfg
