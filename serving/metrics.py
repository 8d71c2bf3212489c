"""Request metrics labelled by route template, not by the path a client sent.

BentoML's traffic-metrics middleware labels every series with the raw request path, so each distinct
404 path (a scanner, a typo, `/ui/leads/<an e-mail address>`) becomes new series on `/metrics`: unbounded
memory, a slow `/metrics`, and client data in the metrics. BentoML has no option for this, so its
middleware class is replaced (before the service's ASGI app is built) by a subclass that hands it the
matched route's template (`/ui/leads/{row_id}`) or `UNMATCHED`, and gives the real path back to
everything after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bentoml._internal.server.http import instruments
from starlette.routing import BaseRoute, Match, Mount
from starlette.types import ASGIApp, Receive, Scope, Send

UNMATCHED = "<unmatched>"
_REAL_PATH = "leadscore.real_path"


def route_label(routes: Sequence[BaseRoute], scope: Scope, prefix: str = "") -> str:
    """The template of the route `scope` would reach (through mounts), else `UNMATCHED`."""
    for route in routes:
        match, child = route.matches(scope)
        if match == Match.NONE:
            continue
        if isinstance(route, Mount):
            inner: Sequence[BaseRoute] | None = getattr(route.app, "routes", None)
            if inner is None:  # static files: one label for the mount
                return prefix + route.path
            label = route_label(inner, {**scope, **child}, prefix + route.path)
            if label != UNMATCHED:
                return label
            continue
        return prefix + str(getattr(route, "path", UNMATCHED))
    return UNMATCHED


class RouteLabelledMetrics(instruments.RunnerTrafficMetricsMiddleware):
    """BentoML's metrics middleware, seeing the route template as the path."""

    def __init__(self, app: ASGIApp, **options: Any) -> None:
        super().__init__(self._real_path, **options)
        self._inner = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or "app" not in scope:
            await super().__call__(scope, receive, send)
            return
        label = route_label(scope["app"].routes, scope)
        await super().__call__({**scope, "path": label, _REAL_PATH: scope["path"]}, receive, send)

    async def _real_path(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _REAL_PATH in scope:
            scope = {key: value for key, value in scope.items() if key != _REAL_PATH} | {"path": scope[_REAL_PATH]}
        await self._inner(scope, receive, send)


def install() -> None:
    """Make BentoML build its apps with `RouteLabelledMetrics` (it imports the class when building one)."""
    instruments.RunnerTrafficMetricsMiddleware = RouteLabelledMetrics  # type: ignore[misc]
