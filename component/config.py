"""The daemon's configuration: TOML checked once into frozen dataclasses.

Every problem in a file is collected and reported together; `ConfigError` carries them and
`__main__` exits with EX_CONFIG (78), which the systemd unit does not restart on.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from component.jid import is_valid_domain

EX_CONFIG = 78
PLACEHOLDER_SECRETS = frozenset({"", "...", "secret", "change-me", "changeme", "password"})

T = TypeVar("T")


class ConfigError(Exception):
    """Every problem found in a config file, one per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class XmppConfig:
    server: str
    port: int
    domain: str
    secret: str
    hosts: tuple[str, ...]
    muc_domain: str
    ping_interval: float = 30.0
    iq_timeout: float = 10.0
    reconnect_max_delay: float = 30.0


@dataclass(frozen=True)
class HttpConfig:
    bind: str = "127.0.0.1"
    port: int = 10050
    always_200: bool = False


@dataclass(frozen=True)
class StoreConfig:
    path: Path = Path("qtalk-component.db")


@dataclass(frozen=True)
class LimitsConfig:
    max_request_bytes: int = 1 << 20
    max_stanza_bytes: int = 64 << 10
    max_body_chars: int = 32 << 10
    max_items: int = 1000


@dataclass(frozen=True)
class LogConfig:
    level: str = "INFO"
    json: bool = False


@dataclass(frozen=True)
class Config:
    xmpp: XmppConfig
    http: HttpConfig = field(default_factory=HttpConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    log: LogConfig = field(default_factory=LogConfig)


class _Reader:
    """Reads typed values out of one TOML table, recording problems instead of raising."""

    def __init__(self, table: dict[str, Any], prefix: str, problems: list[str]) -> None:
        self.table, self.prefix, self.problems = table, prefix, problems

    def get(self, key: str, kind: type[T], default: T | None = None) -> T:
        value = self.table.get(key, default)
        name = f"{self.prefix}.{key}"
        if value is None:
            self.problems.append(f"{name}: missing")
            return kind()
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            self.problems.append(f"{name}: expected {kind.__name__}, got {type(value).__name__}")
            return kind()
        return value

    def check(self, key: str, ok: bool, problem: str) -> None:
        if not ok:
            self.problems.append(f"{self.prefix}.{key}: {problem}")

    def unknown_keys(self, known: set[str]) -> None:
        for key in sorted(set(self.table) - known):
            self.problems.append(f"{self.prefix}.{key}: unknown key")


def _table(doc: dict[str, Any], name: str, problems: list[str]) -> dict[str, Any]:
    value = doc.get(name, {})
    if not isinstance(value, dict):
        problems.append(f"{name}: expected a table")
        return {}
    return value


def _is_port(value: int) -> bool:
    return 0 < value < 65536


def _domains(r: _Reader, key: str) -> tuple[str, ...]:
    raw = r.table.get(key)
    if not isinstance(raw, list) or not raw or not all(isinstance(h, str) for h in raw):
        r.check(key, False, "expected a non-empty list of domain names")
        return ()
    for host in raw:
        r.check(key, is_valid_domain(host), f"{host!r} is not a valid domain")
    return tuple(h.lower() for h in raw)


def _xmpp(doc: dict[str, Any], problems: list[str]) -> XmppConfig:
    r = _Reader(_table(doc, "xmpp", problems), "xmpp", problems)
    fields = {f: r.get(f, str) for f in ("server", "domain", "secret", "muc_domain")}
    port = r.get("port", int, 5347)
    r.check("port", _is_port(port), "not a TCP port")
    for key in ("domain", "muc_domain"):
        r.check(key, is_valid_domain(fields[key]), "not a valid domain")
    r.check("secret", fields["secret"] not in PLACEHOLDER_SECRETS, "set a real shared secret")
    hosts = _domains(r, "hosts")
    r.check("domain", fields["domain"] not in hosts, "must differ from the user domains")
    timings = {k: r.get(k, float, d) for k, d in
               (("ping_interval", 30.0), ("iq_timeout", 10.0), ("reconnect_max_delay", 30.0))}
    for key, value in timings.items():
        r.check(key, value > 0, "must be positive")
    r.unknown_keys({*fields, "port", "hosts", *timings})
    return XmppConfig(server=fields["server"], port=port, domain=fields["domain"],
                      secret=fields["secret"], hosts=hosts, muc_domain=fields["muc_domain"],
                      ping_interval=timings["ping_interval"], iq_timeout=timings["iq_timeout"],
                      reconnect_max_delay=timings["reconnect_max_delay"])


def _http(doc: dict[str, Any], problems: list[str]) -> HttpConfig:
    r = _Reader(_table(doc, "http", problems), "http", problems)
    bind = r.get("bind", str, "127.0.0.1")
    port = r.get("port", int, 10050)
    r.check("port", _is_port(port), "not a TCP port")
    r.check("bind", _is_ip(bind), "must be an IP address")
    r.check("bind", not _is_ip(bind) or is_loopback(bind),
            "the API has no integrator credentials configured, so it may only listen on a "
            "loopback address")
    r.unknown_keys({"bind", "port", "always_200"})
    return HttpConfig(bind=bind, port=port, always_200=r.get("always_200", bool, False))


def _store(doc: dict[str, Any], problems: list[str]) -> StoreConfig:
    r = _Reader(_table(doc, "store", problems), "store", problems)
    r.unknown_keys({"path"})
    return StoreConfig(path=Path(r.get("path", str, "qtalk-component.db")))


def _limits(doc: dict[str, Any], problems: list[str]) -> LimitsConfig:
    r = _Reader(_table(doc, "limits", problems), "limits", problems)
    defaults = LimitsConfig()
    values = {k: r.get(k, int, getattr(defaults, k)) for k in defaults.__dataclass_fields__}
    for key, value in values.items():
        r.check(key, value > 0, "must be positive")
    r.unknown_keys(set(values))
    return LimitsConfig(**values)


def _log(doc: dict[str, Any], problems: list[str]) -> LogConfig:
    r = _Reader(_table(doc, "log", problems), "log", problems)
    level = r.get("level", str, "INFO").upper()
    r.check("level", level in {"DEBUG", "INFO", "WARNING", "ERROR"}, "unknown log level")
    r.unknown_keys({"level", "json"})
    return LogConfig(level=level, json=r.get("json", bool, False))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address).is_loopback


SECTIONS: dict[str, Callable[[dict[str, Any], list[str]], Any]] = {
    "xmpp": _xmpp, "http": _http, "store": _store, "limits": _limits, "log": _log,
}


def parse_config(doc: dict[str, Any]) -> Config:
    """Check a decoded TOML document; raise ConfigError listing every problem."""
    problems: list[str] = []
    sections = {name: read(doc, problems) for name, read in SECTIONS.items()}
    problems += [f"{key}: unknown section" for key in sorted(set(doc) - set(SECTIONS))]
    if problems:
        raise ConfigError(problems)
    return Config(**sections)


def load_config(path: Path) -> Config:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc
    return parse_config(doc)
