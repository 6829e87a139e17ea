"""The app's server settings: which Host and Origin it answers, and how long a dead tab's session lives.

``credsim viz`` calls :func:`configure` before Solara's server starts. Solara's WebSocket takes any
Origin and any Host, so a page on another site could open a session on a server listening on this
machine (a cross-site WebSocket), and a name that resolves to 127.0.0.1 could read the page (DNS
rebinding). :class:`OriginGuard`, an ASGI middleware in front of Solara's app, refuses both:

* every request must name an allowed host in its ``Host`` header (else 403);
* a WebSocket handshake, and any request that is not a GET or HEAD, that carries an ``Origin`` must
  come from the app's own origin (``http(s)://`` + the allowed host it was sent to) or one of the
  configured origins (else 403, and the WebSocket is never accepted).

The allowed hosts are this machine's loopback names (``127.0.0.1``, ``localhost``, ``[::1]``), the
address the server listens on (unless a wildcard), for ``--host 0.0.0.0`` or ``::`` also the
machine's own name, and the host of every ``--allow-origin``.

:func:`configure` also warms the app up (:func:`sim.app.warm_up`): the modules the first session
would import and the default controls' borrower picture, before the server answers.

The server also serves the repository's model description, docs/ODD.md, read-only at
:data:`sim.app.ODD_ROUTE` (:func:`odd_route`; the Info tab links it), as plain text: one fixed file, no path
taken from the request, so nothing else on the machine can be reached through it.

A browser tab that dies without saying goodbye leaves its session (model and all) behind; Solara
culls a session once no page has been connected to it for ``session_timeout`` seconds
(Solara's ``kernel.cull_timeout``, 24 hours by default; here :data:`SESSION_TIMEOUT`).
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import socket
import time
import warnings
from collections.abc import Iterable
from urllib.parse import urlsplit

#: seconds a session outlives its last connected page (``credsim viz --session-timeout``)
SESSION_TIMEOUT = 120
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("0.0.0.0", "::", "")


def _host_name(host: str) -> str:
    """``host`` as it appears in a Host header, without the port (IPv6 in brackets), lower case."""
    host = host.strip().lower()
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return host


def _split_host(header: str) -> tuple[str, str | None]:
    """(name, port) of a Host header value."""
    header = header.strip().lower()
    if header.startswith("["):
        name, _, rest = header.partition("]")
        return name + "]", rest[1:] if rest.startswith(":") else None
    name, sep, port = header.rpartition(":")
    return (name, port) if sep else (header, None)


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower case (how a browser writes an Origin header)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"an origin such as http://myhost:8765, got {url!r}")
    host = _host_name(parts.hostname)
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def allowed_hosts(bind: str, origins: Iterable[str] = ()) -> set[str]:
    """Host names (no port) the server answers to."""
    hosts = set(LOOPBACK)
    if bind.strip() in WILDCARDS:
        for name in {socket.gethostname(), socket.getfqdn()}:
            if name:
                hosts.add(_host_name(name))
    else:
        hosts.add(_host_name(bind))
    for o in origins:
        hosts.add(_split_host(urlsplit(o).netloc)[0])
    return hosts


class OriginGuard:
    """ASGI middleware: answer only allowed hosts; accept a WebSocket (or a state-changing request)
    only from the app's own origin or a configured one."""

    def __init__(self, app, hosts: Iterable[str], origins: Iterable[str] = ()):
        self.app = app
        self.hosts = {h.lower() for h in hosts}
        self.origins = {origin_of(o) for o in origins}

    def allows(self, host: str | None, origin: str | None, *, check_origin: bool) -> bool:
        if not host:
            return False
        name, _ = _split_host(host)
        if name not in self.hosts:
            return False
        if not check_origin or origin is None:  # a client that is not a browser page sends no Origin
            return True
        origin = origin.strip().lower()
        own = {f"http://{host.strip().lower()}", f"https://{host.strip().lower()}"}
        return origin in own or origin in self.origins

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        check_origin = scope["type"] == "websocket" or scope.get("method", "GET") not in ("GET", "HEAD")
        if self.allows(headers.get("host"), headers.get("origin"), check_origin=check_origin):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":  # refuse the handshake: an HTTP 403 instead of 101
            await receive()  # websocket.connect; closing before accepting answers the handshake with 403
            await send({"type": "websocket.close", "code": 1008})
            return None
        body = b"credsim viz: this host or origin is not allowed (see credsim viz --allow-origin)\n"
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return None


