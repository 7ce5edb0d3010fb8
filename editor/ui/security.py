"""Who may use the web UI: one ASGI middleware in front of the whole app, and its token helpers.

The UI serves the frames of videos people open precisely because they are sensitive, on a
port any web page in the same browser can aim requests at. Every request therefore passes,
in order and before any handler runs:

1. the Host allow-list (:func:`host_allow_list`), against DNS rebinding;
2. the origin checks, against cross-site requests (CSRF, reading the API from another site);
3. the per-launch token (:func:`new_token`), against everyone who does not have the URL that
   ``trackedit ui`` printed: other users and programs on the machine or the network;
4. the content-type check, so that no cross-site "simple" request (a form post, or a
   ``fetch`` with ``text/plain``) can reach an endpoint that changes anything.

A refused request gets one line: ``{"error": …}`` under ``/api/``, a short page elsewhere.
"""
from __future__ import annotations

import ipaddress
import secrets
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

TOKEN_QUERY = "token"
TOKEN_HEADER = "x-trackedit-token"
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")
STATE_CHANGING = ("POST", "PUT", "PATCH", "DELETE")
UPLOAD_PATH = "/api/upload"
NO_TOKEN_PAGE = ("<!doctype html><title>trackedit</title><p>Open the URL that <code>trackedit ui</code> printed "
                 "(it ends in <code>?token=…</code>) to use this page.</p>")
ONWARD_PAGE = ('<!doctype html><title>trackedit</title><meta http-equiv="refresh" content="0; url=/">'
               '<p><a href="/">Open trackedit</a></p>')
WRONG_TOKEN_PAGE = ("<!doctype html><title>trackedit</title><p>This link's token is not this server's: open the "
                    "URL that <code>trackedit ui</code> printed last (a restarted server prints a new one).</p>")


def new_token() -> str:
    """A fresh secret for one launch (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_allow_list(bind: str, port: int) -> frozenset[tuple[str, int]]:
    """The ``(name, port)`` pairs a request's Host header may name: 127.0.0.1, localhost and
    [::1], plus the ``--host`` name, all with the server's port. A wildcard bind (0.0.0.0, ::)
    adds the machine's own host names, the addresses they resolve to and the addresses of its
    interfaces (:func:`local_addresses`).

    Defends against DNS rebinding: a page on ``evil.example.com`` that re-points its own name
    at 127.0.0.1 reaches this server as "same-origin", but its requests still say
    ``Host: evil.example.com``."""
    names = {*LOOPBACK_NAMES, bind}
    if bind in WILDCARD_BINDS:
        names |= _machine_names()
    return frozenset((_bare(n), port) for n in names if n not in WILDCARD_BINDS)


def ui_url(host: str, port: int, token: str | None) -> str:
    """The address to open: ``http://127.0.0.1:8765/?token=…`` (no query without a token)."""
    name = f"[{_bare(host)}]" if ":" in host.strip("[]") else host
    return f"http://{name}:{port}/" + (f"?{TOKEN_QUERY}={token}" if token else "")


def cookie_name(port: int) -> str:
    """Cookies are shared between ports of one host: one name per port keeps two servers apart."""
    return f"trackedit_token_{port}"


def _bare(name: str) -> str:
    return name.strip().strip("[]").lower()


def _machine_names() -> set[str]:
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            names |= {str(info[4][0]).split("%")[0] for info in socket.getaddrinfo(name, None)}
        except OSError:
            continue
    return {n for n in names | local_addresses() if n}


def local_addresses() -> set[str]:
    """The machine's own IP addresses: those of every interface (Linux: from ``/proc``) and,
    everywhere, the source address of the default routes (a host name often resolves only
    to 127.0.0.1 or 127.0.1.1, not to the address others reach the machine at)."""
    found: set[str] = set()
    for family, remote in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.connect((remote, 9))  # sends nothing: only picks the route's source address
                found.add(str(s.getsockname()[0]).split("%")[0])
        except OSError:
            continue
    try:
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        found |= {prev.split()[-1] for prev, line in zip(lines, lines[1:]) if line.strip() == "/32 host LOCAL"}
    except OSError:
        pass
    try:
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            found.add(str(ipaddress.IPv6Address(bytes.fromhex(line.split()[0]))))
    except (OSError, ValueError, IndexError):
        pass
    return {_bare(a) for a in found if a}


def _parse_host(value: str, scheme: str) -> tuple[str, int] | None:
    """``Host`` header → ``(name, port)``; ``None`` when malformed."""
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:]
    else:
        name, _, port = value.partition(":")
    if not name or (port and not (port.isascii() and port.isdigit())):
        return None
    return _bare(name), int(port) if port else (443 if scheme == "https" else 80)


