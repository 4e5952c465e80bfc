"""``POST /api/cli``: the remote ``cloudscheduler`` command (``include/cli/remote.py`` is the client).

The body is ``{"argv": [...], "files": {dest: text}}``; the answer is ``{"stdout", "stderr", "exit"}``,
what the command would have printed and its exit status, had it run beside the state database.

Who may do what is decided as on every page of ours (``auth.principal``): the command runs as the
logged-in user, sees only their groups, and changes only the groups they edit with an Airflow role that
may write. This route takes a Bearer token only: a cross-site page could make a browser post here with
the UI's cookie, so the cookie is refused rather than protected by a CSRF token a script does not have.
The body is read only after that check, and is capped like a form (``bodylimit``).
"""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from cloudscheduler.auth import Who, is_bearer
from include.cli.served import NotRemote, serve

router = APIRouter()
NO_STORE = {"Cache-Control": "no-store"}


def _decode(raw: bytes) -> tuple[list[str], dict[str, str]]:
    try:
        body = json.loads(raw)
    except ValueError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the body must be JSON") from None
    argv = body.get("argv") if isinstance(body, dict) else None
    if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "argv must be a non-empty list of strings")
    files = body.get("files") or {}
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "files must map argument names to text")
    return argv, files


@router.post("/api/cli")
async def run_cli(request: Request, who: Who) -> JSONResponse:
    if not is_bearer(request):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this API takes a Bearer token (cloudscheduler login), not the browser's session cookie",
        )
    argv, files = _decode(await request.body())
    try:
        # The handlers are synchronous (SQLAlchemy sessions): off the event loop.
        result = await run_in_threadpool(serve, argv, files, who)  # a Principal is the Caller
    except NotRemote as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return JSONResponse(result, headers=NO_STORE)
