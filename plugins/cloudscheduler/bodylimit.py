"""Size caps on request bodies, enforced before and while a body is read.

Every POST of ours is a small form except the image upload. A body announced larger than its cap
(``Content-Length``) is answered 413 without reading a byte of it; a body sent without a length (chunked)
is counted as it streams and refused the moment it passes the cap. Routes read their body only after
the login, role and CSRF checks (``auth.checked_form``), so this bounds what an authorised user can
send; a stranger's body is never read at all.

``CLOUDSCHEDULER_FORM_MAX_KB`` (default 1024) caps forms; ``CLOUDSCHEDULER_UPLOAD_MAX_GB`` (default 20)
caps image uploads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.exceptions import HTTPException

FORM_MAX_ENV = "CLOUDSCHEDULER_FORM_MAX_KB"
UPLOAD_MAX_ENV = "CLOUDSCHEDULER_UPLOAD_MAX_GB"
UPLOAD_SUFFIX = "/images/upload"
WITHOUT_BODY = frozenset({"GET", "HEAD", "OPTIONS"})

Scope = dict[str, Any]
Message = dict[str, Any]


def caps(env: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(form cap, upload cap) in bytes; a bad value is refused at start, naming the variable."""
    env = os.environ if env is None else env
    values = []
    for name, default, unit in ((FORM_MAX_ENV, 1024, 1024), (UPLOAD_MAX_ENV, 20, 1000**3)):
        raw = env.get(name) or str(default)
        try:
            number = float(raw)
        except ValueError:
            number = -1
        if not number > 0:
            raise ValueError(f"{name} must be a positive number, got {raw!r}")
        values.append(int(number * unit))
    return values[0], values[1]


def too_large(cap: int) -> HTTPException:
    return HTTPException(413, f"the request body is larger than this page accepts ({cap:,} bytes)")


class BodyLimit:
    """ASGI middleware: the cap of a request is the upload cap on the upload route, else the form cap."""

    def __init__(self, app: Callable[..., Awaitable[None]], form_max: int, upload_max: int):
        self.app, self.form_max, self.upload_max = app, form_max, upload_max

    async def __call__(self, scope: Scope, receive: Callable[[], Awaitable[Message]], send) -> None:
        if scope["type"] != "http" or scope["method"] in WITHOUT_BODY:
            await self.app(scope, receive, send)
            return
        cap = self.upload_max if scope["path"].rstrip("/").endswith(UPLOAD_SUFFIX) else self.form_max
        length = dict(scope.get("headers") or ()).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > cap):
            await _refuse(send, too_large(cap))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    raise too_large(cap)  # inside the route: FastAPI answers it as a 413
            return message

        await self.app(scope, counted, send)


async def _refuse(send, exc: HTTPException) -> None:
    body = json.dumps({"detail": exc.detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": exc.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})
