"""Checks every request to the service's routes passes before any route runs: the `Host` it names, where a
state-changing request comes from, and how big its body is.

A browser lets any web page send a "simple" cross-site POST (text/plain, no preflight) to a service on
localhost, and with DNS rebinding even read the answer; a body without a size limit lets one request
fill memory. A reverse proxy is not always in front, so the service refuses these itself:
- `Host` not naming this machine (without a token) or not in LEADSCORE_ALLOWED_HOSTS: 421;
- POST/PUT/PATCH/DELETE with `Sec-Fetch-Site: cross-site|same-site`, or an `Origin` other than the
  request's own: 403 (a CRM's server-side call sends neither header);
- a body over LEADSCORE_MAX_BODY_BYTES: 413, by `Content-Length` before reading, or while reading a
  chunked body.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

import bentoml
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadscore.serving.auth import check_host
from leadscore.serving.errors import ApiError

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyTooLarge(HTTPException):
    """Raised while a body is read; an `HTTPException` so FastAPI's body parsing lets it through as 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes (LEADSCORE_MAX_BODY_BYTES): send smaller batches")


def refuse_cross_site(headers: Mapping[str, str]) -> None:
    """Raise 403 for a state-changing request a browser sent from another site."""
    origin = headers.get("origin")
    if headers.get("sec-fetch-site") in ("cross-site", "same-site") or (
        origin is not None and urlsplit(origin).netloc != headers.get("host")
    ):
        raise ApiError.single(403, "Origin", "cross-site requests are refused")


def require_json(headers: Mapping[str, str]) -> None:
    """Raise 415 unless a body is JSON, or undeclared: a browser's cross-site "simple" POST always declares
    text/plain, a form or multipart."""
    media = headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media != "application/json" and not media.endswith("+json"):
        raise ApiError.single(415, "Content-Type", "send the body as application/json")


class RequestGuard:
    """Pure ASGI middleware (no buffering, so a streamed body is counted as it arrives)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        settings = bentoml.get_current_service().settings
        headers = Headers(scope=scope)
        try:
            check_host(headers.get("host"), settings.allowed_hosts, settings.api_token is not None)
            if scope["method"] not in SAFE_METHODS:
                refuse_cross_site(headers)
            length = headers.get("content-length", "")
            if length.isdigit() and int(length) > settings.max_body_bytes:
                raise ApiError.single(413, "body", str(BodyTooLarge(settings.max_body_bytes).detail))
        except ApiError as err:
            await JSONResponse(err.body(), status_code=err.status, headers=err.headers)(scope, receive, send)
            return
        await self.app(scope, _limited(receive, settings.max_body_bytes), send)


def _limited(receive: Receive, limit: int) -> Receive:
    """`receive` that raises `BodyTooLarge` once more than `limit` body bytes have arrived."""
    received = 0

    async def limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit)
        return message

    return limited


class PrefixGuard:
    """`RequestGuard` for the BentoML routes under `prefix` (`/v1/`): they sit beside the FastAPI app, outside
    its middleware, and take the same checks; BentoML's health and metrics routes stay unguarded, as before."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app = app
        self.guarded = RequestGuard(app)
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guarded = scope["type"] == "http" and scope["path"].startswith(self.prefix)
        await (self.guarded if guarded else self.app)(scope, receive, send)
