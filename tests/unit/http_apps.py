"""The HTTP pipeline for unit tests (the message routes over a RecordingSink, with any
config), and a client that serves a pipeline on the real server over a loopback socket.

Configs go through `parse_config`, so the tests see exactly what a TOML file would give.
"""

from __future__ import annotations

import hashlib
from typing import Any

import aiohttp

from component.config import Config, parse_config
from component.http.auth import Gate
from component.http.health import health_routes
from component.http.listener import HttpServer, ServerLimits
from component.http.messages import MessageRoutes
from component.http.pipeline import Pipeline
from component.http.server import make_pipeline
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
                gate: Gate | None = None) -> Pipeline:
    service = MessageService(sink, hosts(), max_stanza_bytes=config.limits.max_stanza_bytes)
    return make_pipeline(config, [
        *MessageRoutes(service, config.limits).routes(),
        *health_routes(link_up=lambda: True, store_writable=_writable)], db=db, gate=gate)


async def _writable() -> bool:
    return True


TEST_LIMITS = ServerLimits(request_timeout=5.0, idle_timeout=30.0, max_connections=100)


class ApiClient:
    """`pipeline` served by the real HttpServer on a loopback port, and an aiohttp client:
    `await client.post("/qtalk/send_message", json=...)` gives an aiohttp ClientResponse."""

    def __init__(self, pipeline: Pipeline, limits: ServerLimits = TEST_LIMITS) -> None:
        self.pipeline = pipeline
        self.server = HttpServer(pipeline, limits)
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        await self.server.listen("127.0.0.1", 0)
        self._session = aiohttp.ClientSession()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        await self.server.close(1.0)

    async def __aenter__(self) -> ApiClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @property
    def port(self) -> int:
        return self.server.port

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        assert self._session is not None, "use `async with client_for(...)`"
        return self._session.request(method, f"http://127.0.0.1:{self.port}{path}", **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request("POST", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.request("GET", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> Any:
        return self.request("HEAD", path, **kwargs)


def client_for(pipeline: Pipeline) -> ApiClient:
    return ApiClient(pipeline)
