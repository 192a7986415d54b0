"""The server profiles (component/servers.py): one per configurable server kind, the pieces
app.py builds from them, and README's compatibility table kept equal to the capabilities."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from component.config import SERVER_KINDS
from component.jid import Jid
from component.servers import PROFILES, Capabilities, profile_of
from component.xmpp.accounts import build_account_probe
from component.xmpp.ejabberd_muc import EjabberdMuc
from component.xmpp.prosody_muc import ProsodyMuc
from tests.unit.fake_muc import ScriptedIq
from tests.unit.fakes import COMPONENT, HOST, MUC

README = Path(__file__).parents[2] / "README.md"


class Port(ScriptedIq):
    def send(self, stanza: object) -> None:
        raise AssertionError("nothing is sent by building a MucServer")


class NoRooms:
    async def synced_at(self) -> dict[Jid, float]:
        return {}


def test_every_configurable_kind_has_a_profile() -> None:
    assert set(PROFILES) == set(SERVER_KINDS)
    assert all(profile_of(kind).kind == kind for kind in SERVER_KINDS)


def test_each_profile_builds_its_own_muc_server() -> None:
    port, rooms = Port(), NoRooms()
    assert isinstance(profile_of("ejabberd").muc(port, MUC, rooms), EjabberdMuc)
    assert isinstance(profile_of("prosody").muc(port, MUC, rooms), ProsodyMuc)


def test_the_account_probe_is_the_message_that_bounces_on_each_server() -> None:
    probes = {kind: build_account_probe(Jid.parse(COMPONENT), Jid("bob", HOST), stanza_id="p",
                                        message_type=profile_of(kind).probe_type)
              for kind in SERVER_KINDS}
    assert b'type="headline"' in probes["ejabberd"].data  # ejabberd drops it for offline users
    assert b'type="normal"' in probes["prosody"].data  # Prosody drops headlines for all


def test_readme_compatibility_table_matches_the_capabilities() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- capabilities")[1].split("<!-- /capabilities -->")[0]
    rows = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 5 and (name := re.fullmatch(r"`(\w+)`", cells[1])):
            rows[name.group(1)] = (cells[2].startswith("yes"), cells[3].startswith("yes"))
    expected = {field.name: (getattr(profile_of("ejabberd").capabilities, field.name),
                             getattr(profile_of("prosody").capabilities, field.name))
                for field in fields(Capabilities)}
    assert rows == expected
