"""The server's front door, as plain ASGI middleware: Host check, token, body-size limit, safe headers.

- Host: a browser page on another site can point its own name at 127.0.0.1 (DNS rebinding) and then
  read our answers as same-origin; such requests carry that site's name in Host, so any Host but the
  address served is refused (400). A wildcard bind (0.0.0.0, ::) cannot know its names: there the token
  is the wall, and every Host is let through.
- Token: with a token set, every request must carry it (Authorization: Bearer, X-Shotdex-Token, the
  cookie the page gets, or ?token= once, which sets that cookie); else 401.
- Body: at most max_body bytes, by Content-Length and by counting what arrives (chunked); else 413.
- Origin: a write-like request (POST) from another origin is refused (403): no cross-site form posts.
- Every response: a Content-Security-Policy that lets the page load only from the server itself.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from urllib.parse import parse_qs

__all__ = ["Guard", "allowed_hosts", "is_loopback", "CSP", "TOKEN_COOKIE"]

TOKEN_COOKIE = "shotdex_token"
CSP = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
]


def is_loopback(host: str) -> bool:
    """Whether host names only this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _wildcard(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return False


def allowed_hosts(host: str, port: int) -> set[str] | None:
    """The Host header values this server answers; None (any) for a wildcard bind."""
    if _wildcard(host):
        return None
    names = {"127.0.0.1", "localhost", "[::1]", f"[{host}]" if ":" in host else host}
    out = {f"{n}:{port}".lower() for n in names}
    if port == 80:
        out |= {n.lower() for n in names}
    return out


class _TooLarge(Exception):
    pass


class Guard:
    """ASGI middleware in front of the app (see the module docstring)."""

    def __init__(self, app, *, hosts: set[str] | None, token: str | None, max_body: int):
        self.app = app
        self.hosts = hosts
        self.token = token
        self.max_body = max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "").lower()
        if self.hosts is not None and host not in self.hosts:
            return await _reply(send, 400, f"Host {host!r} is not the address this server serves")
        set_cookie = None
        if self.token is not None:
            given, where = _token_from(headers, scope)
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                return await _reply(send, 401, "this server needs its token (Authorization: Bearer TOKEN, or ?token=TOKEN)")
            if where == "query":  # a browser opened /?token=...: the cookie carries it from now on
                set_cookie = f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; Path=/".encode()
        if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            origin = headers.get("origin")
            if origin is not None and origin.split("://", 1)[-1].lower() != host:
                return await _reply(send, 403, f"requests from {origin} are refused")
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError:
            return await _reply(send, 400, "bad Content-Length")
        if length > self.max_body:
            return await _reply(send, 413, f"request body over the {self.max_body:,} byte limit")
        state = {"seen": 0, "too_large": False, "started": False}

        async def counted():
            message = await receive()
            if message["type"] == "http.request":
                state["seen"] += len(message.get("body", b""))
                if state["seen"] > self.max_body:
                    state["too_large"] = True
                    raise _TooLarge()
            return message

        async def guarded_send(message):
            if state["too_large"]:
                # The app's error handler answers 500 for the exception raised above; say what it was.
                if message["type"] == "http.response.start" and not state["started"]:
                    state["started"] = True
                    await _reply(send, 413, f"request body over the {self.max_body:,} byte limit")
                return
            if message["type"] == "http.response.start":
                state["started"] = True
                message = dict(message)
                extra = list(_HEADERS) + ([(b"set-cookie", set_cookie)] if set_cookie else [])
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        try:
            await self.app(scope, counted, guarded_send)
        except _TooLarge:
            if not state["started"]:
                await _reply(send, 413, f"request body over the {self.max_body:,} byte limit")


def _token_from(headers: dict, scope) -> tuple[str | None, str]:
    """The token a request carries, and where it was."""
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), "header"
    if "x-shotdex-token" in headers:
        return headers["x-shotdex-token"], "header"
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == TOKEN_COOKIE:
            return value, "cookie"
    values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return (values[0], "query") if values else (None, "")


async def _reply(send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())] + _HEADERS})
    await send({"type": "http.response.body", "body": body})
