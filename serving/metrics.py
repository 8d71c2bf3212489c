"""Request metrics labelled by route template, not by the path a client sent.

BentoML's traffic-metrics middleware labels every series with the raw request path, so each distinct
404 path (a scanner, a typo, `/ui/leads/<an e-mail address>`) becomes new series on `/metrics`: unbounded
memory, a slow `/metrics`, and client data in the metrics. BentoML has no option for this, so its
middleware class is replaced (before the service's ASGI app is built) by a subclass that hands it the
matched route's template (`/ui/leads/{row_id}`) or `UNMATCHED`, and gives the real path back to
everything after it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from bentoml._internal.server.http import instruments
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

UNMATCHED = "<unmatched>"
_REAL_PATH = "leadscore.real_path"


Template = tuple[str, re.Pattern[str], str]
"""(path prefix, pattern for the rest of the path, label)."""


def route_templates(routes: Sequence[BaseRoute], prefix: str = "") -> list[Template]:
    """Every route's path pattern and template, through mounts and FastAPI's included routers."""
    found: list[Template] = []
    for route in routes:
        included = getattr(route, "original_router", None)  # FastAPI's included router keeps full paths
        if included is not None:
            found += route_templates(included.routes, prefix)
        elif isinstance(route, Mount) and getattr(route.app, "routes", None) is not None:
            found += route_templates(route.app.routes, prefix + route.path)
        elif isinstance(pattern := getattr(route, "path_regex", None), re.Pattern):
            found.append((prefix, pattern, prefix + str(getattr(route, "path", ""))))  # a mount: its prefix
    return found


def route_label(templates: Sequence[Template], path: str) -> str:
    """The template of the first route whose pattern matches `path`, else `UNMATCHED`."""
    for prefix, pattern, label in templates:
        if path.startswith(prefix) and pattern.match(path[len(prefix) :] or "/"):
            return label
    return UNMATCHED


class RouteLabelledMetrics(instruments.RunnerTrafficMetricsMiddleware):
    """BentoML's metrics middleware, seeing the route template as the path."""

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        super().__init__(self._real_path, **options)
        self._inner = app
        self._templates: list[Template] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "app" not in scope:
            await super().__call__(scope, receive, send)
            return
        if self._templates is None:  # routes are fixed once the app serves
            self._templates = route_templates(scope["app"].routes)
        label = route_label(self._templates, scope["path"])
        await super().__call__({**scope, "path": label, _REAL_PATH: scope["path"]}, receive, send)

    async def _real_path(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _REAL_PATH in scope:
            scope = {key: value for key, value in scope.items() if key != _REAL_PATH} | {"path": scope[_REAL_PATH]}
        await self._inner(scope, receive, send)


def install() -> None:
    """Make BentoML build its apps with `RouteLabelledMetrics` (it imports the class when building one)."""
    instruments.RunnerTrafficMetricsMiddleware = RouteLabelledMetrics  # type: ignore[misc]


@cache
def unstored_rows() -> Any:
    """`leadscore_scored_leads_not_stored_total` on `/metrics`: leads answered by `/score` whose rows could not
    be stored. Made on first use, in the worker: prometheus_client must see BentoML's multiprocess directory
    (set when the worker starts), and a metric registers once per process."""
    from prometheus_client import Counter

    return Counter(
        "leadscore_scored_leads_not_stored", "Scored leads answered but not stored (database full, locked or down)"
    )
