"""A minimal real XMPP c2s client for the integration tests (RFC 6120 streams, no XMPP library).

SASL PLAIN over plaintext loopback, resource binding, optional initial presence; then a reader task
collects top-level stanzas (lxml elements in jabber:client) for `wait_for` to pick from. The parser
runs with entity expansion, DTDs and network access off, as the daemon's own does.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import itertools
from collections.abc import Callable
from xml.sax.saxutils import quoteattr

from lxml import etree

from component.xmpp.accounts import PROBE_NS

CLIENT_NS = "jabber:client"
STREAM_NS = "http://etherx.jabber.org/streams"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"
SESSION_NS = "urn:ietf:params:xml:ns:xmpp-session"

Predicate = Callable[[etree._Element], bool]
_ids = itertools.count(1)


def tag(name: str, ns: str = CLIENT_NS) -> str:
    return f"{{{ns}}}{name}"


def next_id(prefix: str = "c") -> str:
    return f"{prefix}{next(_ids)}"


def _new_parser() -> etree.XMLPullParser:
    return etree.XMLPullParser(
        events=("start", "end"), resolve_entities=False, load_dtd=False, no_network=True,
        huge_tree=False)


class XmppClient:
    """One authenticated c2s session. Create it with `await XmppClient.connect(...)`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, domain: str):
        self._reader, self._writer, self.domain = reader, writer, domain
        self.jid = ""  # the full JID the server bound
        self._parser = _new_parser()
        self._depth = 0
        self._stanzas: list[etree._Element] = []
        self._changed = asyncio.Condition()
        self._closed = False
        self.error: BaseException | None = None  # why the reader stopped, if not a clean EOF
        self._task = asyncio.create_task(self._read_loop())

    @property
    def bare(self) -> str:
        return self.jid.partition("/")[0]

    @classmethod
    async def connect(
        cls, host_port: int, jid: str, password: str, resource: str = "test", *,
        presence: bool = True,
    ) -> XmppClient:
        user, _, domain = jid.partition("@")
        reader, writer = await asyncio.open_connection("127.0.0.1", host_port)
        client = cls(reader, writer, domain)
        try:
            await asyncio.wait_for(client._negotiate(user, password, resource, presence), 10.0)
        except BaseException:
            await client.close()
            raise
        return client

    async def _negotiate(self, user: str, password: str, resource: str, presence: bool) -> None:
        await self._open_stream()
        token = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.send(f"<auth xmlns='{SASL_NS}' mechanism='PLAIN'>{token}</auth>")
        outcome = await self.wait_for(lambda el: el.tag in (tag("success", SASL_NS),
                                                             tag("failure", SASL_NS)))
        if outcome.tag != tag("success", SASL_NS):
            raise PermissionError(f"SASL failed for {user}@{self.domain}: "
                                  f"{etree.tostring(outcome).decode()}")
        # RFC 6120 §6.4.6: a new stream (and so a new parser) after SASL success.
        self._parser, self._depth = _new_parser(), 0
        features = await self._open_stream()
        bound = await self.request(
            f"<iq type='set' id='{next_id('bind')}'><bind xmlns='{BIND_NS}'>"
            f"<resource>{resource}</resource></bind></iq>")
        self.jid = bound.findtext(f"{tag('bind', BIND_NS)}/{tag('jid', BIND_NS)}") or ""
        if not self.jid:
            raise ConnectionError(f"bind failed: {etree.tostring(bound).decode()}")
        if features.find(tag("session", SESSION_NS)) is not None:
            await self.request(f"<iq type='set' id='{next_id('sess')}'>"
                               f"<session xmlns='{SESSION_NS}'/></iq>")
        if presence:
            self.send("<presence><priority>1</priority></presence>")
            # Wait for the server's echo (RFC 6121 §4.2.2): until then the session is not
            # available, and a message to the bare JID would go to offline storage instead.
            await self.wait_for(lambda el: el.tag == tag("presence")
                                and el.get("from") == self.jid)

    async def _open_stream(self) -> etree._Element:
        self.send(f"<?xml version='1.0'?><stream:stream xmlns='{CLIENT_NS}' "
                  f"xmlns:stream='{STREAM_NS}' to={quoteattr(self.domain)} version='1.0'>")
        return await self.wait_for(lambda el: el.tag == tag("features", STREAM_NS))

    # -- I/O ---------------------------------------------------------------------------------

    def send(self, xml: str | bytes) -> None:
        self._writer.write(xml.encode() if isinstance(xml, str) else xml)

    async def request(self, iq: str | bytes, timeout: float = 10.0) -> etree._Element:
        """Send an iq that carries an id; return the result or error iq with that id."""
        iq_id = etree.fromstring(iq).get("id")
        if not iq_id:
            raise ValueError("request() needs an iq with an id")
        self.send(iq)
        return await self.wait_for(
            lambda el: el.tag == tag("iq") and el.get("id") == iq_id
            and el.get("type") in ("result", "error"), timeout)

    async def wait_for(self, pred: Predicate, timeout: float = 10.0) -> etree._Element:
        """Return (and consume) the first received stanza matching `pred`, waiting if needed."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                while True:
                    for index, stanza in enumerate(self._stanzas):
                        if pred(stanza):
                            return self._stanzas.pop(index)
                    if self._closed:
                        raise ConnectionError(
                            f"{self.jid or self.domain}: stream closed ({self.error!r}); "
                            f"unconsumed: {self.dump()}")
                    await self._changed.wait()
        except TimeoutError:
            raise TimeoutError(f"{self.jid or self.domain}: nothing matched in {timeout} s; "
                               f"unconsumed: {self.dump()}") from None

    async def wait_message(
        self, pred: Predicate | None = None, timeout: float = 10.0
    ) -> etree._Element:
        """The first <message> (not consumed yet) for which `pred` holds."""
        return await self.wait_for(
            lambda el: el.tag == tag("message") and (pred is None or pred(el)), timeout)

    def messages(self) -> list[etree._Element]:
        """Messages received and not consumed yet (a snapshot; nothing is consumed)."""
        return [el for el in self._stanzas if el.tag == tag("message")]

    def messages_but_probes(self) -> list[etree._Element]:
        """`messages()` without the daemon's account probes: a first message to an online user
        brings one (bodyless: clients show nothing)."""
        return [el for el in self.messages() if el.find(f"{{{PROBE_NS}}}probe") is None]

    def dump(self) -> str:
        """The unconsumed stanzas as text, for assertion messages."""
        return "\n".join(etree.tostring(el).decode() for el in self._stanzas) or "(none)"

    async def set_vcard(self, vcard_xml: str) -> etree._Element:
        """Store our own vCard (XEP-0054); `vcard_xml` is the <vCard xmlns='vcard-temp'> element."""
        return await self.request(f"<iq type='set' id='{next_id('vc')}'>{vcard_xml}</iq>")

    async def close(self) -> None:
        if not self._writer.is_closing():
            with contextlib.suppress(OSError):
                self.send("</stream:stream>")
                await self._writer.drain()
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    # -- reading -----------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        try:
            while data := await self._reader.read(65536):
                stanzas = self._feed(data)
                if stanzas:
                    async with self._changed:
                        self._stanzas.extend(stanzas)
                        self._changed.notify_all()
        except (OSError, etree.XMLSyntaxError) as exc:
            self.error = exc
        finally:
            self._closed = True
            async with self._changed:
                self._changed.notify_all()

    def _feed(self, data: bytes) -> list[etree._Element]:
        """Feed bytes; return the top-level elements (stanzas, features, SASL) they completed."""
        self._parser.feed(data)
        done = []
        for event, el in self._parser.read_events():
            self._depth += 1 if event == "start" else -1
            if event == "end" and self._depth == 1 and isinstance(el, etree._Element):
                # A detached copy, and the original cleared, so the stream tree stays small.
                done.append(copy.deepcopy(el))
                el.clear()
                parent = el.getparent()
                if parent is not None:
                    parent.remove(el)
        return done
