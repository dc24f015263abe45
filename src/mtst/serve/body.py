"""The request body's size cap, as an ASGI middleware in front of MLServer's REST app.

Why a middleware: MLServer (FastAPI under uvicorn) reads a request's whole body into memory before anything of
the model sees it, and neither MLServer 1.7.1 nor uvicorn has a setting that caps it. So the cap sits in front of
the app: a body that declares more than ``max_bytes`` (``Content-Length``) is refused with 413 before a byte of
it is read; a chunked body (no declared length) is read up to the cap and refused the moment it passes it. The
connection is closed after a refusal, so the rest of the body is never read. ``mtst.serve.repository`` puts it
in front of MLServer's app.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mtst.serve.limits import SETTINGS, TOO_LARGE

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Refuse, with 413 and ``{"error": "request body: ..."}`` (MLServer's error shape), a body over ``max_bytes``."""

    def __init__(self, app: App, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or ())
        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.isdigit():  # uvicorn's HTTP parser refuses one already; never trust it here
                return await self._refuse(send, f"Content-Length {declared.decode('latin-1')!r} is not a number", 400)
            if int(declared) > self.max_bytes:
                return await self._refuse(send, f"{int(declared)} bytes")
            return await self.app(scope, receive, send)
        if b"chunked" not in headers.get(b"transfer-encoding", b"").lower():
            return await self.app(scope, receive, send)  # no body
        messages, size = [], 0
        while True:  # a chunked body: read up to the cap (the app would hold it all anyway), then replay it
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await self._refuse(send, f"more than {self.max_bytes} bytes")
            if not message.get("more_body", False):
                break
        return await self.app(scope, _replay(messages, receive), send)

    async def _refuse(self, send: Send, what: str, status: int = TOO_LARGE) -> None:
        rule = f"{what}, above the limit of {self.max_bytes} bytes ({SETTINGS['max_body_bytes']})" \
            if status == TOO_LARGE else what
        body = json.dumps({"error": f"request body: {rule}"}, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """``receive`` that gives back ``messages`` first, then the connection's own (a disconnect, say)."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed
