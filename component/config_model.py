"""The configuration's shape: frozen dataclasses, built once by `component.config`."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

EX_CONFIG = 78
SERVER_KINDS = frozenset({"ejabberd", "prosody"})
PLACEHOLDER_SECRETS = frozenset({"", "...", "secret", "change-me", "changeme", "password"})


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
    reconnect_max_delay: float = 5.0  # a refused connect costs nothing on loopback
    server_kind: str = "ejabberd"
    # Several daemons share this domain (ejabberd domain_balancing, type destination).
    balanced: bool = False
    # XEP-0280 `sent` carbons of injected chat messages to the sender's own clients.
    carbons: bool = True


@dataclass(frozen=True)
class HttpConfig:
    bind: str = "127.0.0.1"
    port: int = 10050
    always_200: bool = False
    request_timeout: float = 15.0  # seconds a request's head and body may take (then 408)
    max_connections: int = 1024    # open connections; the excess is answered 503 and closed
    idle_timeout: float = 75.0     # a keep-alive connection's wait for its next request


SYNCHRONOUS_MODES = ("normal", "full")


@dataclass(frozen=True)
class StoreConfig:
    path: Path = Path("qtalk-component.db")
    # "normal": a commit survives a kill -9 of the daemon; "full": also a power cut or a
    # kernel crash (the outbox's WAL is synced before its callers are answered).
    synchronous: str = "normal"


@dataclass(frozen=True)
class LimitsConfig:
    max_request_bytes: int = 1 << 20
    max_stanza_bytes: int = 64 << 10
    # From the XMPP server (trusted, but vCards with inline photos can be large): a cap
    # against runaway memory, not a policy; a stanza above it closes and reopens the link.
    max_inbound_stanza_bytes: int = 4 << 20
    max_body_chars: int = 32 << 10
    max_items: int = 1000


@dataclass(frozen=True)
class DeliveryConfig:
    """The outbox (DESIGN.md §3): its bound and the window of unacknowledged stanzas; the
    recipient check (issue 17)."""

    outbox_max: int = 100_000
    window: int = 2000
    ack_timeout: float = 10.0
    durable: bool = True
    # Recipients of a served domain must have an account (services/recipients.py); the
    # verdicts are remembered this long: a known account longer than an unknown name.
    check_recipients: bool = True
    known_recipient_ttl: float = 300.0
    unknown_recipient_ttl: float = 10.0


@dataclass(frozen=True)
class Integrator:
    """One caller of the API, authenticated by a bearer token of which only a hash is kept."""

    name: str
    token_sha256: str
    endpoints: frozenset[str]  # paths after /qtalk/, or "*"
    hosts: frozenset[str]      # user domains it may act for, or "*"
    allow_ips: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    rate: float | None = None  # requests per second


@dataclass(frozen=True)
class AdhocConfig:
    admins: frozenset[str] = frozenset()  # bare JIDs allowed to run the admin commands


@dataclass(frozen=True)
class KeysConfig:
    """Where auth_uk looks keys up: our own store, or Startalk's Redis (db 2, HGET)."""

    backend: str = "store"
    redis_url: str = "redis://127.0.0.1:6379/2"
    key_ttl: float = 30 * 86400.0


@dataclass(frozen=True)
class SharedConfig:
    """State every daemon of a cluster must see (DESIGN.md §9): in Redis when a URL is set,
    else in this daemon's own store."""

    redis_url: str | None = None


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
    delivery: DeliveryConfig = field(default_factory=DeliveryConfig)
    adhoc: AdhocConfig = field(default_factory=AdhocConfig)
    keys: KeysConfig = field(default_factory=KeysConfig)
    shared: SharedConfig = field(default_factory=SharedConfig)
    integrators: tuple[Integrator, ...] = ()
