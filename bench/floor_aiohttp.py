"""Floor reference (a): the naive aiohttp sidecar, one `web.Application` route.

    python -m bench.floor_aiohttp --port P --component-port C --domain D --secret S

What a sidecar written in an afternoon looks like: aiohttp's web stack with its defaults,
`POST /api/send_message` with ejabberd's JSON, one stanza per request written to the link
(`bench.floor` has what the floors share). Measurement only.
"""

from __future__ import annotations

from aiohttp import web

from bench.floor import ANSWER, BadRequest, Closer, FloorLink, run
from devenv.proc import LOOPBACK


def application(link: FloorLink) -> web.Application:
    writer = link.writer

    async def send_message(request: web.Request) -> web.Response:
        try:
            stanza = link.message(await request.read()).data
        except BadRequest as exc:
            return web.Response(status=400, text=str(exc))
        writer.write(stanza)
        await writer.drain()
        return web.Response(body=ANSWER, content_type="application/json")

    app = web.Application()
    app.router.add_post("/api/send_message", send_message)
    return app


async def serve(link: FloorLink, port: int) -> Closer:
    runner = web.AppRunner(application(link))
    await runner.setup()
    await web.TCPSite(runner, LOOPBACK, port).start()
    return runner.cleanup


if __name__ == "__main__":
    run(serve, __doc__.splitlines()[0] if __doc__ else "")
