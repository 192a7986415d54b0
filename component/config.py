"""The daemon's configuration: TOML checked once into frozen dataclasses.

Every problem in a file is collected and reported together; `ConfigError` carries them and
`__main__` exits with EX_CONFIG (78), which the systemd unit does not restart on. The shapes
themselves are in `config_model`; they are re-exported here.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from component.config_model import (
    EX_CONFIG,
    PLACEHOLDER_SECRETS,
    SERVER_KINDS,
    SYNCHRONOUS_MODES,
    AdhocConfig,
    Config,
    ConfigError,
    DeliveryConfig,
    HttpConfig,
    Integrator,
    KeysConfig,
    LimitsConfig,
    LogConfig,
    SharedConfig,
    StoreConfig,
    XmppConfig,
)
from component.jid import is_valid_domain

__all__ = [
    "EX_CONFIG",
    "PLACEHOLDER_SECRETS",
    "SERVER_KINDS",
    "SYNCHRONOUS_MODES",
    "AdhocConfig",
    "Config",
    "ConfigError",
    "DeliveryConfig",
    "HttpConfig",
    "Integrator",
    "KeysConfig",
    "LimitsConfig",
    "LogConfig",
    "SharedConfig",
    "StoreConfig",
    "XmppConfig",
    "contradictions",
    "is_loopback",
    "load_config",
    "parse_config",
]

T = TypeVar("T")


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
    server_kind = r.get("server_kind", str, "ejabberd")
    r.check("server_kind", server_kind in SERVER_KINDS, f"one of {sorted(SERVER_KINDS)}")
    timings = {k: r.get(k, float, d) for k, d in
               (("ping_interval", 30.0), ("iq_timeout", 10.0), ("reconnect_max_delay", 5.0))}
    for key, value in timings.items():
        r.check(key, value > 0, "must be positive")
    balanced = r.get("balanced", bool, False)
    r.check("balanced", not balanced or server_kind == "ejabberd",
            "only ejabberd balances one component domain over several connections")
    carbons = r.get("carbons", bool, True)
    r.unknown_keys({*fields, "port", "hosts", "server_kind", "balanced", "carbons", *timings})
    return XmppConfig(server=fields["server"], port=port, domain=fields["domain"],
                      secret=fields["secret"], hosts=hosts, muc_domain=fields["muc_domain"],
                      ping_interval=timings["ping_interval"], iq_timeout=timings["iq_timeout"],
                      reconnect_max_delay=timings["reconnect_max_delay"],
                      server_kind=server_kind, balanced=balanced, carbons=carbons)


def _http(doc: dict[str, Any], problems: list[str]) -> HttpConfig:
    r = _Reader(_table(doc, "http", problems), "http", problems)
    bind = r.get("bind", str, "127.0.0.1")
    port = r.get("port", int, 10050)
    r.check("port", _is_port(port), "not a TCP port")
    r.check("bind", _is_ip(bind), "must be an IP address")
    defaults = HttpConfig()
    request_timeout = r.get("request_timeout", float, defaults.request_timeout)
    r.check("request_timeout", request_timeout > 0, "must be positive")
    max_connections = r.get("max_connections", int, defaults.max_connections)
    r.check("max_connections", max_connections > 0, "must be positive")
    r.unknown_keys({"bind", "port", "always_200", "request_timeout", "max_connections"})
    return HttpConfig(bind=bind, port=port, always_200=r.get("always_200", bool, False),
                      request_timeout=request_timeout, max_connections=max_connections)


def _store(doc: dict[str, Any], problems: list[str]) -> StoreConfig:
    r = _Reader(_table(doc, "store", problems), "store", problems)
    synchronous = r.get("synchronous", str, "normal")
    r.check("synchronous", synchronous in SYNCHRONOUS_MODES,
            f"one of {', '.join(map(repr, SYNCHRONOUS_MODES))}")
    r.unknown_keys({"path", "synchronous"})
    return StoreConfig(path=Path(r.get("path", str, "qtalk-component.db")),
                       synchronous=synchronous)


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


def _delivery(doc: dict[str, Any], problems: list[str]) -> DeliveryConfig:
    r = _Reader(_table(doc, "delivery", problems), "delivery", problems)
    ttls = {k: r.get(k, float, d) for k, d in
            (("known_recipient_ttl", 300.0), ("unknown_recipient_ttl", 10.0))}
    config = DeliveryConfig(outbox_max=r.get("outbox_max", int, 100_000),
                            window=r.get("window", int, 2000),
                            ack_timeout=r.get("ack_timeout", float, 10.0),
                            durable=r.get("durable", bool, True),
                            check_recipients=r.get("check_recipients", bool, True), **ttls)
    r.check("outbox_max", config.outbox_max > 0, "must be positive")
    r.check("window", 0 < config.window < 10_000,
            "must be between 1 and 9999 (ejabberd's max_fsm_queue is 10000)")
    r.check("ack_timeout", config.ack_timeout > 0, "must be positive")
    for key, value in ttls.items():
        r.check(key, value >= 0, "must not be negative")
    r.unknown_keys({"outbox_max", "window", "ack_timeout", "durable", "check_recipients",
                    *ttls})
    return config


def _adhoc(doc: dict[str, Any], problems: list[str]) -> AdhocConfig:
    r = _Reader(_table(doc, "adhoc", problems), "adhoc", problems)
    admins = r.table.get("admins", [])
    if not isinstance(admins, list) or not all(isinstance(a, str) for a in admins):
        r.check("admins", False, "expected a list of bare JIDs")
        admins = []
    for admin in admins:
        local, at, domain = admin.partition("@")
        r.check("admins", bool(at and local and is_valid_domain(domain) and "/" not in admin),
                f"{admin!r} is not a bare user JID")
    r.unknown_keys({"admins"})
    return AdhocConfig(admins=frozenset(a.lower() for a in admins))


def _keys(doc: dict[str, Any], problems: list[str]) -> KeysConfig:
    r = _Reader(_table(doc, "keys", problems), "keys", problems)
    config = KeysConfig(backend=r.get("backend", str, "store"),
                        redis_url=r.get("redis_url", str, "redis://127.0.0.1:6379/2"),
                        key_ttl=r.get("key_ttl", float, 30 * 86400.0))
    r.check("backend", config.backend in ("store", "redis"), "one of 'store', 'redis'")
    _check_redis_url(r, config.redis_url)
    r.check("key_ttl", config.key_ttl > 0, "must be positive")
    r.unknown_keys({"backend", "redis_url", "key_ttl"})
    return config


def _shared(doc: dict[str, Any], problems: list[str]) -> SharedConfig:
    r = _Reader(_table(doc, "shared", problems), "shared", problems)
    url = r.table.get("redis_url")
    if url is not None:
        url = r.get("redis_url", str)
        _check_redis_url(r, url)
    r.unknown_keys({"redis_url"})
    return SharedConfig(redis_url=url)


def _check_redis_url(r: _Reader, url: str) -> None:
    r.check("redis_url", url.startswith(("redis://", "unix://")),
            "expected redis://host:port/db or unix:///path?db=N")


def _integrators(doc: dict[str, Any], problems: list[str]) -> tuple[Integrator, ...]:
    raw = doc.get("integrators", [])
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        problems.append("integrators: expected [[integrators]] tables")
        return ()
    found = tuple(_integrator(t, f"integrators[{i}]", problems) for i, t in enumerate(raw))
    names = [i.name for i in found]
    if len(set(names)) != len(names):
        problems.append("integrators: names must be unique")
    return found


def _integrator(table: dict[str, Any], prefix: str, problems: list[str]) -> Integrator:
    r = _Reader(table, prefix, problems)
    name = r.get("name", str)
    token = r.get("token_sha256", str).lower()
    r.check("token_sha256", len(token) == 64 and all(c in "0123456789abcdef" for c in token),
            "expected the hex SHA-256 of the bearer token (64 hex digits)")
    lists = {key: _str_list(r, key) for key in ("endpoints", "hosts")}
    nets = []
    for text in _str_list(r, "allow_ips", required=False):
        try:
            nets.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            r.check("allow_ips", False, f"{text!r} is not an IP network")
    rate = r.table.get("rate")
    r.check("rate", rate is None or (isinstance(rate, int | float) and not isinstance(rate, bool)
                                     and rate > 0), "must be a positive number")
    r.unknown_keys({"name", "token_sha256", "endpoints", "hosts", "allow_ips", "rate"})
    return Integrator(name=name, token_sha256=token, endpoints=frozenset(lists["endpoints"]),
                      hosts=frozenset(h.lower() for h in lists["hosts"]),
                      allow_ips=tuple(nets),
                      rate=float(rate) if isinstance(rate, int | float) else None)


def _str_list(r: _Reader, key: str, *, required: bool = True) -> list[str]:
    value = r.table.get(key)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) \
            or (required and not value):
        r.check(key, False, "expected a non-empty list of strings")
        return []
    return value


SECTIONS: dict[str, Callable[[dict[str, Any], list[str]], Any]] = {
    "xmpp": _xmpp, "http": _http, "store": _store, "limits": _limits, "log": _log,
    "delivery": _delivery, "adhoc": _adhoc, "keys": _keys, "shared": _shared,
    "integrators": _integrators,
}


def parse_config(doc: dict[str, Any]) -> Config:
    """Check a decoded TOML document; raise ConfigError listing every problem."""
    problems: list[str] = []
    sections = {name: read(doc, problems) for name, read in SECTIONS.items()}
    problems += [f"{key}: unknown section" for key in sorted(set(doc) - set(SECTIONS))]
    config = Config(**sections)
    problems += contradictions(config)
    if problems:
        raise ConfigError(problems)
    return config


def contradictions(config: Config) -> list[str]:
    """What the sections say against each other (asked again of what a reload makes of a new
    file and the settings the running daemon keeps)."""
    bind = config.http.bind
    if _is_ip(bind) and not is_loopback(bind) and not config.integrators:
        return ["http.bind: no [[integrators]] credentials are configured, so the API is "
                "open and may only listen on a loopback address"]
    return []


def load_config(path: Path) -> Config:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc
    return parse_config(doc)
