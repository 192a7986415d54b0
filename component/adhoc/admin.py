"""The ad-hoc commands that are not about rooms: status and add-host (admins), get-web-key
(any user of a served domain). Each is a thin adapter over a service."""

from __future__ import annotations

from datetime import UTC, datetime

from component.adhoc.commands import Command, Note, Requester, Result, ask_first
from component.services.hosts import HostRegistry
from component.services.keys import KeyService
from component.services.status import StatusReport, StatusService
from component.xmpp.forms import Field, Form, Submission


def _result(title: str, values: dict[str, tuple[str, str]]) -> Form:
    """A result form of single-valued text fields: var → (label, value)."""
    return Form("result", title, fields=tuple(Field(var, "text-single", label, (value,))
                                              for var, (label, value) in values.items()))


def status_command(status: StatusService) -> Command:
    async def start(requester: Requester) -> Result:
        return Result(form=status_form(await status.report()))

    return Command("status", "Status of the component", start)


def status_form(report: StatusReport) -> Form:
    return _result("qtalk-component status", {
        "link": ("Component link", report.link),
        "queue": ("Messages waiting to be sent or acknowledged", str(report.queue_depth)),
        "rooms": ("Rooms known", str(report.rooms)),
        "users": ("Users with a cached vCard", str(report.cached_users)),
        "uptime": ("Uptime (seconds)", str(int(report.uptime))),
        "hosts": ("Served user domains", " ".join(report.hosts)),
    })


HOST_FORM = Form("form", "Add a user domain",
                 "The API will act for users of this domain at once and after restarts.",
                 (Field("host", "text-single", "Domain", required=True),))


def add_host_command(hosts: HostRegistry) -> Command:
    async def submit(requester: Requester, form: Submission) -> Result:
        result = await hosts.add(form.text("host"))
        text = (f"{result.domain} is now served" if result.added
                else f"{result.domain} was served already")
        return Result(Note(text))

    return Command("add-host", "Add a user domain", ask_first(HOST_FORM, submit))


def get_web_key_command(keys: KeyService) -> Command:
    """A key for the requester's own bare JID, which the server vouches for."""
    async def start(requester: Requester) -> Result:
        key = await keys.mint(requester.jid.bare)
        expires = datetime.fromtimestamp(key.expires_at, UTC).isoformat(timespec="seconds")
        form = _result("Your web key", {"user": ("User", str(key.user)),
                                        "key": ("Key", key.key),
                                        "expires": ("Expires (UTC)", expires)})
        return Result(Note(f"Give this key to web services with your user name; it is valid "
                           f"until {expires}."), form)

    return Command("get-web-key", "Get a web key", start, admin_only=False)