@functools.cache
def own_descriptor_writer() -> type:
    """Solara's frame writer made safe (:class:`OwnDescriptorFrameWriter` below); built on first use, as
    importing Solara is not free."""
    from solara.server.sync_ws_write import SyncFrameWriter

    class OwnDescriptorFrameWriter(SyncFrameWriter):
        """Solara's synchronous frame writer, on a descriptor of its own that it closes with the connection.

        Solara's writer keeps the socket's descriptor *number* and writes to it from the session's thread.
        Once the connection closes (the tab went away), the event loop closes the socket and the number is
        free; the next connection the server accepts, a page or an asset request from anyone, gets the
        same number, and a frame the old session was still sending (a play loop keeps drawing until the
        session notices) went out on it: one session's data in another client's response. Seen as a
        WebSocket frame where an HTTP status line was due.

        This writer writes to a duplicate of the descriptor (``os.dup``), which no other connection can
        be given while it is open, and closes it when the connection is lost (``connection_lost``, which
        asyncio calls before it closes the socket) or, if a frame is being written then, as soon as that
        write stops. A frame sent after that raises ``BrokenPipeError``, which Solara takes as the
        disconnect it is."""

        def __init__(self, protocol, sock_fd: int) -> None:
            super().__init__(protocol, os.dup(sock_fd))
            self.closed = False
            lost = protocol.connection_lost

            def connection_lost(exc, _lost=lost):
                self.close()
                _lost(exc)

            protocol.connection_lost = connection_lost

        def close(self) -> None:
            """No frame goes out from now on; the descriptor is closed now, or by the write that holds it
            when that write ends."""
            self.closed = True
            if self.lock.acquire(blocking=False):  # never wait on the event loop's thread
                try:
                    self._release()
                finally:
                    self.lock.release()

        def _release(self) -> None:  # with the lock held
            if self.fd >= 0:
                os.close(self.fd)
                self.fd = -1

        def _write_frame_sync(self, fin: bool, opcode: int, data: bytes) -> None:
            frame = self._Frame(fin, opcode, data)
            try:
                with self.lock:
                    frame.write(self._os_write, mask=self.protocol.is_client, extensions=self.protocol.extensions)
            finally:
                if self.closed:  # the connection went while this frame was being written: let go of it now
                    self.close()

        def _os_write(self, data: bytes) -> None:
            view = memoryview(data)
            while view:
                if self.closed:
                    raise BrokenPipeError(errno.EPIPE, "the WebSocket connection is closed")
                try:
                    view = view[os.write(self.fd, view):]
                except BlockingIOError:
                    time.sleep(0.0005)  # the socket's buffer is full: wait in this thread, as Solara does
                except InterruptedError:
                    continue

    return OwnDescriptorFrameWriter


def write_frames_in_the_render_thread() -> None:
    """Let a session's thread write its WebSocket frames itself (Solara's ``server.sync_ws_write``).

    By default every message a redraw sends (a step of the app sends about ten) is handed to the
    event loop's thread and waited for; under load each hand-off waits for that thread to be
    scheduled. Solara can write the frames from the sending thread instead, on uvicorn's
    ``websockets`` protocol (not the ``websockets-sansio`` one uvicorn picks by default, which it
    cannot; it then keeps the default path and logs it once): so the server is told to use that one."""
    from solara.server import settings, sync_ws_write
    from uvicorn import config as uvicorn_config

    settings.server.sync_ws_write = True
    sync_ws_write.SyncFrameWriter = own_descriptor_writer()  # looked up per connection by Solara
    # uvicorn deprecates its websockets (legacy) protocol in favour of the sans-I/O one; said once
    # per server on stderr, about a choice made here, not by whoever runs credsim viz
    warnings.filterwarnings("ignore", message="The `websockets` implementation is deprecated")
    uvicorn_config.WS_PROTOCOLS["auto"] = uvicorn_config.WS_PROTOCOLS["websockets"]


def odd_route():
    """The Starlette route that answers GET/HEAD :data:`sim.app.ODD_ROUTE` with docs/ODD.md as UTF-8 text
    (404 if the file is not there, as in an installed package without the repository)."""
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from .app import ODD_PATH, ODD_ROUTE

    async def odd(request):
        try:
            text = ODD_PATH.read_text(encoding="utf-8")
        except OSError:
            return PlainTextResponse("credsim viz: docs/ODD.md is not on this machine\n", status_code=404)
        return PlainTextResponse(text, headers={"Cache-Control": "no-cache"})

    return Route(ODD_ROUTE, endpoint=odd, methods=["GET", "HEAD"])


def configure(bind: str, origins: Iterable[str] = (), session_timeout: float = SESSION_TIMEOUT) -> None:
    """Put :class:`OriginGuard` in front of Solara's app and set the session timeout. Call it after
    ``SOLARA_APP`` is set and before the server starts (the middleware stack is built on the first
    request)."""
    from solara.server import settings
    from solara.server import starlette as solara_starlette

    origins = list(origins)
    # the page draws Material Design icons only (mdi-*): Font Awesome's stylesheet, which Solara's
    # page template links by default, is one request and 27 kB of CSS per page load for nothing
    settings.assets.fontawesome_enabled = False
    settings.kernel.cull_timeout = f"{float(session_timeout):g}s"
    write_frames_in_the_render_thread()
    from . import app

    if not any(getattr(r, "path", None) == app.ODD_ROUTE for r in solara_starlette.app.router.routes):
        solara_starlette.app.router.routes.insert(0, odd_route())  # before Solara's catch-all page route
    solara_starlette.app.add_middleware(OriginGuard, hosts=allowed_hosts(bind, origins), origins=origins)

    try:  # the first session's imports and borrower picture, before the server answers
        app.warm_up()
    except Exception:  # a failure here shows again, to the session, where it can be reported
        logging.getLogger("credsim.app").exception("warming up the app failed")