def _same_origin(origin: str, scheme: str, host: tuple[str, int]) -> bool:
    try:
        parts = urlsplit(origin)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    return parts.scheme == scheme and (parts.hostname or "", port) == host


class UiGuard:
    """Pure ASGI middleware: Host allow-list, origin checks, token, content types (see the
    module docstring). ``token=None`` switches the token off (``trackedit ui --no-token``);
    every other check stays."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], *,
                 hosts: frozenset[tuple[str, int]], token: str | None) -> None:
        self.app = app
        self.hosts = hosts
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # the UI has no websockets
            await send({"type": "websocket.close", "code": 1008})
            return
        response = self._check(HTTPConnection(scope), scope["method"], scope["path"], scope["scheme"])
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _check(self, conn: HTTPConnection, method: str, path: str, scheme: str) -> Response | None:
        api = path.startswith("/api/")
        host = _parse_host(conn.headers.get("host", ""), scheme)
        if host is None or host not in self.hosts:
            # DNS rebinding: a foreign name pointed at this machine.
            return PlainTextResponse("trackedit: this address is not served: open the URL that `trackedit ui` "
                                     "printed", status_code=400)

        def refuse(status: int, message: str) -> Response:
            return JSONResponse({"error": message}, status_code=status) if api else \
                PlainTextResponse(f"trackedit: {message}", status_code=status)

        origin = conn.headers.get("origin")
        site = conn.headers.get("sec-fetch-site")
        header_token = conn.headers.get(TOKEN_HEADER)
        # Cross-site requests: a page on another site posting to the API, or reading the event
        # stream, frames and downloads. Browsers send Origin with every POST/PATCH/DELETE
        # (same-origin ones too), and Sec-Fetch-Site with every request to a loopback or HTTPS
        # address. "same-site" matters: a page on 127.0.0.1 at another port is the same *site*,
        # and SameSite cookies go along with its requests.
        if origin is not None and not _same_origin(origin, scheme, host):
            return refuse(403, f"request from another site ({' '.join(origin.split())}) refused")
        if api and site in ("cross-site", "same-site"):
            return refuse(403, "request from another site refused")
        # A state-changing request without Origin is no browser's (they always send it), so it
        # must be a script: those present the token header, which no page on another site can
        # set without a CORS preflight that this server never grants.
        if method in STATE_CHANGING and origin is None and not self._valid(header_token):
            return refuse(403, "a request that changes something must come from the UI's own page")

        if self.token is not None:
            if path == "/" and method in ("GET", "HEAD"):
                return self._landing(conn, host[1])
            if api:
                presented = header_token if header_token is not None else conn.cookies.get(cookie_name(host[1]))
                if presented is None:
                    return refuse(401, "no token: open the URL that `trackedit ui` printed")
                if not self._valid(presented):
                    return refuse(403, "wrong token: open the URL that `trackedit ui` printed last")

        if api and method in ("POST", "PUT", "PATCH"):
            # Only text/plain, form and multipart bodies cross sites without a preflight.
            kind = conn.headers.get("content-type", "").split(";")[0].strip().lower()
            if path == UPLOAD_PATH:
                if kind != "application/octet-stream" and not kind.startswith("video/"):
                    return refuse(415, "upload with Content-Type video/* or application/octet-stream")
            elif kind != "application/json":
                return refuse(415, "send JSON (Content-Type: application/json)")
        return None

    def _valid(self, presented: str | None) -> bool:
        return (self.token is not None and presented is not None
                and secrets.compare_digest(presented.encode(), self.token.encode()))

    def _landing(self, conn: HTTPConnection, port: int) -> Response | None:
        """``/?token=…`` sets the cookie and redirects to the clean URL (the token leaves the
        address bar and history); ``/`` without a valid cookie shows one line saying what to open."""
        if TOKEN_QUERY in conn.query_params:
            if not self._valid(conn.query_params[TOKEN_QUERY]):
                return HTMLResponse(WRONG_TOKEN_PAGE, status_code=403)
            # Opened from a link on another site, a redirect would arrive without the new
            # SameSite=Strict cookie (the whole chain counts as cross-site): go on from a page
            # of our own instead.
            cross = conn.headers.get("sec-fetch-site") in ("cross-site", "same-site")
            response = HTMLResponse(ONWARD_PAGE) if cross else RedirectResponse("/", status_code=303)
            response.set_cookie(cookie_name(port), self.token or "", httponly=True, samesite="strict", path="/")
            return response
        if not self._valid(conn.cookies.get(cookie_name(port))):
            return HTMLResponse(NO_TOKEN_PAGE, status_code=401)
        return None
