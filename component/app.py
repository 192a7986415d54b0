"""Composition root and lifecycle: the only module that knows every other one.

Start order (`Daemon.start`): the store's hosts, the delivery's outbox, the link, HTTP, the
background loops. Each step pushes its undoing onto one AsyncExitStack as it succeeds, so a
start that fails halfway is unwound by `stop()`, and `stop()` undoes every step, in reverse,
even when one of them raises: stop accepting requests and let those in flight finish, drain
the dispatcher, close the recipient check, the resync and the keys, drain the delivery over
the link, stop the link (`</stream:stream>`), cancel the loops, close the store. SIGHUP
reloads the config file (component/reload.py says what a running daemon can change).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from component.adhoc.adapter import AdhocAdapter
from component.adhoc.admin import add_host_command, get_web_key_command, status_command
from component.adhoc.commands import CommandRegistry
from component.adhoc.rooms import RoomCommands
from component.config import Config, ConfigError, load_config
from component.http import audit
from component.http.health import health_routes
from component.http.hosts import HostRoutes
from component.http.idempotency import IdempotencyStorage
from component.http.messages import MessageRoutes
from component.http.observe import metrics_route
from component.http.openapi import openapi_route
from component.http.rooms import RoomRoutes
from component.http.route import Route
from component.http.server import make_pipeline, make_server, reconfigure
from component.http.users import UserRoutes
from component.logs import setup_logging
from component.metrics import Metrics, Snapshot
from component.reload import plan
from component.servers import profile_of
from component.services.accounts import AccountProbe
from component.services.caller_ids import SharedCallerIds
from component.services.delivery import OutboxDelivery
from component.services.hosts import HostRegistry, HostStorage
from component.services.keys import KeyService, KeyStorage
from component.services.messages import MessageService
from component.services.nicks import NickDirectory
from component.services.recipients import Lost, RecipientCheck
from component.services.room_admin import RoomAdmin
from component.services.room_directory import RoomDirectory
from component.services.room_resync import RoomResync
from component.services.room_service import RoomService
from component.services.status import StatusService, StatusSources
from component.services.users import UserService
from component.store.counts import count_rows
from component.store.db import Database
from component.store.hosts import HostStore
from component.store.keys import KeyStore, RedisKeys
from component.store.outbox import SqliteOutbox
from component.store.rooms import SqliteRoomStore
from component.store.shared import SharedRedis
from component.store.shared_state import (
    RedisCallerIds,
    RedisHostStore,
    RedisIdempotencyStore,
    RedisKeyStore,
)
from component.store.vcards import VcardCache
from component.systemd import notify, watchdog_interval
from component.tasks import TaskOwner
from component.xmpp.dispatch import Dispatcher, Identity
from component.xmpp.link import ComponentLink
from component.xmpp.ports import BoundedIq

log = logging.getLogger(__name__)
SHUTDOWN_GRACE = 10.0
RESYNC_IQS = 16  # iqs the room resync keeps in flight


@dataclass(frozen=True, slots=True)
class SharedState:
    """Where the state every daemon of a cluster must see lives (DESIGN.md §9): Redis with
    `[shared] redis_url`, else this daemon's store (caller ids then stay with the outbox)."""

    redis: SharedRedis | None
    keys: KeyStorage
    hosts: HostStorage
    answers: IdempotencyStorage | None
    caller_ids: RedisCallerIds | None

    @classmethod
    def of(cls, config: Config, db: Database) -> SharedState:
        if config.shared.redis_url is None:
            return cls(None, KeyStore(db), HostStore(db), None, None)
        redis = SharedRedis(config.shared.redis_url, config.xmpp.domain)
        return cls(redis, RedisKeyStore(redis), RedisHostStore(redis),
                   RedisIdempotencyStore(redis), RedisCallerIds(redis))


