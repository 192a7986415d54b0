"""add_host (original-behaviour.md §2.13): serve one more user domain, at once and for good.

An integrator may add only a domain its `hosts` scope covers (or "*")."""

from __future__ import annotations

from component.http import audit, auth
from component.http import body as fields
from component.http.envelope import Answer, success
from component.http.route import POST, Request, Route
from component.http.shapes import AddHost
from component.services.hosts import HostRegistry


class HostRoutes:
    def __init__(self, hosts: HostRegistry) -> None:
        self.hosts = hosts

    def routes(self) -> list[Route]:
        return [Route("add_host", POST, self.add_host)]

    async def add_host(self, request: Request) -> Answer:
        host = fields.decode(request.body, AddHost).host
        auth.require_host(request, host.strip().rstrip("."))
        audit.note(request, targets=[host])
        result = await self.hosts.add(host)
        return success({"host": result.domain, "added": result.added},
                       errmsg="success" if result.added else "already served")
