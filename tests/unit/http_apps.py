"""The HTTP app for unit tests: the message routes over a RecordingSink, with any config.

Configs go through `parse_config`, so the tests see exactly what a TOML file would give.
"""

from __future__ import annotations

import hashlib
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from component.config import Config, parse_config
from component.http.auth import Gate
from component.http.health import add_health_routes
from component.http.messages import MessageRoutes
from component.http.server import make_app
from component.services.messages import MessageService
from component.store.db import Database
from tests.unit.fakes import COMPONENT, HOST, MUC, RecordingSink, hosts
from tests.unit.test_config import good

SMALL_LIMITS = {"max_items": 5, "max_request_bytes": 20000, "max_stanza_bytes": 4000}


def make_config(**sections: Any) -> Config:
    """The unit-test config; a dict updates a section, a list replaces it (integrators)."""
    doc = good()
    doc["xmpp"].update(hosts=[HOST, "other.test.org"], muc_domain=MUC, domain=COMPONENT)
    doc["limits"] = dict(SMALL_LIMITS)
    for section, values in sections.items():
        if isinstance(values, dict):
            doc.setdefault(section, {}).update(values)
        else:
            doc[section] = values
    return parse_config(doc)


def integrator(name: str, token: str, **scope: Any) -> dict[str, Any]:
    """An [[integrators]] table; by default it may call everything for every host."""
    return {"name": name, "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
            "endpoints": ["*"], "hosts": ["*"], **scope}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def message_app(config: Config, sink: RecordingSink, db: Database | None = None,
                gate: Gate | None = None) -> web.Application:
    service = MessageService(sink, hosts(), max_stanza_bytes=config.limits.max_stanza_bytes)
    app = make_app(config, MessageRoutes(service, config.limits).routes(), db=db, gate=gate)
    add_health_routes(app, link_up=lambda: True, store_writable=_writable)
    return app


async def _writable() -> bool:
    return True


def client_for(app: web.Application) -> TestClient[Any, Any]:
    return TestClient(TestServer(app))