class Daemon:
    """One running qtalk-component: the link, the services and the HTTP site."""

    def __init__(self, config: Config, db: Database) -> None:
        self.config = config
        self.db = db
        self.profile = profile_of(config.xmpp.server_kind)  # all that differs per server
        self.shared = SharedState.of(config, db)
        self.hosts = HostRegistry(config.xmpp.hosts, config.xmpp.muc_domain,
                                  store=self.shared.hosts, reserved=(config.xmpp.domain,))
        self.link = ComponentLink(config.xmpp,
                                  max_stanza_bytes=config.limits.max_inbound_stanza_bytes,
                                  is_served_host=self.hosts.is_served,
                                  on_stanza=lambda stanza: self.dispatcher(stanza))
        self.dispatcher = Dispatcher(self.link.jid, self.link.send,
                                     Identity("component", "generic", "QTalk integration API"))
        outbox = SqliteOutbox(db, synchronous=config.store.synchronous) \
            if config.delivery.durable else None
        self.delivery = OutboxDelivery(self.link, outbox, config.delivery)
        self._wire_rooms(config, db)
        self.recipients = self._wire_accounts(config)
        user_routes = self._wire_users_and_commands(config, db)
        self.metrics = self._wire_metrics(db)
        self._fixed_routes = [
            *user_routes,
            *health_routes(link_up=self.link.up.is_set, store_writable=db.writable,
                           shared_reachable=self.shared.redis.ping if self.shared.redis
                           else None),
            metrics_route(self.metrics)]
        self.pipeline = make_pipeline(config, self._routes(config), db=db, metrics=self.metrics,
                                      answers=self.shared.answers)
        self.http = make_server(config, self.pipeline,
                                handed_over=self.delivery.commit_pending)
        self._listening = False
        self._started = contextlib.AsyncExitStack()  # the undoing of each step, in order
        self._started.push_async_callback(db.close)  # the daemon owns its store from here
        if self.shared.redis is not None:
            self._started.push_async_callback(self.shared.redis.close)
        self._loops = TaskOwner()  # every background loop; cancelled before the store closes
        self._started.push_async_callback(self._loops.close)

    def _wire_metrics(self, db: Database) -> Metrics:
        """Prometheus metrics (issue 6): state is read when scraped, not kept up to date."""
        metrics = Metrics()
        started, rooms = time.monotonic(), [0]

        async def count_rooms() -> None:
            rooms[0] = await count_rows(db, "rooms")

        metrics.watch(lambda: Snapshot(
            link_up=self.link.up.is_set(), reconnects=self.link.reconnects,
            stanzas_sent=self.link.stanzas_sent, outbox_depth=self.delivery.depth,
            window=self.delivery.window, replays=self.delivery.replays,
            store_bytes=db.size_bytes(), rooms=rooms[0],
            uptime_seconds=time.monotonic() - started, account_probes=self.recipients.probes,
            recipients_refused=self.recipients.refused,
            messages_bounced=self.recipients.bounced))
        metrics.before_scrape(count_rooms)
        self.link.observe_iq = metrics.iq_rtt.observe
        return metrics

    def _routes(self, config: Config) -> list[Route]:
        """Every route; those whose handlers hold limits or describe the config are built
        for `config` (again on a reload: requests in flight keep the routes they began with)."""
        sink = self.delivery if self.shared.caller_ids is None else \
            SharedCallerIds(self.delivery, self.shared.caller_ids)
        messages = MessageService(sink, self.hosts,
                                  max_stanza_bytes=config.limits.max_stanza_bytes,
                                  max_body_chars=config.limits.max_body_chars,
                                  groups=self.rooms, carbons=config.xmpp.carbons,
                                  recipients=self.recipients if config.delivery.check_recipients
                                  else None)
        return [*MessageRoutes(messages, config.limits).routes(),
                *RoomRoutes(self.rooms, self.room_admin, config.limits,
                            self.hosts.default_host).routes(),
                *self._fixed_routes, openapi_route(config)]

    def _wire_rooms(self, config: Config, db: Database) -> None:
        """Groups (issue 3): the server's rooms, their store and resync."""
        self.nicks = nicks = NickDirectory(self.link, VcardCache(db))
        store, domain = SqliteRoomStore(db), config.xmpp.muc_domain
        # With several daemons on one domain, another one may have changed a room a moment
        # ago: the store then answers nothing from memory, every read asks the server.
        directory = RoomDirectory(self.profile.muc(self.link, domain, store), store, self.hosts,
                                  fresh_for=0.0 if config.xmpp.balanced else 60.0)
        self.resync = RoomResync(directory, self.profile.muc(BoundedIq(self.link, RESYNC_IQS),
                                                             domain, store))
        self.rooms = RoomService(directory, self.delivery, nicks)
        self.room_admin = RoomAdmin(directory, self.resync, self.delivery, nicks)

    def _wire_accounts(self, config: Config) -> RecipientCheck:
        """The account probe, and what remembers its answers (issue 17)."""
        self.accounts = AccountProbe(self.link, config.xmpp.iq_timeout,
                                     message_type=self.profile.probe_type)
        self.dispatcher.listen(self.accounts.on_stanza)
        delivery = config.delivery
        recipients = RecipientCheck(
            self.accounts, self.hosts, unknown_for=delivery.unknown_recipient_ttl,
            known_for=math.inf if self.profile.returns_bounces
            else delivery.known_recipient_ttl, on_lost=_audit_lost)
        self.dispatcher.listen_for_users(recipients.on_bounce)
        return recipients

    def _wire_users_and_commands(self, config: Config, db: Database) -> list[Route]:
        """Users, keys, hosts and the ad-hoc commands (issue 4); returns their routes."""
        self.users = UserService(self.nicks, self.recipients, self.hosts)
        external = RedisKeys(config.keys.redis_url) if config.keys.backend == "redis" else None
        self.keys = KeyService(self.shared.keys, self.hosts, ttl=config.keys.key_ttl,
                               external=external)
        self.status = StatusService(StatusSources(
            link_state=lambda: self.link.state.value, queue_depth=lambda: self.delivery.depth,
            rooms=lambda: count_rows(db, "rooms"), cached_users=lambda: count_rows(db, "vcards"),
            hosts=self.hosts.hosts))
        self.commands = CommandRegistry(config.adhoc.admins, self.hosts.is_served)
        for command in (status_command(self.status), add_host_command(self.hosts),
                        get_web_key_command(self.keys),
                        *RoomCommands(self.rooms, self.room_admin, self.hosts).commands()):
            self.commands.add(command)
        AdhocAdapter(self.commands, self.link.jid).register(self.dispatcher)
        return [*UserRoutes(self.users, self.keys, self.hosts).routes(),
                *HostRoutes(self.hosts).routes()]

    @classmethod
    async def open(cls, config: Config) -> Daemon:
        """Open the store first: nothing is accepted before it is there."""
        db = await Database.open(config.store.path)
        try:
            return cls(config, db)
        except BaseException:
            await db.close()
            raise

    @property
    def http_port(self) -> int:
        return self.http.port if self._listening else self.config.http.port

    async def start(self) -> None:
        """Start in the order the module docstring states; `stop()` unwinds what started."""
        undo, loops = self._started, self._loops
        await self.hosts.load()
        loops.spawn(self.hosts.follow(), "shared hosts")  # hosts other daemons add (Redis)
        await self.delivery.start()  # the outbox is read before the link can ask to replay it
        self.link.start()
        undo.push_async_callback(self.link.stop)
        # The delivery drains over the link (its barriers are acknowledged there): first.
        undo.push_async_callback(self.delivery.drain, SHUTDOWN_GRACE)
        undo.push_async_callback(self.keys.close)
        undo.push_async_callback(self.resync.close)
        undo.push_async_callback(self.recipients.close)
        undo.push_async_callback(self.dispatcher.drain)
        self.link.on_up(self._link_up)
        self.link.on_up(self.resync.trigger)  # a drop may have lost state: rebuild the rooms
        await self.http.listen(self.config.http.bind, self.config.http.port)
        self._listening = True
        undo.push_async_callback(self.http.close, SHUTDOWN_GRACE)  # in-flight requests end
        loops.spawn(self.http.run_deadlines(), "http deadlines")
        if self.pipeline.idempotency is not None:
            loops.spawn(self.pipeline.idempotency.prune_forever(), "idempotency prune")
        log.info("HTTP API on %s:%d", self.config.http.bind, self.http_port)
        interval = watchdog_interval()
        if interval:
            loops.spawn(self._watchdog(interval), "systemd watchdog")

    def reload(self, path: Path) -> None:
        """Read `path` again and apply what a running daemon can change (SIGHUP); a file
        that does not validate changes nothing."""
        try:
            result = plan(self.config, load_config(path))
        except ConfigError as exc:
            log.error("reload: %s has %d problem(s); nothing changed, the daemon runs on "
                      "with the configuration it had", path, len(exc.problems))
            for problem in exc.problems:
                log.error("reload: %s", problem)
            return
        for key in result.kept:
            log.warning("reload: %s changed in %s, but a running daemon cannot change it: "
                        "it keeps its value until a restart", key, path)
        if result.config.log != self.config.log:
            setup_logging(result.config.log)
        self.commands.set_admins(result.config.adhoc.admins)
        reconfigure(self.pipeline, result.config, self._routes(result.config))
        self.config = result.config
        # A warning: shown under any log level an operator may just have reloaded to.
        log.warning("reload: %s read; %s", path, "applied " + ", ".join(result.applied)
                    if result.applied else "nothing to apply")

    def reload_when(self, wanted: asyncio.Event, path: Path) -> None:
        """Reload `path` each time `wanted` is set (by SIGHUP; several at once count as one)."""
        self._loops.spawn(self._reloads(wanted, path), "reloads")

    async def _reloads(self, wanted: asyncio.Event, path: Path) -> None:
        while True:
            await wanted.wait()
            wanted.clear()
            try:
                self.reload(path)
            except Exception:  # a reload that fails must not end the next ones
                log.exception("reload: %s failed; the daemon runs on as it was", path)

    @staticmethod
    def _link_up() -> None:
        notify("READY=1\nSTATUS=component link up")

    async def _watchdog(self, interval: float) -> None:
        while True:
            notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def stop(self) -> None:
        """Undo what `start` did, in reverse; every step runs even if an earlier one raised."""
        notify("STOPPING=1")
        await self._started.aclose()


def _audit_lost(lost: Lost) -> None:
    """A message lost to a removed account: counted (RecipientCheck), and audited here."""
    audit.write_event("message_bounced", {
        "id": lost.message_id, "to": str(lost.recipient), "from": str(lost.sender),
        "condition": lost.condition, "noticed_by": lost.noticed_by})


async def serve(config: Config, path: Path) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully; SIGHUP reloads `path`."""
    stop, reload_wanted = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # Handled from the first moment (its default ends the process): one that arrives while
    # the daemon starts is applied once it has.
    loop.add_signal_handler(signal.SIGHUP, reload_wanted.set)
    daemon = await Daemon.open(config)
    try:
        await daemon.start()  # inside: a start that fails is unwound as far as it got
        daemon.reload_when(reload_wanted, path)
        # What start-up allocated lives as long as the process: frozen, it is out of the
        # collector's sight, and a full collection scans only what requests leave behind
        # (without this, one paused the loop for about 20 ms; bench/RESULTS.md).
        gc.collect()
        gc.freeze()
        await stop.wait()
        log.info("stopping")
    finally:
        await daemon.stop()
