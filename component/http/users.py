"""get_user_nick, auth_uk and the avatar download (original-behaviour.md §2.14, §2.15).

`get_user_nick` answers `{"Nick", "Vcard"}` as the original did: `Vcard` is the photo's URL
(the vCard's EXTVAL, or the daemon's own download path for an inline photo), or null.
`auth_uk` takes `u` and `k` from the query string and any method, as the original did; a
valid key is 200, a wrong or expired one 401 (errcode AUTH_FAILED).
"""

from __future__ import annotations

from urllib.parse import quote

from component.errors import AuthFailed, BadField
from component.http import auth
from component.http import body as fields
from component.http.envelope import Answer, success
from component.http.route import GET, POST, Request, Route
from component.http.shapes import GetUserNick
from component.jid import Jid, is_valid_domain
from component.services.keys import KeyService
from component.services.ports import HostPolicy
from component.services.users import UserProfile, UserService
from component.xmpp.addresses import bare_address

ANY_METHOD = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
AVATAR_PATH = "/qtalk/avatar/"


def avatar_url(user: Jid) -> str:
    return AVATAR_PATH + quote(str(user.bare), safe="@")


class UserRoutes:
    def __init__(self, users: UserService, keys: KeyService, hosts: HostPolicy) -> None:
        self.users = users
        self.keys = keys
        self.hosts = hosts

    def routes(self) -> list[Route]:
        return [Route("get_user_nick", POST, self.get_user_nick, mutating=False),
                Route("auth_uk", ANY_METHOD, self.auth_uk, mutating=False),
                Route("avatar/{jid}", GET, self.avatar, mutating=False)]

    async def get_user_nick(self, request: Request) -> Answer:
        body = fields.decode(request.body, GetUserNick)
        domain = body.domain or self.hosts.default_host
        if not is_valid_domain(domain.lower()):
            raise BadField("Domain", f"{domain!r} is not a domain name")
        user = bare_address(body.id, domain, "ID")  # a name on Domain, or a full JID
        auth.require_host(request, user.domain)
        return success(_nick_data(await self.users.profile(user)))

    async def auth_uk(self, request: Request) -> Answer:
        u, k = request.query.get("u"), request.query.get("k")
        if not u:
            raise BadField("u", "missing: the user, as user or user@domain")
        if not k:
            raise BadField("k", "missing: the user key")
        owner = self.keys.owner(u)
        if owner is not None:
            auth.require_host(request, owner.domain)
        if not await self.keys.check(u, k):
            raise AuthFailed("auth fail: no such key for this user, or it has expired")
        return success()

    async def avatar(self, request: Request) -> Answer:
        user = bare_address(request.param, self.hosts.default_host, "jid")
        auth.require_host(request, user.domain)
        photo = await self.users.photo(user)
        # A vCard photo is user content: never let a browser run it (an SVG can hold script).
        return Answer(200, 0, photo.data, {
            "X-Content-Type-Options": "nosniff", "Cache-Control": "max-age=300",
            "Content-Security-Policy": "default-src 'none'; sandbox"}, photo.type)


def _nick_data(profile: UserProfile) -> dict[str, str | None]:
    photo = profile.photo_url or (avatar_url(profile.jid) if profile.photo_inline else None)
    return {"Nick": profile.nick, "Vcard": photo}
