"""Error responses as `{"detail": [{"field": ..., "error": ...}]}`, never quoting submitted values.

Leads carry PII, so neither an error body nor a log line may contain what a client sent: request
validation errors are rebuilt from pydantic's location and message only, and unexpected failures are
logged as exception type plus stack frames, without the exception's message.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from leadscore.records.events import EventConflict
from leadscore.serving.schemas import TEXT_ERRORS, ErrorBody, FieldError

logger = logging.getLogger("bentoml.leadscore")

MAX_REPORTED = 50
"""Errors listed per response; a batch of 1000 bad leads should not produce a megabyte of errors."""


class ApiError(Exception):
    """An error response: HTTP status plus the fields at fault."""

    def __init__(self, status: int, errors: Iterable[FieldError], headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.errors = list(errors)
        self.headers = dict(headers or {})
        super().__init__(f"HTTP {status}: {len(self.errors)} error(s)")

    @classmethod
    def single(cls, status: int, field: str, error: str, headers: Mapping[str, str] | None = None) -> ApiError:
        """An error about one field (or a pseudo-field such as `Authorization`)."""
        return cls(status, [FieldError(field=field, error=error)], headers)

    def body(self) -> dict[str, Any]:
        """JSON body, truncated to `MAX_REPORTED` entries plus a count of the rest."""
        shown = self.errors[:MAX_REPORTED]
        if len(self.errors) > MAX_REPORTED:
            rest = len(self.errors) - MAX_REPORTED
            shown = [*shown, FieldError(field="", error=f"{rest} more error(s) not shown")]
        return ErrorBody(detail=shown).model_dump()


CONFLICT_NAMES = {"lead_digest": "lead"}
"""How a stored column is named to the client (the request's field it is made from)."""


def conflict(err: EventConflict) -> ApiError:
    """409 naming each field in which a resubmitted event differs from the one stored with its `event_id`."""
    fields = [CONFLICT_NAMES.get(name, name) for name in err.fields]
    stored = "differs from the event stored with this event_id"
    return ApiError(
        409,
        [
            FieldError(field="event_id", error=f"already stored with a different {', '.join(fields)}"),
            *(FieldError(field=name, error=stored) for name in fields),
        ],
    )


MAX_NAME = 64
"""Characters of a client-chosen field name echoed in an error or warning."""


class Deadline:
    """When a request's answer is no longer awaited (LEADSCORE_TIMEOUT: BentoML has answered 504 by then).

    BentoML cannot stop the thread of a synchronous route, so long work checks `left` between steps and
    stops itself instead of running on for nobody."""

    def __init__(self, seconds: float) -> None:
        self.until = time.monotonic() + seconds

    def left(self, action: str) -> None:
        """Raise 504 once the time is up."""
        if time.monotonic() > self.until:
            raise ApiError.single(504, "", f"gave up {action}: the request timed out (LEADSCORE_TIMEOUT)")


def safe_name(name: str) -> str:
    """A field name as it may be echoed: unencodable characters escaped, cut to `MAX_NAME` characters."""
    name = name.encode("utf-8", "backslashreplace").decode("utf-8")
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"


def field_path(loc: Sequence[int | str]) -> str:
    """`("body", "leads", 0, "company_size")` -> `leads[0].company_size`."""
    parts = loc[1:] if loc and loc[0] in ("body", "query", "header", "path") else loc
    path = ""
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{safe_name(part)}" if path else safe_name(str(part))
    return path or "body"


def validation_errors(errors: Sequence[Mapping[str, Any]]) -> list[FieldError]:
    """Pydantic errors as field errors, reading only `loc`, `type` and `msg` (never `input`).

    A lead value is a union (text, number, boolean, null), so pydantic reports one error per union
    member, at `body.leads.<i>.<field>.<member>`; those collapse into one error for the field.
    """
    out: dict[str, str] = {}
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "json_invalid":
            out["body"] = "is not valid JSON"
        elif loc[:2] == ("body", "leads") and len(loc) == 5:
            path = field_path(loc[:4])
            if err["type"] == "finite_number":
                out[path] = "must be a finite number (NaN and Infinity are not allowed)"
            elif err["type"] in TEXT_ERRORS:
                out[path] = TEXT_ERRORS[err["type"]]
            else:
                out.setdefault(path, "must be text, a number, true/false or null")
        else:
            out[field_path(loc)] = "unknown field" if err["type"] == "extra_forbidden" else str(err["msg"])
    return [FieldError(field=field, error=error) for field, error in out.items()]


@contextmanager
def shielded(action: str) -> Iterator[None]:
    """Turn an unexpected exception into a 500, logging its type and stack but not its message, which
    may quote input (pandas and SQLAlchemy messages do); `ApiError`s pass through unchanged."""
    try:
        yield
    except ApiError:
        raise
    except Exception as err:
        frames = "".join(traceback.format_list(traceback.extract_tb(err.__traceback__)))
        logger.error("%s failed: %s (message withheld: may hold lead data)\n%s", action, type(err).__name__, frames)
        raise ApiError.single(500, "", f"internal error while {action}; see the server log") from None


def install_error_handlers(app: FastAPI) -> None:
    """Route `ApiError`, HTTP exceptions and request validation failures through the value-free error format."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        """FastAPI's own refusals (unparseable body, unknown path, wrong method) in the same format."""
        field = "body" if exc.status_code == 400 else ""
        return JSONResponse(
            ApiError.single(exc.status_code, field, str(exc.detail)).body(),
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(ApiError(422, validation_errors(exc.errors())).body(), status_code=422)
